// A little over ~400 lines on purpose: degraded mode's three mechanisms (values shared while the master is away, loads
// announced so other instances wait instead of loading too, refreshes throttled while L2 can't be written) share the
// rules that order them against removals; they follow one another below, and splitting them would put those rules in two files.
using System.Collections.Concurrent;
using Levee.Internal;

namespace Levee;

/// <summary>
/// Degraded mode while the master is unreachable and the replicas still answer (the incident: a frozen master, no
/// failover): a value one instance loads from the database reaches the others through the replicas' pub/sub, so a
/// changed or expired key is loaded once, not once per instance.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>A load whose L2 write fails publishes its envelope (the same bytes it would have written) on the replicas'
/// backplane channel, if it is small enough (<see cref="SharedValueMaxBytes"/>).</item>
/// <item>A receiver keeps the bytes in <see cref="_shared"/> (bounded by <see cref="SharedTotalMaxBytes"/>), not in L1:
/// it does not know the value's type. A read that cannot use the master looks there before it asks a replica, and
/// decodes the bytes as it decodes a replica's reply: every rule that applies to an L2 entry (removals, tag removals,
/// clear-all, the entry's own lifetime) applies to a shared value too.</item>
/// <item>A removal or clear-all drops the key's shared value (<see cref="ForgetShared"/>); a shared value created before
/// a removal this instance knows of is refused, on receipt and again when read.</item>
/// <item>An entry that expires during the outage is served stale and refreshed in the background; that refresh waits
/// a random part of <see cref="LeveeOptions.FailSafeThrottleDuration"/> first and is skipped when another instance's
/// newer value arrived meanwhile, so the instances do not all query the database for the same key at once.</item>
/// <item>Once the master answers again the shared values are dropped: Redis is the shared copy again.</item>
/// </list>
/// </remarks>
public sealed partial class LeveeCache
{
    /// <summary>Largest envelope shared through the replicas (bytes before base64). A pub/sub message is delivered to
    /// every instance: larger values are not worth their fan-out.</summary>
    internal const int SharedValueMaxBytes = 16 * 1024;

    /// <summary>All shared values an instance keeps, in bytes: past it, newly received values are dropped (counted).</summary>
    internal const long SharedTotalMaxBytes = 16L * 1024 * 1024;

    // key -> envelope of the newest value another instance loaded while the master was unreachable
    private readonly ConcurrentDictionary<string, byte[]> _shared = new(StringComparer.Ordinal);
    private long _sharedBytes;

    private int _degradedRefreshesWaiting;
    private int _degradedRefreshesActive;

    /// <summary>Degraded-mode refreshes waiting for their turn (for tests).</summary>
    internal int DegradedRefreshesWaiting => Volatile.Read(ref _degradedRefreshesWaiting);

    /// <summary>Degraded-mode refreshes not finished (waiting, or loading and sharing; for tests).</summary>
    internal int DegradedRefreshesActive => Volatile.Read(ref _degradedRefreshesActive);

    /// <summary>Bytes of the shared values kept (for tests: the bound is counted on exactly what is kept).</summary>
    internal long SharedBytes => Interlocked.Read(ref _sharedBytes);

    /// <summary>Shared values kept (for tests).</summary>
    internal int SharedCount => _shared.Count;

