using Gateway.Problems;

namespace Gateway.Grants;

/// <summary>A value, or the problem that stopped it (with a stable code and a human-readable detail).</summary>
internal readonly record struct Outcome<T>(T? Value, ProblemCode? Problem, string? Detail)
{
    public bool Succeeded => Problem is null;

    public static implicit operator Outcome<T>(T value) => new(value, null, null);

    public static Outcome<T> From(T value) => new(value, null, null);

    public static Outcome<T> Fail(ProblemCode problem, string? detail = null) => new(default, problem, detail);
}
