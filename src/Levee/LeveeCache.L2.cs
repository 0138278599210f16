// A little over ~400 lines: the guarded read, its decoding and tag check, the write and the generation belong together
// (what a value looks like in Redis); the connection's lifecycle is in LeveeCache.Lifecycle.cs.
using System.Buffers;
using System.Runtime.CompilerServices;
using Levee.Internal;
using Microsoft.Extensions.Caching.Hybrid;
using StackExchange.Redis;

namespace Levee;

public sealed partial class LeveeCache
{
    private readonly L2Guard? _guard;
    private readonly L2Guard? _replicaGuard;

    private readonly struct L2Read
    {
        public CacheEntry? Fresh { get; init; }

        public CacheEntry? Stale { get; init; }

        public bool Unavailable { get; init; }
    }

    private DataKeyPrefix? _dataKeyPrefix;

    /// <summary>"{prefix}d:{generation}:" of one generation, built once per generation (not on every L2 call).</summary>
    private sealed record DataKeyPrefix(long Generation, string Prefix);

    private string DataKey(string key)
    {
        var generation = _coherence.Generation;
        var prefix = Volatile.Read(ref _dataKeyPrefix);
        if (prefix is null || prefix.Generation != generation)
        {
            prefix = new DataKeyPrefix(generation, string.Concat(_options.KeyPrefix, "d:", generation.ToString(System.Globalization.CultureInfo.InvariantCulture), ":"));
            Volatile.Write(ref _dataKeyPrefix, prefix);
        }

        return string.Concat(prefix.Prefix, WireKey.Encode(key));
    }

    private string TagKey(string tag) => string.Concat(_options.KeyPrefix, "t:", tag);

    private string GenerationKey => _options.KeyPrefix + "generation";

    /// <summary>
    /// The guarded L2 read, the only one (a miss, <see cref="TryGetAsync"/>, warm-up): reads and validates the key's
    /// entry. Not usable (treated as unavailable, never as data): the generation is not known yet, an invalidation of
    /// this key or its tags is still journaled, or a tag's invalidation time could not be read. Corrupt or foreign bytes
    /// are a miss (counted and logged), never an exception. A master that fails goes on to the replicas.
    /// </summary>
    /// <remarks>
    /// Not an async method: in the normal case (generation known, nothing of the key journaled, breaker closed) the GET
    /// is started here and, if Redis has answered already, decoded at once without an async frame; a reply still on its
    /// way is awaited by <see cref="AwaitL2ReadAsync"/>, whose frame is pooled. Every other case goes to
    /// <see cref="ReadL2SlowAsync"/>.
    /// </remarks>
    private ValueTask<L2Read> ReadL2Async<T>(string key, LeveeEntryOptions options, long epoch)
    {
        if (_guard is null || (options.Flags & HybridCacheEntryFlags.DisableDistributedCacheRead) != 0)
        {
            return default;
        }

        if (!_coherence.GenerationKnown || Journaled(key)
            || !_guard.TryStart("get", static (store, k) => store.GetAsync(k), DataKey(key), out var pending, out var call))
        {
            return ReadL2SlowAsync<T>(key, options, epoch);
        }

        if (!pending.IsCompleted)
        {
            return AwaitL2ReadAsync<T>(key, pending, call, options, epoch);
        }

        RedisValue reply;
        try
        {
            reply = pending.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            _guard.Failed(call, ex);
            return ReadReplicaAsync<T>(key, options, epoch);
        }

        _guard.Succeeded(call);
        return DecodeL2Async<T>(key, reply, options, epoch, fromReplica: false);
    }

    /// <summary>The GET <see cref="ReadL2Async"/> started, still on its way: awaited, reported to the guard (exactly once), decoded.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<L2Read> AwaitL2ReadAsync<T>(string key, ValueTask<RedisValue> pending, L2Call call, LeveeEntryOptions options, long epoch)
    {
        RedisValue reply;
        try
        {
            reply = await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _guard!.Failed(call, ex);
            return await ReadReplicaAsync<T>(key, options, epoch).ConfigureAwait(false);
        }

        _guard!.Succeeded(call);
        return await DecodeL2Async<T>(key, reply, options, epoch, fromReplica: false).ConfigureAwait(false);
    }