    /// <summary>
    /// After a load's L2 write failed: its envelope goes to the other instances through the replicas, or, when no replica
    /// is connected either (every Redis node gone), through the second channel if it carries values
    /// (<see cref="ILeveeInvalidationChannel.MaxSharedValueBytes"/>).
    /// </summary>
    /// <remarks>A load this instance announced (<paramref name="announced"/>) whose value cannot be shared (too large for
    /// the way that is open) tells the others that it ended, so their callers stop waiting for it.</remarks>
    private ValueTask ShareLoadedValueAsync(string key, byte[] envelope, bool announced)
    {
        if (_guard is null)
        {
            return default;
        }

        if (ReplicasCarryValues && envelope.Length <= SharedValueMaxBytes)
        {
            _metrics.Backplane("value_sent");
            return PublishThroughReplicasAsync(BackplaneMessage(BackplaneMessageKind.Value, string.Concat(Convert.ToBase64String(envelope), "|", WireKey.Encode(key))));
        }

        if (!ReplicasCarryValues && _channel is { } channel && envelope.Length <= Math.Min(channel.MaxSharedValueBytes, SharedValueMaxBytes))
        {
            // not awaited: the load has its value; sharing it must not add the channel's round trip (or its backlog) to
            // the caller's wait. Order does not matter: a receiver refuses a value older than a removal it knows of.
            _ = PublishToChannelAsync(new LeveeInvalidation { Kind = LeveeInvalidationKind.Value, Subject = key, Value = envelope }, "value_sent_channel").AsTask();
            return default;
        }

        if (announced)
        {
            PublishLoadEnded(key);
        }

        return default;
    }

    /// <summary>True while the replicas' pub/sub can carry shared values and load announcements: a replica is connected
    /// and the replicas' breaker is not open (when it is, a publish there fails at once, and the second channel, if it
    /// carries values, takes them instead).</summary>
    private bool ReplicasCarryValues => _options.Backplane && _replicaGuard is { IsUsable: true };

    /// <summary>True when the second channel carries shared values (used when no replica is connected).</summary>
    private bool ChannelCarriesValues => _channel is { MaxSharedValueBytes: > 0 };

    /// <summary>
    /// A value message: "&lt;base64 envelope&gt;|&lt;key&gt;", kept unless it is invalid here already; an empty envelope
    /// ("|&lt;key&gt;") says that an announced load ended without a value to share. Either way, this instance's callers
    /// waiting for that load stop waiting (they read what is shared, or load themselves).
    /// </summary>
    private void OnSharedValue(string subject)
    {
        var bar = subject.IndexOf('|', StringComparison.Ordinal);
        if (bar < 0 || bar == subject.Length - 1 || WireKey.Decode(subject[(bar + 1)..]) is not { Length: > 0 } key)
        {
            return;
        }

        byte[]? envelope = null;
        if (bar > 0)
        {
            try
            {
                envelope = Convert.FromBase64String(subject[..bar]);
            }
            catch (FormatException)
            {
                // woken below all the same: its waiters load themselves
            }
        }

        OnSharedValue(key, envelope);
    }

    /// <summary>A value another instance shared (null or empty: its announced load ended without one), from either channel.</summary>
    private void OnSharedValue(string key, byte[]? envelope)
    {
        try
        {
            if (envelope is { Length: > 0 })
            {
                Keep(key, envelope);
            }
        }
        finally
        {
            if (!_loadsElsewhere.IsEmpty && _loadsElsewhere.TryRemove(key, out var waiting))
            {
                waiting.Arrived.TrySetResult(); // woken whatever came: a kept value, an older or refused one, or none
            }
        }
    }

    private void Keep(string key, byte[] envelope)
    {
        if (envelope.Length > SharedValueMaxBytes || !Envelope.TryRead(envelope, out var read)
            || _coherence.RemovedBeforeCreation(key, read.CreatedWall))
        {
            return;
        }

        // replace the key's value only with a newer one, and count the bytes of exactly what is kept
        while (true)
        {
            if (_shared.TryGetValue(key, out var old))
            {
                if (!ReferenceEquals(NewerOf(old, envelope), envelope))
                {
                    return; // older than the value kept
                }

                if (Interlocked.Add(ref _sharedBytes, envelope.Length - old.Length) > SharedTotalMaxBytes && envelope.Length > old.Length)
                {
                    Interlocked.Add(ref _sharedBytes, old.Length - envelope.Length);
                    _metrics.Backplane("value_dropped");
                    return;
                }

                if (_shared.TryUpdate(key, envelope, old))
                {
                    break;
                }

                Interlocked.Add(ref _sharedBytes, old.Length - envelope.Length); // lost a race: try again
            }
            else
            {
                if (Interlocked.Add(ref _sharedBytes, envelope.Length) > SharedTotalMaxBytes)
                {
                    Interlocked.Add(ref _sharedBytes, -envelope.Length);
                    _metrics.Backplane("value_dropped");
                    return;
                }

                if (_shared.TryAdd(key, envelope))
                {
                    break;
                }

                Interlocked.Add(ref _sharedBytes, -envelope.Length);
            }
        }

        // An L1 copy this instance holds stays: it is valid (a removal would have dropped it), and dropping it for a value
        // loaded a moment later elsewhere only made every instance read again (and, where the read could not use the
        // shared value, query again: measured in the incident drill, every instance reloading a hot key back to back).
        _metrics.Backplane("value_received");
    }

