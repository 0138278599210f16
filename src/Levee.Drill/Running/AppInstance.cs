using Levee.Drill.Catalog;
using Levee.Drill.Clients;

namespace Levee.Drill.Running;

/// <summary>
/// One app server of the drill: its cache client, its database pool, and a bound on requests in flight
/// (as a server's connection limit). A rolling restart swaps the client; the old one is kept until the
/// end of the run so requests still using it finish.
/// </summary>
internal sealed class AppInstance(int index, CatalogStore store, IDrillClient client) : IAsyncDisposable
{
    private readonly List<IDrillClient> retired = [];
    private IDrillClient client = client;
    private int inFlight;

    public int Index { get; } = index;

    public CatalogStore Store { get; } = store;

    public IDrillClient Client => Volatile.Read(ref client);

    public int InFlight => Volatile.Read(ref inFlight);

    public bool TryEnter(int limit)
    {
        if (Interlocked.Increment(ref inFlight) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref inFlight);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref inFlight);

    public void Replace(IDrillClient next)
    {
        var old = Interlocked.Exchange(ref client, next);
        lock (retired)
        {
            retired.Add(old);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync().ConfigureAwait(false);
        foreach (var old in retired)
        {
            await old.DisposeAsync().ConfigureAwait(false);
        }

        await Store.DisposeAsync().ConfigureAwait(false);
    }
}
