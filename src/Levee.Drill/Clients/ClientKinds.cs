namespace Levee.Drill.Clients;

/// <summary>Creates client kinds by name.</summary>
internal static class ClientKinds
{
    public static IDrillClientKind Create(string name) => name switch
    {
        "naive" => new NaiveClientKind(),
        "postmortem" => new PostmortemClientKind(TimeProvider.System),
        "levee" => new PendingClientKind("levee", "the Levee library with its defaults",
            "the Levee library is not referenced by the drill yet (src/Levee is being written); no numbers are shown rather than made-up ones"),
        _ => throw new ArgumentException($"unknown client '{name}' (known: naive, postmortem, levee)", nameof(name)),
    };
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
