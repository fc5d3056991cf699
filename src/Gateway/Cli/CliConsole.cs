namespace Gateway.Cli;

/// <summary>
/// The streams a verb reads and writes: the process's own, or captured ones when a test or a
/// helper runs a verb in-process.
/// </summary>
/// <param name="InputIsTerminal">
/// True when standard input is an interactive terminal: verbs that take an optional secret on
/// standard input (<c>init</c>) must not wait for a line nobody is going to type.
/// </param>
internal sealed record CliConsole(TextReader Input, TextWriter Output, TextWriter Error, bool InputIsTerminal = false)
{
    public static CliConsole Standard => new(Console.In, Console.Out, Console.Error, !Console.IsInputRedirected);
}

/// <summary>Exit codes shared by every verb (and the server: 2 is also "configuration invalid").</summary>
internal static class CliExitCodes
{
    public const int Done = 0;

    /// <summary>The verb understood the request and said no (a refused policy decision, a production configuration, a non-empty directory).</summary>
    public const int Refused = 1;

    /// <summary>Bad usage or invalid configuration.</summary>
    public const int Usage = 2;
}