    /// <summary><see cref="ReadL2Async"/> outside the normal case: the generation still to be read, the key journaled, or
    /// the breaker not closed (the guard's pipeline decides whether the call may run).</summary>
    private async ValueTask<L2Read> ReadL2SlowAsync<T>(string key, LeveeEntryOptions options, long epoch)
    {
        if (!_coherence.GenerationKnown && !await RefreshGenerationAsync().ConfigureAwait(false))
        {
            return new L2Read { Unavailable = true };
        }

        if (Journaled(key))
        {
            // Redis may still hold what this instance's journaled removal removed: not read. A value another instance
            // loaded since (shared while the master is unreachable) is checked against that removal like any other.
            var shared = await ReadSharedAsync<T>(key, options, epoch).ConfigureAwait(false);
            return shared.Fresh is not null ? shared : new L2Read { Unavailable = true };
        }

        var outcome = await _guard!.TryAsync("get", static (store, k) => store.GetAsync(k), DataKey(key)).ConfigureAwait(false);
        return outcome.Success
            ? await DecodeL2Async<T>(key, outcome.Value, options, epoch, fromReplica: false).ConfigureAwait(false)
            : await ReadReplicaAsync<T>(key, options, epoch).ConfigureAwait(false);
    }

    /// <summary>An invalidation of the key (or an overflow of the journal) waits to reach Redis: L2 can't be trusted for it.</summary>
    private bool Journaled(string key) => _journal.Overflowed || _journal.ContainsKey(key);

    /// <summary>The master is unreachable (or its breaker is open): the replicas usually still hold the whole cache.</summary>
    private async ValueTask<L2Read> ReadReplicaAsync<T>(string key, LeveeEntryOptions options, long epoch)
    {
        // a value another instance loaded while the master is unreachable is newer than what the replicas hold
        var shared = await ReadSharedAsync<T>(key, options, epoch).ConfigureAwait(false);
        if (shared.Fresh is not null)
        {
            return shared;
        }

        if (!ReplicasTrusted)
        {
            return new L2Read { Unavailable = true }; // this instance may not know every removal their entries predate yet
        }

        var outcome = await _replicaGuard!.TryAsync("get-replica", static (store, k) => store.GetFromReplicaAsync(k), DataKey(key)).ConfigureAwait(false);
        if (!outcome.Success)
        {
            return new L2Read { Unavailable = true };
        }

        _metrics.ReplicaRead();

        // While the master is away, removals by other instances can't reach this one: keep what the replica said in L1
        // only briefly, so a missed invalidation is served for at most this long.
        return await DecodeL2Async<T>(key, outcome.Value, options, epoch, fromReplica: true).ConfigureAwait(false);
    }