    private static byte[] NewerOf(byte[] old, byte[] candidate) =>
        Envelope.TryRead(old, out var o) && Envelope.TryRead(candidate, out var c) && o.CreatedWall > c.CreatedWall ? old : candidate;

    /// <summary>The key changed: a shared value of it is not used any more.</summary>
    private void ForgetShared(string key)
    {
        if (_shared.TryRemove(key, out var old))
        {
            Interlocked.Add(ref _sharedBytes, -old.Length);
        }

        if (!_loadsElsewhere.IsEmpty && _loadsElsewhere.TryRemove(key, out var load))
        {
            load.Arrived.TrySetResult(); // that load began before the change: its waiters stop waiting for it
        }
    }

    private void ForgetAllShared()
    {
        foreach (var key in _shared.Keys)
        {
            ForgetShared(key);
        }
    }

    /// <summary>A fresh value another instance shared for <paramref name="key"/>, decoded as an L2 entry is; default when none.</summary>
    private ValueTask<L2Read> ReadSharedAsync<T>(string key, LeveeEntryOptions options, long epoch) =>
        ReadsL2(options) && _shared.TryGetValue(key, out var envelope) // shared values stand in for L2: not for callers that skip it
            ? DecodeL2Async<T>(key, envelope, options, epoch, fromReplica: true)
            : default;

    /// <summary>
    /// Drops shared values past their logical expiry and announced loads whose wait is over (also while no master is
    /// connected: an outage is when they pile up).
    /// </summary>
    private void PruneShared()
    {
        if (!_shared.IsEmpty)
        {
            var nowWall = _clock.WallMs;
            foreach (var (key, envelope) in _shared)
            {
                if ((!Envelope.TryRead(envelope, out var read) || read.FreshUntilWall <= nowWall)
                    && ((ICollection<KeyValuePair<string, byte[]>>)_shared).Remove(new KeyValuePair<string, byte[]>(key, envelope)))
                {
                    Interlocked.Add(ref _sharedBytes, -envelope.Length);
                }
            }
        }

        if (!_loadsElsewhere.IsEmpty)
        {
            var oldest = _clock.MonoMs - (long)LoadElsewhereWait.TotalMilliseconds;
            foreach (var (key, load) in _loadsElsewhere)
            {
                if (load.AnnouncedMono < oldest && ((ICollection<KeyValuePair<string, LoadElsewhere>>)_loadsElsewhere).Remove(new KeyValuePair<string, LoadElsewhere>(key, load)))
                {
                    load.Arrived.TrySetResult();
                }
            }
        }
    }

    /// <summary>Once the master answers again, what was shared is dropped: Redis is the shared copy again.</summary>
    private async Task ForgetSharedIfTheMasterAnswersAsync()
    {
        if (_shared.IsEmpty && _loadsElsewhere.IsEmpty && _announced.IsEmpty)
        {
            return;
        }

        var master = await _guard!.TryAsync("generation", static (store, k) => store.GetNumbersAsync([k]), GenerationKey).ConfigureAwait(false);
        if (master.Success && Interlocked.Exchange(ref _masterAnsweredOnce, 1) == 0 && !_shared.IsEmpty && ChannelCoveredTheGap())
        {
            return; // written back at the next maintenance: the journals' replays (at this one, on every instance) go first
        }

        if (master.Success)
        {
            Volatile.Write(ref _masterAnsweredOnce, 0);
            await WriteBackSharedAsync().ConfigureAwait(false);
            ForgetAllShared();
            _announced.Clear();
            foreach (var key in _loadsElsewhere.Keys)
            {
                if (_loadsElsewhere.TryRemove(key, out var load))
                {
                    load.Arrived.TrySetResult();
                }
            }
        }
    }

