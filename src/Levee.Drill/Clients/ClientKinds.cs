using System.Runtime.CompilerServices;

namespace Levee.Drill.Clients;

/// <summary>Creates client kinds by name: the built-in ones and those a host registered in <see cref="DrillOptions.ClientKinds"/>.</summary>
internal static partial class ClientKinds
{
    /// <summary>The built-in kinds, in their default order.</summary>
    public static readonly IReadOnlyList<string> BuiltIn = ["naive", "postmortem", "levee", "levee-no-share", "levee-redis-only", "levee-warmup"];

    /// <summary>Every name <see cref="Create"/> accepts: the built-in ones, then the registered ones.</summary>
    public static IReadOnlyList<string> Known(IEnumerable<IDrillClientKind?> registered) =>
        [.. BuiltIn, .. registered.Where(k => k is not null).Select(k => k!.Name)];

    /// <summary>The kind named <paramref name="name"/>: a built-in one, else one of <paramref name="registered"/>.</summary>
    public static IDrillClientKind Create(string name, IReadOnlyList<IDrillClientKind> registered) => name switch
    {
        "naive" => new NaiveClientKind(),
        "postmortem" => new PostmortemClientKind(TimeProvider.System),
        "levee" => LeveeLoadProblem() is { } problem
            ? new PendingClientKind("levee", "the Levee library with its defaults", problem)
            : new LeveeClientKind(postgresChannel: true),
        "levee-no-share" => LeveeLoadProblem() is { } problem
            ? new PendingClientKind("levee-no-share", "the Levee library with the PostgreSQL channel, values not shared", problem)
            : new LeveeClientKind(postgresChannel: true, shareValues: false),
        "levee-redis-only" => LeveeLoadProblem() is { } problem
            ? new PendingClientKind("levee-redis-only", "the Levee library with Redis only", problem)
            : new LeveeClientKind(postgresChannel: false),
        "levee-warmup" => LeveeLoadProblem() is { } problem
            ? new PendingClientKind("levee-warmup", "the Levee library with warm-up and readiness", problem)
            : new LeveeWarmUpClientKind(),
        _ => registered.FirstOrDefault(k => k.Name == name)
            ?? throw new ArgumentException($"unknown client '{name}' (known: {string.Join(", ", Known(registered))})", nameof(name)),
    };

    /// <summary>
    /// Creates app instance <paramref name="instance"/>'s client: through <see cref="IDatabaseClientKind"/> when the kind
    /// needs the instance's database (its warm-up loads through it), else <see cref="IDrillClientKind.CreateAsync"/>.
    /// </summary>
    public static Task<IDrillClient> CreateClientAsync(this IDrillClientKind kind, RedisTarget target, int instance, Catalog.ICatalogLoader database,
        IReadOnlyList<string> keysByPopularity, CancellationToken cancellationToken) =>
        kind is IDatabaseClientKind withDatabase
            ? withDatabase.CreateAsync(target, instance, database, keysByPopularity, cancellationToken)
            : kind.CreateAsync(target, instance, cancellationToken);

    /// <summary>Why <paramref name="kind"/> cannot be registered (null when it can).</summary>
    public static string? RegistrationProblem(IDrillClientKind? kind)
    {
        if (kind is null)
        {
            return "a registered client kind is null";
        }

        if (kind.Name is null || !ValidName().IsMatch(kind.Name))
        {
            return $"registered client kind name '{kind.Name}' must be 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter";
        }

        return BuiltIn.Contains(kind.Name) ? $"registered client kind '{kind.Name}' has the name of a built-in client" : null;
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[a-z][a-z0-9_-]{0,31}$")]
    private static partial System.Text.RegularExpressions.Regex ValidName();

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
