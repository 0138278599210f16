using System.Diagnostics;
using System.Globalization;
using Levee.Drill.Clients;

namespace Levee.Drill.Running;

/// <summary>
/// The <c>deploy</c> scenario's mechanics: the app instances are replaced one by one, as a rolling update of pods
/// (one extra pod at a time, none unavailable). For each instance in turn: a new client is created as a new pod would
/// create it (a new cache object: empty L1, its own new Redis connections; for <c>levee-warmup</c> its warm-up run and
/// readiness probe), traffic moves to it once <see cref="IDrillClientKind.CreateAsync"/> returned (the pod is ready),
/// and the old client is disposed once the requests still using it have finished (at most <see cref="Grace"/> later, as a
/// termination grace period). The instance's PostgreSQL pool is kept. A replacement starts every <c>interval</c> after
/// the fault phase began, and not before the previous one went live; none starts after the fault phase.
/// </summary>
internal sealed class RollingDeploy(
    IDrillClientKind kind,
    RedisTarget target,
    IReadOnlyList<AppInstance> instances,
    IReadOnlyList<string> keysByPopularity,
    Action<string> mark,
    Func<TimeSpan> elapsed)
{
    /// <summary>How long an old client may keep serving the requests it had when it was replaced.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    private readonly List<Task> _retirements = [];
    private readonly List<FirstSeconds> _newClients = [];
    private Task? _loop;
    private int _replaced;

    /// <summary>App instances.</summary>
    public int Instances => instances.Count;

    /// <summary>Replacements that went live so far.</summary>
    public int Replaced => Volatile.Read(ref _replaced);

    /// <summary>Starts replacing instances 0, 1, ... one every <paramref name="interval"/> until each was replaced once or <paramref name="end"/>.</summary>
    public void Start(TimeSpan interval, TimeSpan end, CancellationToken cancellationToken) =>
        _loop = Task.Run(() => RunAsync(interval, end, cancellationToken), CancellationToken.None);

    /// <summary>
    /// What the new clients did in their first <c>interval</c> after taking traffic, over all replacements: reads, how many
    /// of them loaded from the database (the cost of a new instance's empty L1 and new connections), and the p95 and maximum
    /// of their durations.
    /// </summary>
    public (long Reads, long DatabaseLoads, double P95Ms, double MaxMs) NewClientsFirstSeconds
    {
        get
        {
            List<double> all;
            lock (_newClients)
            {
                all = [.. _newClients.SelectMany(c => c.Durations)];
                all.Sort();
                var p95 = all.Count == 0 ? 0 : all[Math.Min(all.Count - 1, (int)Math.Ceiling(all.Count * 0.95) - 1)];
                return (_newClients.Sum(c => c.Reads), _newClients.Sum(c => c.Loads), Math.Round(p95, 1), all.Count == 0 ? 0 : Math.Round(all[^1], 1));
            }
        }
    }

    /// <summary>Waits for the replacements and for every old client to be disposed.</summary>
    public async Task FinishAsync()
    {
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        Task[] pending;
        lock (_retirements)
        {
            pending = [.. _retirements];
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private async Task RunAsync(TimeSpan interval, TimeSpan end, CancellationToken cancellationToken)
    {
        var first = elapsed();
        for (var i = 0; i < instances.Count; i++)
        {
            var at = first + (interval * i);
            if (at >= end)
            {
                break;
            }

            var wait = at - elapsed();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            }

            var instance = instances[i];
            var started = Stopwatch.GetTimestamp();
            var created = await kind.CreateClientAsync(target, instance.Index, instance.Store, keysByPopularity, cancellationToken).ConfigureAwait(false);
            var ready = Stopwatch.GetElapsedTime(started);
            var next = new FirstSeconds(created, interval);
            lock (_newClients)
            {
                _newClients.Add(next);
            }

            var retirement = RetireAsync(instance, next, cancellationToken);
            lock (_retirements)
            {
                _retirements.Add(retirement);
            }

            var count = Interlocked.Increment(ref _replaced);
            mark(string.Create(CultureInfo.InvariantCulture,
                $"deploy: instance {instance.Index} replaced by a new client ({count} of {instances.Count}; created and ready in {ready.TotalSeconds:0.00} s)"));
        }
    }

    private async Task RetireAsync(AppInstance instance, IDrillClient next, CancellationToken cancellationToken)
    {
        var cutOff = await instance.ReplaceAndRetireAsync(next, Grace, cancellationToken).ConfigureAwait(false);
        if (cutOff > 0)
        {
            mark(string.Create(CultureInfo.InvariantCulture,
                $"deploy: instance {instance.Index}'s old client disposed with {cutOff} requests still on it (grace {Grace.TotalSeconds:0} s)"));
        }
    }

    /// <summary>A new client, counting its reads and their database loads during its first <c>window</c>.</summary>
    private sealed class FirstSeconds(IDrillClient inner, TimeSpan window) : IDrillClient
    {
        private readonly long _started = Stopwatch.GetTimestamp();
        private readonly List<double> _durations = [];
        private long _reads, _loads;

        public long Reads => Interlocked.Read(ref _reads);

        public long Loads => Interlocked.Read(ref _loads);

        public ValueTask<Catalog.CatalogEntry> GetAsync(string key, Catalog.ICatalogLoader database, CancellationToken cancellationToken)
        {
            if (Stopwatch.GetElapsedTime(_started) >= window)
            {
                return inner.GetAsync(key, database, cancellationToken);
            }

            Interlocked.Increment(ref _reads);
            return TimedAsync(key, database, cancellationToken);
        }

        /// <summary>Durations (ms) of the reads of the first window, from the call to its completion (the drill's latency adds the wait to be dispatched).</summary>
        public double[] Durations
        {
            get
            {
                lock (_durations)
                {
                    return [.. _durations];
                }
            }
        }

        private async ValueTask<Catalog.CatalogEntry> TimedAsync(string key, Catalog.ICatalogLoader database, CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                return await inner.GetAsync(key, new CountingLoader(database, this), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                lock (_durations)
                {
                    _durations.Add(ms);
                }
            }
        }

        public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken) => inner.InvalidateAsync(key, cancellationToken);

        public ClientSnapshot Snapshot() => inner.Snapshot();

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private sealed class CountingLoader(Catalog.ICatalogLoader database, FirstSeconds owner) : Catalog.ICatalogLoader
        {
            public ValueTask<Catalog.CatalogEntry> LoadAsync(string key, CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref owner._loads);
                return database.LoadAsync(key, cancellationToken);
            }
        }
    }
}
