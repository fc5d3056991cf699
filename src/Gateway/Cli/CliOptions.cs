using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Gateway.Cli;

/// <summary>
/// Options and arguments several verbs share, so each is declared, described and validated once.
/// Every parse error names the option it is about and becomes one line on standard error.
/// </summary>
internal static partial class CliOptions
{
    /// <summary><c>--config-dir</c>: resolved as the server resolves it (<see cref="Hosting.ConfigDirectory"/>).</summary>
    public static Option<string?> ConfigDir() => new(Hosting.ConfigDirectory.Option)
    {
        Description = "The configuration directory (default: GATEWAY_CONFIG_DIR, else ./config when it holds a gateway.json, else the copy beside the binary).",
        HelpName = "dir",
    };

    /// <summary>
    /// A <c>true</c>/<c>false</c> option that takes its value as the next token. Not an
    /// <see cref="Option{T}"/> of <see cref="bool"/>: System.CommandLine treats those as flags and
    /// would leave <c>--deny-data maybe</c> as a stray token instead of a bad value of the option.
    /// </summary>
    public static Option<TrueOrFalse> Boolean(string name, string description, bool defaultValue) => new(name)
    {
        Description = description,
        HelpName = "true|false",
        DefaultValueFactory = _ => new TrueOrFalse(defaultValue),
        CustomParser = result =>
        {
            var text = result.Tokens[0].Value;
            if (bool.TryParse(text, out var value))
            {
                return new TrueOrFalse(value);
            }

            result.AddError($"{name}: '{text}' is not true or false.");
            return default;
        },
    };

    /// <summary>A positive time span in the invariant <c>[d.]hh:mm:ss</c> form, as configuration files write them.</summary>
    public static Option<TimeSpan?> PositiveTimeSpan(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "hh:mm:ss",
        CustomParser = result =>
        {
            var text = result.Tokens[0].Value;
            if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > TimeSpan.Zero)
            {
                return value;
            }

            result.AddError($"{name}: '{text}' is not a positive time span such as 01:00:00.");
            return null;
        },
    };

    /// <summary>
    /// Configuration overrides in the form the server takes them (<c>--Section:Key=value</c>, or
    /// <c>--Section:Key value</c>), for verbs that build the gateway as start-up would. Anything
    /// else that lands here is an unknown option or a stray word, and is an error.
    /// </summary>
    /// <param name="owner">The command the argument belongs to; a bare word is reported as a possibly mistyped one of its verbs.</param>
    public static Argument<string[]> Settings(Command owner) => new("--Section:Key=value")
    {
        Description = "Configuration overrides, as the server takes them.",
        Arity = ArgumentArity.ZeroOrMore,
        Validators = { result => ValidateSettings(result, string.Join(", ", owner.Subcommands.Select(c => c.Name))) },
    };

    /// <summary>
    /// The problems of <paramref name="tokens"/> as configuration overrides, one per bad token.
    /// <paramref name="verbs"/> is named when a bare word is probably a mistyped verb.
    /// </summary>
    public static IEnumerable<string> SettingsErrors(IReadOnlyList<string> tokens, string verbs)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (!token.StartsWith("--", StringComparison.Ordinal))
            {
                yield return verbs.Length > 0
                    ? $"'{token}' is not a verb ({verbs}) nor a configuration override (--Section:Key=value)."
                    : $"unexpected argument '{token}'.";
                continue;
            }

            var equals = token.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? token[2..] : token[2..equals];
            if (!SettingKey().IsMatch(key))
            {
                yield return $"'{token}' is not an option here nor a configuration override (--Section:Key=value).";
            }
            else if (equals < 0)
            {
                // "--Section:Key value", as the configuration's command-line source reads it; a key
                // without ':' would be an option that does not exist (a typo), not a setting.
                if (!key.Contains(':', StringComparison.Ordinal) || i + 1 >= tokens.Count || tokens[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    yield return $"'{token}' is not an option here; a configuration override is written --Section:Key=value.";
                }
                else
                {
                    i++;
                }
            }
        }
    }

    private static void ValidateSettings(ArgumentResult result, string verbs)
    {
        foreach (var error in SettingsErrors([.. result.Tokens.Select(t => t.Value)], verbs))
        {
            result.AddError(error);
        }
    }

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*$")]
    private static partial Regex SettingKey();
}

/// <summary>The value of a <see cref="CliOptions.Boolean"/> option.</summary>
internal readonly record struct TrueOrFalse(bool Value)
{
    public override string ToString() => Value ? "true" : "false";
}
