using System.Runtime.CompilerServices;

namespace Levee.Drill.Clients;

/// <summary>Creates client kinds by name.</summary>
internal static class ClientKinds
{
    public static IDrillClientKind Create(string name) => name switch
    {
        "naive" => new NaiveClientKind(),
        "postmortem" => new PostmortemClientKind(TimeProvider.System),
        "levee" => LeveeLoadProblem() is { } problem
            ? new PendingClientKind("levee", "the Levee library with its defaults", problem)
            : new LeveeClientKind(),
        _ => throw new ArgumentException($"unknown client '{name}' (known: naive, postmortem, levee)", nameof(name)),
    };

    /// <summary>
    /// Null when the Levee library loads in this process. A host whose own assembly is named <c>levee</c>
    /// (assembly names are case-insensitive) shadows the <c>Levee</c> library; then the client cannot run.
    /// </summary>
    private static string? LeveeLoadProblem()
    {
        try
        {
            var name = ProbeLevee();
            return name == "Levee" ? null : $"the Levee library cannot load in this process: assembly '{name}' was loaded in its place";
        }
        catch (Exception ex) when (ex is TypeLoadException or FileLoadException or FileNotFoundException or MissingMethodException)
        {
            return "the Levee library cannot load in this process (" + ex.GetType().Name + ": " + ex.Message
                + "); the levee CLI's assembly is named 'levee', which .NET treats as the same identity as the 'Levee' library "
                + "(src/Levee.Cli/Levee.Cli.csproj must use another AssemblyName)";
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string? ProbeLevee()
    {
        var type = typeof(LeveeCache);
        _ = type.GetProperty(nameof(LeveeCache.IsL2Available));
        _ = typeof(LeveeOptions).GetProperty(nameof(LeveeOptions.Redis));
        return type.Assembly.GetName().Name;
    }
}

/// <summary>A client that cannot run in this build; the report shows it as not run.</summary>
internal sealed class PendingClientKind(string name, string description, string reason) : IDrillClientKind
{
    public string Name => name;

    public string Description => description;

    public string? UnavailableReason => reason;

    public bool FollowsFailover => true;

    public Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken) =>
        throw new InvalidOperationException(reason);

    public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<Catalog.CatalogEntry> entries, CancellationToken cancellationToken) =>
        throw new InvalidOperationException(reason);
}