    /// <summary>
    /// Validates and deserializes what L2 answered. Completes synchronously (no allocation of its own) unless the entry has
    /// tags whose invalidation times must be read from Redis first.
    /// </summary>
    private async ValueTask<L2Read> DecodeL2Async<T>(string key, RedisValue reply, LeveeEntryOptions options, long epoch, bool fromReplica)
    {
        if (reply.IsNull)
        {
            if (!fromReplica)
            {
                _coherence.ConfirmRemoval(key, long.MaxValue); // the master holds nothing of the key: no removed value left there
            }

            return default;
        }

        ReadOnlyMemory<byte> bytes = reply; // a view of the reply's bytes, no copy (valid while the value lives)

        if (!Envelope.TryRead(bytes, out var envelope))
        {
            _metrics.L2Error("corrupt");
            Log.L2Corrupt(_logger, _name, null);
            return default;
        }

        if (_coherence.RemovedBeforeCreation(key, envelope.CreatedWall))
        {
            return default;
        }

        if (envelope.Tags is { } tags)
        {
            if (_journal.ContainsAnyTag(tags))
            {
                return new L2Read { Unavailable = true };
            }

            var allowed = await CheckTagsAsync(tags, envelope.CreatedWall).ConfigureAwait(false);
            if (allowed is null)
            {
                return new L2Read { Unavailable = true };
            }

            if (allowed == false)
            {
                return default;
            }
        }

        T value;
        try
        {
            value = envelope.IsNull ? default! : _serializers.Get<T>().Deserialize(envelope.PayloadSequence);
        }
        catch (Exception ex)
        {
            _metrics.L2Error("corrupt");
            Log.L2Corrupt(_logger, _name, ex);
            return default;
        }

        var nowWall = _clock.WallMs;
        if (fromReplica && (options.LocalCacheExpiration is null || options.LocalCacheExpiration > _options.FailSafeThrottleDuration))
        {
            options = new LeveeEntryOptions
            {
                Expiration = options.Expiration,
                LocalCacheExpiration = _options.FailSafeThrottleDuration,
                FailSafeMaxDuration = options.FailSafeMaxDuration,
                FactorySoftTimeout = options.FactorySoftTimeout,
                FactoryHardTimeout = options.FactoryHardTimeout,
                Flags = options.Flags,
                EarlyRefresh = options.EarlyRefresh,
                Gate = options.Gate,
            };
        }

        var entry = CreateEntry(Hold(value, envelope.Payload), options, envelope.Tags, envelope.CreatedWall, envelope.FreshUntilWall, epoch, nowWall);
        if (envelope.FreshUntilWall > nowWall)
        {
            return new L2Read { Fresh = entry };
        }

        return entry.StaleUntilMono > _clock.MonoMs ? new L2Read { Stale = entry } : default;
    }

    /// <summary>
    /// True: no tag was invalidated after the entry was created. False: one was. Null: a tag's invalidation time could not
    /// be read (the entry is then not used, and nothing is recorded: an unreadable time is never taken as "invalidated now").
    /// </summary>
    private async ValueTask<bool?> CheckTagsAsync(string[] tags, long createdWall)
    {
        var nowMono = _clock.MonoMs;
        var interval = (long)_options.TagCheckInterval.TotalMilliseconds;
        List<string>? toRead = null;
        foreach (var tag in tags)
        {
            if (_coherence.TagNeedsRead(tag, nowMono, interval))
            {
                (toRead ??= []).Add(tag);
            }
        }

        if (toRead is not null)
        {
            var keys = new string[toRead.Count];
            for (var i = 0; i < keys.Length; i++)
            {
                keys[i] = TagKey(toRead[i]);
            }

            var outcome = await _guard!.TryAsync("tags", static (store, k) => store.GetNumbersAsync(k), keys).ConfigureAwait(false);
            if (!outcome.Success)
            {
                outcome = await _replicaGuard!.TryAsync("tags-replica", static (store, k) => store.GetNumbersFromReplicaAsync(k), keys).ConfigureAwait(false);
            }

            if (!outcome.Success)
            {
                return null;
            }

            for (var i = 0; i < keys.Length; i++)
            {
                _coherence.RecordTagInvalidation(toRead[i], outcome.Value[i] ?? 0, checkedNow: true);
            }
        }

        return !_coherence.IsTagInvalidated(tags, createdWall, createdSeq: -1);
    }