    /// <summary>
    /// The master answers again: before the values other instances loaded during the outage are forgotten, each is
    /// written to Redis where Redis holds nothing for its key (SET NX), so that no instance loads it from the database
    /// again. Only when this instance knows every removal made meanwhile (<see cref="ChannelCoveredTheGap"/>) and none of
    /// them, nor a clear-all, came after the value was created; tagged values are left out (their tags' times are not
    /// checked here). A removal replayed later deletes it as any other entry. Before, at the incident's repair every
    /// instance reloaded the hot keys written during the fault (their Redis copies deleted by the journals' replay). Done
    /// one maintenance after the master first answers: the writers' replays, which delete every copy of a removed key
    /// whatever its age, run at that first one on every instance.
    /// </summary>
    // 1 once the master answered a maintenance while shared values were held (they are written back at the next one)
    private int _masterAnsweredOnce;

    private async Task WriteBackSharedAsync()
    {
        if (_shared.IsEmpty || !ChannelCoveredTheGap())
        {
            return;
        }

        var nowWall = _clock.WallMs;
        foreach (var (key, envelopeBytes) in _shared)
        {
            if (!Envelope.TryRead(envelopeBytes, out var envelope) || envelope.Tags is { Length: > 0 } || Journaled(key)
                || _coherence.RemovedBeforeCreation(key, envelope.CreatedWall)) // (a clear-all after it included)
            {
                continue;
            }

            var ttl = TimeSpan.FromMilliseconds(envelope.FreshUntilWall - nowWall + _options.FailSafeMaxDuration.TotalMilliseconds);
            if (ttl <= TimeSpan.Zero)
            {
                continue;
            }

            var written = await _guard!.TryAsync("set-shared", static (store, a) => store.SetIfAbsentAsync(a.key, a.value, a.ttl), (key: DataKey(key), value: envelopeBytes, ttl)).ConfigureAwait(false);
            if (!written.Success)
            {
                return; // the master stopped answering: the rest are forgotten (their keys load from the database)
            }
        }
    }

    /// <summary>How long a caller waits for a load another instance announced, before it queries the database itself.</summary>
    internal static readonly TimeSpan LoadElsewhereWait = TimeSpan.FromMilliseconds(500);

    /// <summary>Loads announced by other instances that this one may wait for (bounded: past it, nobody waits).</summary>
    private const int LoadsElsewhereMax = 10_000;

    private sealed class LoadElsewhere(long announcedMono)
    {
        public long AnnouncedMono { get; } = announcedMono;

        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    // key -> a load another instance announced (through the replicas) and whose value has not arrived yet
    private readonly ConcurrentDictionary<string, LoadElsewhere> _loadsElsewhere = new(StringComparer.Ordinal);

    /// <summary>Announced loads of other instances not arrived yet (for tests).</summary>
    internal int PendingLoadsElsewhere => _loadsElsewhere.Count;

    /// <summary>True while values can be shared: the master is not usable, and the replicas' channel is, or (every Redis
    /// node gone) the second channel carries values.</summary>
    private bool SharingValues => _guard is not null && !_guard.IsUsable && (ReplicasCarryValues || ChannelCarriesValues);

