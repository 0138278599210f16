using Levee.Drill.Catalog;
using Levee.Drill.Clients;

namespace Levee.Drill.Running;

/// <summary>
/// One app server of the drill: its cache client, its database pool, and a bound on requests in flight
/// (as a server's connection limit). A rolling restart swaps the client; the old one is kept until the
/// end of the run so requests still using it finish. A deploy (<see cref="ReplaceAndRetireAsync"/>) swaps it
/// and disposes the old one as soon as the requests that were using it have finished, as a terminated pod.
/// </summary>
internal sealed class AppInstance(int index, CatalogStore store, IDrillClient client) : IAsyncDisposable
{
    private readonly List<IDrillClient> _retired = [];
    private Slot _current = new(client);
    private int _inFlight;

    public int Index { get; } = index;

    public CatalogStore Store { get; } = store;

    public IDrillClient Client => Volatile.Read(ref _current).Client;

    public int InFlight => Volatile.Read(ref _inFlight);

    public bool TryEnter(int limit)
    {
        if (Interlocked.Increment(ref _inFlight) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>The current client, held until the lease is disposed: a deploy does not dispose a client a request still uses.</summary>
    public Lease Acquire()
    {
        while (true)
        {
            var slot = Volatile.Read(ref _current);
            Interlocked.Increment(ref slot.Users);
            if (ReferenceEquals(slot, Volatile.Read(ref _current)))
            {
                return new Lease(slot);
            }

            Interlocked.Decrement(ref slot.Users); // swapped meanwhile: take the new one
        }
    }

    public void Replace(IDrillClient next)
    {
        var old = Interlocked.Exchange(ref _current, new Slot(next));
        lock (_retired)
        {
            _retired.Add(old.Client);
        }
    }

    /// <summary>
    /// Swaps in <paramref name="next"/>, then disposes the old client once no request uses it any more, or after
    /// <paramref name="grace"/> (as a pod's termination grace period; requests still on it then fail). Returns how many
    /// requests were still using the old client when it was disposed.
    /// </summary>
    public async Task<int> ReplaceAndRetireAsync(IDrillClient next, TimeSpan grace, CancellationToken cancellationToken)
    {
        var old = Interlocked.Exchange(ref _current, new Slot(next));
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            while (Volatile.Read(ref old.Users) > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(started) < grace)
            {
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // the run ends: dispose now
        }

        var left = Volatile.Read(ref old.Users);
        await old.Client.DisposeAsync().ConfigureAwait(false);
        return left;
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync().ConfigureAwait(false);
        foreach (var old in _retired)
        {
            await old.DisposeAsync().ConfigureAwait(false);
        }

        await Store.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A client and how many requests use it.</summary>
    internal sealed class Slot(IDrillClient client)
    {
        public readonly IDrillClient Client = client;
        public int Users;
    }

    /// <summary>A request's hold on the client it started with.</summary>
    public readonly struct Lease : IDisposable
    {
        private readonly Slot _slot;

        internal Lease(Slot slot) => _slot = slot;

        public IDrillClient Client => _slot.Client;

        public void Dispose() => Interlocked.Decrement(ref _slot.Users);
    }
}
