using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Levee.Internal;

namespace Levee;

public sealed partial class LeveeCache
{
    /// <summary>The L1 hit path: no allocation, no lock.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryGetFresh<T>(string key, out T? value, out CacheEntry entry)
    {
        if (_l1.TryGet(key, out entry!) && entry.FreshUntilMono > _clock.MonoMs && _coherence.IsValid(entry) && TryUnwrap(entry.Value, out value))
        {
            _metrics.HitL1();
            return true;
        }

        value = default;
        return false;
    }

    /// <summary>The non-generic part of a hit: a fresh, valid entry or null (no metric counted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private CacheEntry? TryGetFreshEntry(string key, long nowMono) =>
        _l1.TryGet(key, out var entry) && entry.FreshUntilMono > nowMono && _coherence.IsValid(entry) ? entry : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryUnwrap<T>(object? stored, out T? value)
    {
        if (stored is T typed && typed is not MutableCopy)
        {
            value = typed;
            return true;
        }

        if (stored is MutableCopy copy)
        {
            return TryTakeCopy(copy, out value);
        }

        value = default;
        return stored is null && default(T) is null;
    }

    /// <summary>A new instance of a mutable type's value (read as <typeparamref name="T"/>, its type or a base of it).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool TryTakeCopy<T>(MutableCopy copy, out T? value)
    {
        if (copy is MutableCopy<T> typed)
        {
            value = typed.Take();
            return true;
        }

        if (typeof(T).IsAssignableFrom(copy.ValueType))
        {
            value = (T?)copy.TakeObject();
            return true;
        }

        value = default;
        return false;
    }

    /// <summary>Whether <paramref name="stored"/> can be read as <typeparamref name="T"/> (nothing is copied).</summary>
    private static bool Holds<T>(object? stored) =>
        stored is MutableCopy copy ? typeof(T).IsAssignableFrom(copy.ValueType) : stored is T || (stored is null && default(T) is null);

    /// <summary>What a caller gets from an entry's value: the value, or a new instance of a mutable type's.</summary>
    private static T Take<T>(object? stored) => stored is MutableCopy copy ? TryTakeCopy(copy, out T? value) ? value! : (T)stored : (T)stored!;

    /// <summary>Whether this cache copies values of <typeparamref name="T"/> per read.</summary>
    private bool Copies<T>() => _copyMutable && !ImmutableTypes<T>.Value;

    /// <summary>
    /// What L1 keeps of <paramref name="value"/>: the value, or for a mutable type its serialized copy (<paramref name="payload"/>
    /// when the bytes are at hand: a read from L2 or the snapshot, whose just deserialized <paramref name="value"/> is then
    /// handed out once). A value whose serializer throws can't be copied: it is kept as it is, and logged (event 7).
    /// </summary>
    private object? Hold<T>(T value, ReadOnlyMemory<byte>? payload = null)
    {
        if (value is null || !Copies<T>() || ImmutableTypes.IsImmutableInstance(value))
        {
            return value;
        }

        var serializer = _serializers.Get<T>();
        if (payload is { } bytes)
        {
            return new MutableCopy<T>(bytes.ToArray(), serializer, value);
        }

        try
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            serializer.Serialize(value, buffer);
            return new MutableCopy<T>(buffer.WrittenSpan.ToArray(), serializer, default);
        }
        catch (Exception ex)
        {
            Log.SerializeFailed(_logger, _name, typeof(T).Name, ex);
            return value;
        }
    }

    /// <summary>An L1 entry that is past its freshness but inside its fail-safe window (and not invalidated).</summary>
    private CacheEntry? GetStale(string key)
    {
        if (_l1.TryGet(key, out var entry) && entry.StaleUntilMono > _clock.MonoMs && _coherence.IsValid(entry))
        {
            return entry;
        }

        return null;
    }

    /// <summary>
    /// Builds an L1 entry. Expiration is shortened by jitter; the fail-safe window extends how long the entry may be
    /// served stale; early refresh starts at <see cref="LeveeOptions.EarlyRefreshRatio"/> of the (jittered) lifetime.
    /// <paramref name="freshUntilWall"/> is the shared logical expiry when the value came from L2.
    /// </summary>
    private CacheEntry CreateEntry(object? value, LeveeEntryOptions options, string[]? tags, long createdWall, long freshUntilWall, long epoch,
        long nowWall = long.MinValue, long createdSeq = -1)
    {
        var nowMono = _clock.MonoMs;
        if (nowWall == long.MinValue)
        {
            nowWall = _clock.WallMs; // the caller did not read the wall clock already
        }

        var remaining = Math.Max(0, freshUntilWall - nowWall);
        if (options.LocalCacheExpiration is { } local)
        {
            // HybridCache keeps a local expiration longer than the (default) expiration when the options set no expiration
            remaining = options.LocalOutlivesExpiration ? (long)local.TotalMilliseconds : Math.Min(remaining, (long)local.TotalMilliseconds);
        }

        var failSafe = (long)(options.FailSafeMaxDuration ?? _options.FailSafeMaxDuration).TotalMilliseconds;
        var lifetime = Math.Max(1, freshUntilWall - createdWall);
        var ratio = options.EarlyRefresh ? _options.EarlyRefreshRatio : 1.0;
        var refreshAtMono = ratio >= 1.0 ? long.MaxValue : nowMono + (createdWall + (long)(lifetime * ratio) - nowWall);
        var freshUntilMono = nowMono + remaining;
        var staleUntilMono = Math.Max(freshUntilMono, nowMono + Math.Max(0, freshUntilWall + failSafe - nowWall));
        return new CacheEntry(value, createdWall, freshUntilMono, staleUntilMono, refreshAtMono, freshUntilWall, tags, epoch, createdSeq);
    }

    /// <summary>The logical expiry of a value created now: the expiration shortened by a random jitter.</summary>
    private long ComputeFreshUntilWall(LeveeEntryOptions options, long createdWall)
    {
        var expiration = (options.Expiration ?? _defaultExpiration).TotalMilliseconds;
        var jitter = _options.JitterFraction <= 0 ? 0 : Random.Shared.NextDouble() * _options.JitterFraction;
        return createdWall + Math.Max(1, (long)(expiration * (1 - jitter)));
    }

    private void WriteL1(string key, CacheEntry entry, LeveeEntryOptions options)
    {
        if ((options.Flags & Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableLocalCacheWrite) == 0)
        {
            _l1.AddOrUpdate(key, entry);
        }
    }

    internal int L1Count => _l1.Count;

    /// <summary>Change marks and tag records this instance holds (for tests: they must stay bounded).</summary>
    internal int LocalStateCount => _coherence.Count;
}
