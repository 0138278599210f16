using System.Runtime.CompilerServices;
using BitFaster.Caching.Lru;
using Levee.Internal;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Benchmarks;

/// <summary>
/// Two <see cref="HybridCache"/> subclasses built from Levee's own internal types (CacheEntry, LeveeClock, LeveeMetrics,
/// LeveeEntryOptions): <see cref="TodayShape"/> is a line-by-line copy of <c>LeveeCache.GetOrCreateAsync</c>'s hit path
/// (the HybridCache override with TryGetFresh/IsValid/TryUnwrap inlined into it, early refresh and the slow path
/// reachable from the same body); <see cref="ThinShape"/> is the proposed layout: the override keeps only the hit
/// (one clock read, a non-generic lookup, one type test) and sends everything else to a [NoInlining] cold method.
/// Both are called through <see cref="HybridCache"/>, as apps that inject HybridCache call Levee. Only the hit is
/// implemented; the other members throw.
/// </summary>
internal static class EngineShapePrototype
{
    internal abstract class ShapeBase : HybridCache
    {
        protected readonly FastConcurrentLru<string, CacheEntry> L1 = new(Environment.ProcessorCount, 100_000, StringComparer.Ordinal);
        protected readonly LeveeClock Clock = new(TimeProvider.System);
        protected readonly LeveeMetrics Metrics = new(null, "prototype");
        protected readonly int MaxKeyLength = 1024;
        protected long Epoch;
        protected long AllInvalidatedWall;

        /// <summary>As ClearLocal / RemoveByTag("*") (not used while measuring).</summary>
        public void Invalidate(long wall)
        {
            Interlocked.Increment(ref Epoch);
            Volatile.Write(ref AllInvalidatedWall, wall);
        }

        public void Add(string key, object value)
        {
            var now = Clock.MonoMs;
            L1.AddOrUpdate(key, new CacheEntry(value, Clock.WallMs, now + 3_600_000, now + 7_200_000, now + 3_000_000, Clock.WallMs + 3_600_000, null, 0));
        }

        protected void ValidateKey(string key)
        {
            if (string.IsNullOrEmpty(key) || key.Length > MaxKeyLength)
            {
                ThrowKey();
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        protected bool IsValid(CacheEntry entry) =>
            entry.Epoch == Volatile.Read(ref Epoch)
            && entry.CreatedWall > Volatile.Read(ref AllInvalidatedWall)
            && (entry.Tags is null || !IsTagInvalidated(entry.Tags));

        [MethodImpl(MethodImplOptions.NoInlining)]
        protected static bool IsTagInvalidated(string[] tags) => tags.Length < 0;

        [MethodImpl(MethodImplOptions.NoInlining)]
        protected static void ThrowKey() => throw new ArgumentException("bad key");

        [MethodImpl(MethodImplOptions.NoInlining)]
        protected static ValueTask<T> Slow<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, LeveeEntryOptions options,
            IEnumerable<string>? tags, CancellationToken cancellationToken) => throw new InvalidOperationException("the prototype measures hits only");

        [MethodImpl(MethodImplOptions.NoInlining)]
        protected static void StartEarlyRefresh<TState, T>(CacheEntry entry, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            LeveeEntryOptions options, IEnumerable<string>? tags) => throw new InvalidOperationException("the prototype measures hits only");

        public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

    /// <summary>A copy of today's LeveeCache hit path.</summary>
    internal sealed class TodayShape : ShapeBase
    {
        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
        {
            ValidateKey(key);
            var flags = options?.Flags ?? HybridCacheEntryFlags.None;
            if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, out T? value, out var entry))
            {
                if (entry.RefreshAtMono <= Clock.MonoMs)
                {
                    StartEarlyRefresh(entry, key, state, factory, LeveeEntryOptions.FromHybrid(options), tags);
                }

                return new ValueTask<T>(value!);
            }

            return Slow(key, state, factory, LeveeEntryOptions.FromHybrid(options), tags, cancellationToken);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryGetFresh<T>(string key, out T? value, out CacheEntry entry)
        {
            if (L1.TryGet(key, out entry!) && entry.FreshUntilMono > Clock.MonoMs && IsValid(entry) && TryUnwrap(entry.Value, out value))
            {
                Metrics.HitL1();
                return true;
            }

            value = default;
            return false;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool TryUnwrap<T>(object? stored, out T? value)
        {
            if (stored is T typed)
            {
                value = typed;
                return true;
            }

            value = default;
            return stored is null && default(T) is null;
        }
    }

    /// <summary>The proposed layout: a thin generic override over a non-generic lookup; everything else is cold.</summary>
    internal sealed class ThinShape : ShapeBase
    {
        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
        {
            if (options?.Flags is not { } flags || (flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0)
            {
                var now = Clock.MonoMs;
                var entry = TryGetFreshEntry(key, now);
                if (entry is not null && entry.Value is T value && entry.RefreshAtMono > now)
                {
                    return new ValueTask<T>(value);
                }
            }

            return GetOrCreateCold(key, state, factory, options, tags, cancellationToken);
        }

        /// <summary>Non-generic: key validation, lookup, freshness, validity, hit counter.</summary>
        private CacheEntry? TryGetFreshEntry(string key, long now)
        {
            ValidateKey(key);
            if (L1.TryGet(key, out var entry) && entry.FreshUntilMono > now && IsValid(entry))
            {
                Metrics.HitL1();
                return entry;
            }

            return null;
        }

        /// <summary>Everything that is not a plain hit: null values, early refresh, flags, the slow path (as today's code does it).</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private ValueTask<T> GetOrCreateCold<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options, IEnumerable<string>? tags, CancellationToken cancellationToken)
        {
            ValidateKey(key);
            return Slow(key, state, factory, LeveeEntryOptions.FromHybrid(options), tags, cancellationToken);
        }
    }
}
