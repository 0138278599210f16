using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Benchmarks;

/// <summary>
/// A copy of Levee's L1 hit path as it is (<see cref="CurrentHit"/>) next to the changes proposed in docs/benchmarks.md
/// (<see cref="ProposedHit"/>: one clock read, an exact-type test instead of the generic cast helper, hits counted in
/// padded per-core stripes instead of a tagged Counter). Both are called through an abstract base with a generic virtual
/// method, as apps that inject <c>HybridCache</c> call Levee, and on the sealed type. It exists to size the proposed
/// engine changes before anyone edits src/; the real engine is measured by the other tables.
/// </summary>
internal static class HitPathPrototype
{
    internal sealed class Entry(object? value, long freshUntilMono, long refreshAtMono, long epoch = 0, string[]? tags = null)
    {
        public readonly object? Value = value;
        public readonly Type? ValueType = value?.GetType();
        public readonly long FreshUntilMono = freshUntilMono;
        public readonly long RefreshAtMono = refreshAtMono;
        public readonly long CreatedWall = 1;
        public readonly long Epoch = epoch;
        public readonly string[]? Tags = tags;
    }

    internal abstract class Base
    {
        public abstract ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null);
    }

    internal abstract class Store : Base
    {
        protected readonly FastConcurrentLru<string, Entry> L1 = new(Environment.ProcessorCount, 100_000, StringComparer.Ordinal);
        protected long EpochValue;
        protected long AllInvalidatedWall;

        /// <summary>As LeveeCache.ClearLocal / RemoveByTag("*"): makes every entry invisible (not used while measuring).</summary>
        public void Invalidate(long wall)
        {
            Interlocked.Increment(ref EpochValue);
            Volatile.Write(ref AllInvalidatedWall, wall);
        }

        public void Add(string key, object value) => L1.AddOrUpdate(key, new Entry(value, long.MaxValue, long.MaxValue));

        [MethodImpl(MethodImplOptions.NoInlining)]
        protected static ValueTask<T> Slow<T>() => throw new InvalidOperationException("the prototype measures hits only");

        [MethodImpl(MethodImplOptions.NoInlining)]
        protected static void ThrowKey() => throw new ArgumentException("bad key");
    }

    /// <summary>Levee's hit path today (LeveeCache.GetOrCreateAsync + TryGetFresh + IsValid + TryUnwrap + metrics).</summary>
    internal sealed class CurrentHit : Store
    {
        private readonly Counter<long> _hits;
        private readonly KeyValuePair<string, object?> _tag = new("cache", "default");

        public CurrentHit(Meter meter) => _hits = meter.CreateCounter<long>("levee.cache.hits");

        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 1024)
            {
                ThrowKey();
            }

            var flags = options?.Flags ?? HybridCacheEntryFlags.None;
            if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, out T? value, out var entry))
            {
                if (entry.RefreshAtMono <= Environment.TickCount64)
                {
                    return Slow<T>();
                }

                return new ValueTask<T>(value!);
            }

            return Slow<T>();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryGetFresh<T>(string key, out T? value, out Entry entry)
        {
            if (L1.TryGet(key, out entry!) && entry.FreshUntilMono > Environment.TickCount64
                && entry.Epoch == Volatile.Read(ref EpochValue) && entry.CreatedWall > Volatile.Read(ref AllInvalidatedWall) && entry.Tags is null
                && TryUnwrap(entry.Value, out value))
            {
                _hits.Add(1, _tag, new("level", "l1"));
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

    /// <summary>Today's path with the clock read once per hit.</summary>
    internal sealed class OneClockHit : Store
    {
        private readonly Counter<long> _hits;
        private readonly KeyValuePair<string, object?> _tag = new("cache", "default");

        public OneClockHit(Meter meter) => _hits = meter.CreateCounter<long>("levee.cache.hits");

        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 1024)
            {
                ThrowKey();
            }

            var flags = options?.Flags ?? HybridCacheEntryFlags.None;
            var now = Environment.TickCount64;
            if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, now, out T? value, out var entry))
            {
                if (entry.RefreshAtMono <= now)
                {
                    return Slow<T>();
                }

                return new ValueTask<T>(value!);
            }

            return Slow<T>();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryGetFresh<T>(string key, long now, out T? value, out Entry entry)
        {
            if (L1.TryGet(key, out entry!) && entry.FreshUntilMono > now
                && entry.Epoch == Volatile.Read(ref EpochValue) && entry.CreatedWall > Volatile.Read(ref AllInvalidatedWall) && entry.Tags is null
                && TryUnwrap(entry.Value, out value))
            {
                _hits.Add(1, _tag, new("level", "l1"));
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

    /// <summary>One clock read, no hit counter on the hit path.</summary>
    internal sealed class OneClockNoCounterHit : Store
    {

        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 1024)
            {
                ThrowKey();
            }

            var flags = options?.Flags ?? HybridCacheEntryFlags.None;
            var now = Environment.TickCount64;
            if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, now, out T? value, out var entry))
            {
                if (entry.RefreshAtMono <= now)
                {
                    return Slow<T>();
                }

                return new ValueTask<T>(value!);
            }

            return Slow<T>();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryGetFresh<T>(string key, long now, out T? value, out Entry entry)
        {
            if (L1.TryGet(key, out entry!) && entry.FreshUntilMono > now
                && entry.Epoch == Volatile.Read(ref EpochValue) && entry.CreatedWall > Volatile.Read(ref AllInvalidatedWall) && entry.Tags is null
                && TryUnwrap(entry.Value, out value))
            {
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

    /// <summary>One clock read, no hit counter, exact-type test before the generic cast.</summary>
    internal sealed class OneClockNoCounterExactTypeHit : Store
    {

        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 1024)
            {
                ThrowKey();
            }

            var flags = options?.Flags ?? HybridCacheEntryFlags.None;
            var now = Environment.TickCount64;
            if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, now, out T? value, out var entry))
            {
                if (entry.RefreshAtMono <= now)
                {
                    return Slow<T>();
                }

                return new ValueTask<T>(value!);
            }

            return Slow<T>();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryGetFresh<T>(string key, long now, out T? value, out Entry entry)
        {
            if (L1.TryGet(key, out entry!) && entry.FreshUntilMono > now
                && entry.Epoch == Volatile.Read(ref EpochValue) && entry.CreatedWall > Volatile.Read(ref AllInvalidatedWall) && entry.Tags is null
                && TryUnwrap(entry, out value))
            {
                return true;
            }

            value = default;
            return false;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool TryUnwrap<T>(Entry entry, out T? value)
        {
            if (entry.ValueType == typeof(T))
            {
                value = typeof(T).IsValueType ? (T)entry.Value! : Unsafe.As<object?, T>(ref Unsafe.AsRef(in entry.Value));
                return true;
            }

            var stored = entry.Value;
            if (stored is T typed)
            {
                value = typed;
                return true;
            }

            value = default;
            return stored is null && default(T) is null;
        }
    }

    /// <summary>The proposed hit path: one clock read, exact-type test, striped hit counter.</summary>
    internal sealed class ProposedHit : Store
    {
        private readonly long[] _hitStripes = new long[16 * 8];

        public long Hits => _hitStripes.Sum();

        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 1024)
            {
                ThrowKey();
            }

            if (options is not null && (options.Flags & HybridCacheEntryFlags.DisableLocalCacheRead) != 0)
            {
                return Slow<T>();
            }

            var now = Environment.TickCount64;
            var entry = TryGetFreshEntry(key, now);
            if (entry is not null && entry.RefreshAtMono > now && TryUnwrap(entry, out T? value))
            {
                return new ValueTask<T>(value!);
            }

            return Slow<T>();
        }

        /// <summary>Non-generic: the shared generic body above keeps only the type test.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Entry? TryGetFreshEntry(string key, long now)
        {
            if (L1.TryGet(key, out var entry) && entry.FreshUntilMono > now
                && entry.Epoch == Volatile.Read(ref EpochValue) && entry.CreatedWall > Volatile.Read(ref AllInvalidatedWall) && entry.Tags is null)
            {
                Interlocked.Increment(ref _hitStripes[(Thread.GetCurrentProcessorId() & 15) << 3]);
                return entry;
            }

            return null;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool TryUnwrap<T>(Entry entry, out T? value)
        {
            if (entry.ValueType == typeof(T))
            {
                value = typeof(T).IsValueType ? (T)entry.Value! : Unsafe.As<object?, T>(ref Unsafe.AsRef(in entry.Value));
                return true;
            }

            if (entry.Value is T typed)
            {
                value = typed;
                return true;
            }

            value = default;
            return entry.Value is null && default(T) is null;
        }
    }
}