    /// <summary>
    /// Writes a value to L2. False when it is not there: L2 unreachable, or the value too large or not serializable
    /// (logged). With <paramref name="shareIfUnreachable"/> (a loaded value), a write the master did not take is shared
    /// with the other instances through the replicas (<see cref="ShareLoadedValueAsync"/>).
    /// </summary>
    private async Task<bool> WriteL2Async<T>(string key, T value, CacheEntry entry, LeveeEntryOptions options, bool shareIfUnreachable = false)
    {
        if (!_coherence.GenerationKnown && !await RefreshGenerationAsync().ConfigureAwait(false))
        {
            return false;
        }

        if (Encode(value, entry) is not { } payload)
        {
            return false;
        }

        var failSafe = (options.FailSafeMaxDuration ?? _options.FailSafeMaxDuration).TotalMilliseconds;
        var ttl = TimeSpan.FromMilliseconds(Math.Max(1, entry.FreshUntilWall - _clock.WallMs + failSafe));
        if (entry.Tags is { Length: > 0 } && ttl > TagRetention)
        {
            // a tagged entry never outlives the record of its tags' invalidations (kept TagRetention + fail-safe from the
            // invalidation): an invalidated entry cannot become visible again when that record expires
            ttl = TagRetention;
        }

        var written = await _guard!.TryAsync("set", static (store, a) => store.SetAsync(a.key, a.payload, a.ttl), (key: DataKey(key), payload, ttl)).ConfigureAwait(false);
        if (written.Success)
        {
            _coherence.ConfirmRemoval(key, entry.CreatedWall); // the entry a removal before it left behind is overwritten
        }

        if (shareIfUnreachable && (TakeAnnounced(key) is var announced && (announced || !written.Success)))
        {
            await ShareLoadedValueAsync(key, payload, announced).ConfigureAwait(false);
        }

        return written.Success;
    }

    /// <summary>The envelope of <paramref name="value"/>; null (logged) when it is too large or its serializer throws. A null
    /// value is said in the envelope's header: a null string or byte array would otherwise read back empty.</summary>
    private byte[]? Encode<T>(T value, CacheEntry entry)
    {
        if (value is null)
        {
            return Envelope.Write(entry.CreatedWall, entry.FreshUntilWall, entry.Tags, default, Envelope.NullValue);
        }

        try
        {
            ReadOnlySpan<byte> bytes;
            if (entry.Value is MutableCopy copy)
            {
                bytes = copy.Payload; // serialized once, for L1's copies
            }
            else
            {
                var buffer = new ArrayBufferWriter<byte>();
                _serializers.Get<T>().Serialize(value, buffer);
                bytes = buffer.WrittenSpan;
            }

            if (bytes.Length > _options.MaximumPayloadBytes)
            {
                Log.PayloadTooLarge(_logger, _name, bytes.Length, _options.MaximumPayloadBytes);
                return null;
            }

            return Envelope.Write(entry.CreatedWall, entry.FreshUntilWall, entry.Tags, bytes);
        }
        catch (Exception ex)
        {
            Log.SerializeFailed(_logger, _name, typeof(T).Name, ex);
            return null;
        }
    }

    /// <summary>Reads the shared generation. A changed generation drops every L1 entry of this instance. False when L2 can't be read.</summary>
    private async ValueTask<bool> RefreshGenerationAsync()
    {
        if (!_l2Started.Task.IsCompleted)
        {
            await _l2Started.Task.ConfigureAwait(false); // a new cache: its first connection, once (bounded by L2StartupWait)
            if (_coherence.GenerationKnown)
            {
                return true;
            }
        }

        var outcome = await _guard!.TryAsync("generation", static (store, k) => store.GetNumbersAsync([k]), GenerationKey).ConfigureAwait(false);
        if (!outcome.Success)
        {
            outcome = await _replicaGuard!.TryAsync("generation-replica", static (store, k) => store.GetNumbersFromReplicaAsync([k]), GenerationKey).ConfigureAwait(false);
        }

        if (!outcome.Success)
        {
            return false;
        }

        var read = outcome.Value[0] ?? 0;
        if (_coherence.GenerationKnown && read < _coherence.Generation)
        {
            // The generation went back (its key evicted by an allkeys-* policy, or a failover lost the latest bump): the
            // entries of an older generation must not become visible again. The known one is kept and written back.
            var known = _coherence.Generation;
            await _guard.TryAsync("generation", static async (store, a) =>
            {
                await store.SetMaxAsync(a.key, a.known, TimeSpan.Zero).ConfigureAwait(false);
                return true;
            }, (key: GenerationKey, known)).ConfigureAwait(false);
            Log.GenerationRestored(_logger, _name, read, known);
            return true;
        }

        ApplyGeneration(read);
        return true;
    }

    private void ApplyGeneration(long generation)
    {
        if (_coherence.ApplyGeneration(generation))
        {
            ClearLocal();
            Log.GenerationChanged(_logger, _name, generation);
        }
    }
}
