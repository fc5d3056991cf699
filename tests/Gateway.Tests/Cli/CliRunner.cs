using Gateway.Cli;

namespace Gateway.Tests.Cli;

/// <summary>Runs the gateway's command line in-process, as the binary would, with captured streams.</summary>
internal static class CliRunner
{
    public sealed record Result(int Exit, string Output, string Error)
    {
        public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    public static Task<Result> RunAsync(params string[] args) => RunAsync(TextReader.Null, args);

    public static async Task<Result> RunAsync(TextReader input, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliVerbs.RunAsync(args, input, output, error);
        return new Result(exit, output.ToString(), error.ToString());
    }
}
