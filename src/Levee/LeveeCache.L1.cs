using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Levee.Internal;

namespace Levee;

public sealed partial class LeveeCache
{
    // tag -> wall time (Unix ms) of its latest invalidation known to this instance, and when it was last read from L2
    private readonly ConcurrentDictionary<string, TagState> _tags = new(StringComparer.Ordinal);
    private long _allInvalidatedWall; // RemoveByTagAsync("*")

    /// <summary>
    /// The sequence position of the latest tag invalidation or L1 drop (clear-all, failover): a load that began before it may
    /// return a value that is invalid now, so a caller that comes later does not join it (it waits for it, then reads again).
    /// </summary>
    private long _broadInvalidationSeq;
    private long _tagHorizonWall; // the latest tag invalidation forgotten by PruneLocalState: tagged entries created before it count as invalidated

    /// <summary>The L1 hit path: no allocation, no lock.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryGetFresh<T>(string key, out T? value, out CacheEntry entry)
    {
        if (_l1.TryGet(key, out entry!) && entry.FreshUntilMono > _clock.MonoMs && IsValid(entry) && TryUnwrap(entry.Value, out value))
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
        _l1.TryGet(key, out var entry) && entry.FreshUntilMono > nowMono && IsValid(entry) ? entry : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsValid(CacheEntry entry) =>
        entry.Epoch == Volatile.Read(ref _epoch)
        && (entry.CreatedWall > Volatile.Read(ref _allInvalidatedWall) || ClearedBefore(entry))
        && (entry.Tags is null || !IsTagInvalidated(entry.Tags, entry.CreatedWall, entry.CreatedSeq));

    /// <summary>
    /// An entry this instance loaded in the same millisecond as the last clear-all: valid when its load began after the
    /// clear. Every clear-all drops this instance's L1 (a new epoch) after raising the time, so a load of the current epoch
    /// began after it (<see cref="IsValid"/> checks the epoch first).
    /// </summary>
    private bool ClearedBefore(CacheEntry entry) => entry.CreatedSeq >= 0 && entry.CreatedWall == Volatile.Read(ref _allInvalidatedWall);

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

    /// <summary>
    /// Whether a tag of an entry created at <paramref name="createdWall"/> was invalidated since. Within one millisecond the
    /// order is this instance's sequence of changes: an invalidation recorded (made here, received, or read from Redis)
    /// before the entry's load began (<paramref name="createdSeq"/>) does not invalidate it; without a sequence (an entry
    /// from Redis) a tie counts as invalidated.
    /// </summary>
    private bool IsTagInvalidated(string[] tags, long createdWall, long createdSeq)
    {
        if (tags.Length > 0 && createdWall <= Volatile.Read(ref _tagHorizonWall))
        {
            return true; // one of its tags may have been invalidated after it was created; that record is forgotten
        }

        foreach (var tag in tags)
        {
            if (_tags.TryGetValue(tag, out var state) && (state.InvalidatedWall > createdWall
                || (state.InvalidatedWall == createdWall && (createdSeq < 0 || state.Seq > createdSeq))))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>An L1 entry that is past its freshness but inside its fail-safe window (and not invalidated).</summary>
    private CacheEntry? GetStale(string key)
    {
        if (_l1.TryGet(key, out var entry) && entry.StaleUntilMono > _clock.MonoMs && IsValid(entry))
        {
            return entry;
        }

        return null;
    }

    private void RecordTagInvalidation(string tag, long wall, bool checkedNow)
    {
        var nowMono = _clock.MonoMs;

        // the invalidation happened before this record: a load that begins after it (a later sequence position) read newer data
        var seq = Interlocked.Increment(ref _invalidationSeq);
        var known = _tags.TryGetValue(tag, out var before) ? before.InvalidatedWall : 0;
        if (!checkedNow || wall > known)
        {
            Atomic.Max(ref _broadInvalidationSeq, seq); // a new invalidation (not a re-read of a known one): loads running now may predate it
        }

        _tags.AddOrUpdate(tag,
            static (_, a) => new TagState(a.wall, a.checkedNow ? a.nowMono : long.MinValue, a.seq),
            static (_, old, a) => new TagState(Math.Max(old.InvalidatedWall, a.wall), a.checkedNow ? a.nowMono : old.CheckedMono,
                a.wall >= old.InvalidatedWall ? a.seq : old.Seq),
            (wall, checkedNow, nowMono, seq));
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
    internal int LocalStateCount => _removals.Count + _tags.Count;

    /// <summary>A tag's latest invalidation known here (Unix ms), when it was last read from Redis, and the position in this
    /// instance's sequence of changes when that invalidation was recorded (orders it against loads in the same millisecond).</summary>
    private readonly record struct TagState(long InvalidatedWall, long CheckedMono, long Seq);
}