    /// <summary>
    /// Before this instance queries the database for <paramref name="key"/> while values are shared: tells the others, so
    /// that their callers of the key wait for this value instead of querying too (every instance misses a changed hot
    /// key at nearly the same moment: without this, each loaded it). Fire and forget.
    /// </summary>
    /// <remarks>A background refresh is announced as such (<see cref="BackplaneMessageKind.Refreshing"/>): the others
    /// count it against their own <see cref="LeveeOptions.DegradedRefreshesPerSecond"/>.</remarks>
    private void AnnounceLoad(string key, bool refresh)
    {
        if (SharingValues && (_announced.Count < LoadsElsewhereMax || _announced.ContainsKey(key)))
        {
            _announced[key] = 0;
            _ = ReplicasCarryValues
                ? PublishThroughReplicasAsync(BackplaneMessage(refresh ? BackplaneMessageKind.Refreshing : BackplaneMessageKind.Loading, WireKey.Encode(key))).AsTask()
                : PublishToChannelAsync(new LeveeInvalidation { Kind = refresh ? LeveeInvalidationKind.Refreshing : LeveeInvalidationKind.Loading, Subject = key }, "loading_sent_channel").AsTask();
        }
    }

    // keys whose load this instance announced: their value is shared even if the master took it meanwhile (the master
    // came back), or the instances waiting for it would wait out LoadElsewhereWait (measured: p95 0.8 s in master-crash)
    private readonly ConcurrentDictionary<string, byte> _announced = new(StringComparer.Ordinal);

    /// <summary>True (once) when this instance announced a load of <paramref name="key"/>: its value must be shared.</summary>
    private bool TakeAnnounced(string key) => !_announced.IsEmpty && _announced.TryRemove(key, out _);

    /// <summary>
    /// The end of a load this instance announced: if its value was not shared (the factory failed, the value was not
    /// stored, too large, not serializable, writes disabled), the others are told at once, so their callers stop
    /// waiting for it and load themselves.
    /// </summary>
    private void EndAnnouncedLoad(string key)
    {
        if (TakeAnnounced(key))
        {
            PublishLoadEnded(key);
        }
    }

    /// <summary>Tells the others that this instance's announced load of <paramref name="key"/> ended without a value to share.</summary>
    private void PublishLoadEnded(string key) =>
        _ = ReplicasCarryValues
            ? PublishThroughReplicasAsync(BackplaneMessage(BackplaneMessageKind.Value, "|" + WireKey.Encode(key))).AsTask()
            : PublishToChannelAsync(new LeveeInvalidation { Kind = LeveeInvalidationKind.Value, Subject = key }, "value_sent_channel").AsTask();

    private void OnLoadElsewhere(string subject, bool refresh)
    {
        if (WireKey.Decode(subject) is { Length: > 0 } key)
        {
            OnLoadElsewhereOf(key, refresh);
        }
    }

    /// <summary>Another instance announced a load of <paramref name="key"/> (through either channel); a background
    /// refresh (<paramref name="refresh"/>) takes a token of this instance's degraded-mode budget too.</summary>
    private void OnLoadElsewhereOf(string key, bool refresh)
    {
        if (refresh)
        {
            SpendDegradedRefreshElsewhere();
        }

        if (_loadsElsewhere.Count >= LoadsElsewhereMax && !_loadsElsewhere.ContainsKey(key))
        {
            return;
        }

        var now = _clock.MonoMs;
        _loadsElsewhere.AddOrUpdate(key, static (_, n) => new LoadElsewhere(n),
            static (_, old, n) => n - old.AnnouncedMono > (long)LoadElsewhereWait.TotalMilliseconds ? new LoadElsewhere(n) : old, now);
    }

