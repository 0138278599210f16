namespace Levee.Doctor.Config;

/// <summary>One directive: its name in lower case (as Redis compares it), its arguments and its 1-based line.</summary>
internal sealed record ConfigDirective(string Name, IReadOnlyList<string> Args, int Line)
{
    /// <summary>For <c>sentinel X ...</c> lines: <c>X</c> in lower case, else empty.</summary>
    public string SubName => Name == "sentinel" && Args.Count > 0 ? Args[0].ToLowerInvariant() : string.Empty;

    /// <summary>Argument <paramref name="i"/> or empty.</summary>
    public string Arg(int i) => i < Args.Count ? Args[i] : string.Empty;
}