    /// <summary>
    /// A fresh value of <paramref name="key"/> another instance is loading, awaited for at most
    /// <see cref="LoadElsewhereWait"/> from its announcement; null when there is no such load or its value did not come
    /// (or is refused here: it is decoded as an L2 entry, so a removal this instance knows of refuses it).
    /// </summary>
    private async ValueTask<CacheEntry?> TryAwaitLoadElsewhereAsync<T>(string key, LeveeEntryOptions options, long epoch)
    {
        if (_loadsElsewhere.IsEmpty || !ReadsL2(options) || !_loadsElsewhere.TryGetValue(key, out var load) || !SharingValues)
        {
            return null; // nothing announced, or this instance's master answers again: L2 is read, not waited for
        }

        var left = (long)LoadElsewhereWait.TotalMilliseconds - (_clock.MonoMs - load.AnnouncedMono);
        if (left <= 0)
        {
            ((ICollection<KeyValuePair<string, LoadElsewhere>>)_loadsElsewhere).Remove(new KeyValuePair<string, LoadElsewhere>(key, load));
            return null;
        }

        try
        {
            await load.Arrived.Task.WaitAsync(TimeSpan.FromMilliseconds(left), _clock.Provider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            ((ICollection<KeyValuePair<string, LoadElsewhere>>)_loadsElsewhere).Remove(new KeyValuePair<string, LoadElsewhere>(key, load));
            return null;
        }

        var shared = await ReadSharedAsync<T>(key, options, epoch).ConfigureAwait(false);
        if (shared.Fresh is not null)
        {
            _metrics.Backplane("value_awaited");
        }

        return shared.Fresh;
    }

    private readonly Lock _degradedRefreshLock = new();
    private Gate.TokenBucket? _degradedRefreshBudget;

    /// <summary>
    /// A token of <see cref="LeveeOptions.DegradedRefreshesPerSecond"/>: false when this instance has refreshed as many
    /// expired entries as it may for now (the entry is served stale and tried again after the throttle).
    /// </summary>
    private bool TryTakeDegradedRefresh()
    {
        lock (_degradedRefreshLock)
        {
            return DegradedRefreshBudget().TryTake();
        }
    }

    /// <summary>
    /// Another instance announced a background refresh while values are shared: it is taken from this instance's budget
    /// as well, so the instances together refresh about <see cref="LeveeOptions.DegradedRefreshesPerSecond"/>, not that
    /// many each (measured: 8 instances at 2 per second each kept the database at 1.9x its load in the fifth minute of an
    /// outage, when a warm cache's entries all expire). The budget may go into debt (instances that took a token at the
    /// same moment each owe the others' refreshes), at most <see cref="DegradedRefreshDebtSeconds"/> of it.
    /// </summary>
    private void SpendDegradedRefreshElsewhere()
    {
        lock (_degradedRefreshLock)
        {
            DegradedRefreshBudget().Spend(-_options.DegradedRefreshesPerSecond * DegradedRefreshDebtSeconds);
        }
    }

    /// <summary>The deepest debt of the degraded-mode budget, in seconds of its rate: deep enough that a few hundred
    /// instances taking a token at the same moment are all paid for, shallow enough that a burst of announcements
    /// (a fleet re-warming during an outage) cannot stop this instance's refreshes for longer than that.</summary>
    internal const double DegradedRefreshDebtSeconds = 300;

    private Gate.TokenBucket DegradedRefreshBudget() =>
        _degradedRefreshBudget ??= new Gate.TokenBucket(_options.DegradedRefreshesPerSecond, Math.Max(1, (int)Math.Ceiling(_options.DegradedRefreshesPerSecond)), _options.TimeProvider);

    private int _backgroundRefreshesStarted;

    /// <summary>Background refreshes started (early, degraded-mode; counted when started, for tests).</summary>
    internal int BackgroundRefreshesStarted => Volatile.Read(ref _backgroundRefreshesStarted);

    /// <summary>
    /// How long a degraded-mode refresh of an expired entry waits before it queries the database: a random part of half
    /// the fail-safe throttle while values can be shared (every instance sees the same entry expire at the same time;
    /// the first to finish shares its value and the others skip their query), else none.
    /// </summary>
    private TimeSpan DegradedRefreshDelay() =>
        _guard is not null && (ReplicasCarryValues || ChannelCarriesValues)
            ? TimeSpan.FromMilliseconds(DegradedDelayFraction() * _options.FailSafeThrottleDuration.TotalMilliseconds / 2)
            : TimeSpan.Zero;

    /// <summary>The random part of <see cref="DegradedRefreshDelay"/>, in [0, 1) (tests fix it per instance).</summary>
    internal Func<double> DegradedDelayFraction { get; set; } = static () => Random.Shared.NextDouble();
}
