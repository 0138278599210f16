using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using BitFaster.Caching.Lru;
using Levee.Internal;
using Levee.Serialization;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee;

/// <summary>
/// A two-level cache (in-process L1 + Redis L2) built for the day Redis fails: single flight per key, fail-safe
/// (stale values when the factory fails), soft/hard factory timeouts, a time budget and a circuit breaker around every
/// Redis call, and invalidations that are never lost while Redis is away. It is a <see cref="HybridCache"/>, so code
/// written against HybridCache works unchanged.
/// </summary>
/// <remarks>
/// Values are kept in L1 as the instances the factory returned (no copy per read, as with FusionCache): treat cached
/// objects as immutable. Use <c>services.AddLevee(...)</c> to create one.
/// </remarks>
public sealed partial class LeveeCache : HybridCache, IAsyncDisposable, IDisposable
{
    private readonly LeveeOptions _options;
    private readonly LeveeClock _clock;
    private readonly FastConcurrentLru<string, CacheEntry> _l1;
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);
    private readonly SerializerRegistry _serializers;

    internal SerializerRegistry Serializers => _serializers;
    private readonly LeveeMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly int _maxKeyLength;
    private long _epoch;
    private int _disposed;

    internal LeveeCache(LeveeOptions options, IL2Store? l2, SerializerRegistry serializers, ILogger? logger, System.Diagnostics.Metrics.IMeterFactory? meterFactory)
    {
        LeveeOptionsValidator.ThrowIfInvalid(options);
        _options = options;
        _name = options.Name;
        _clock = new LeveeClock(options.TimeProvider);
        _l1 = new FastConcurrentLru<string, CacheEntry>(Environment.ProcessorCount, options.L1MaxEntries, StringComparer.Ordinal);
        _serializers = serializers;
        _logger = logger ?? NullLogger.Instance;
        _maxKeyLength = options.MaximumKeyLength;
        _metrics = new LeveeMetrics(meterFactory, options.Name);
        _journal = new InvalidationJournal(options.InvalidationJournalCapacity);
        if (l2 is not null)
        {
            _guard = new L2Guard(l2, options, _metrics, _logger);
            _replicaGuard = new L2Guard(l2, options, _metrics, _logger, replica: true);
            l2.StateChanged += OnL2StateChanged;
            StartBackplane();
            BeginL2Startup(l2);
        }

        // also without Redis: forgetting old change marks and tag records keeps this instance's memory bounded
        _maintenance = NoFlow.Timer(options.TimeProvider, static s => ((LeveeCache)s!).RunMaintenance(), this, options.MaintenanceInterval, options.MaintenanceInterval);

        CreateObservableInstruments();
    }

    /// <summary>The options this cache runs with (validated). Read them; changing them after the cache is built has no
    /// defined effect.</summary>
    public LeveeOptions Options => _options;

    /// <summary>The L2 store (null without L2): for tests and benchmarks.</summary>
    internal IL2Store? L2Store => _guard?.Store;

    /// <summary>True when this cache has an L2 configured (it may still be unavailable right now).</summary>
    public bool HasL2 => _guard is not null;

    /// <inheritdoc />
    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        // Kept thin: through the HybridCache abstraction this is shared generic code for reference types, so the hit
        // reads the clock once, finds the entry without generics and does a single type test; the rest is out of line.
        if (key is not null && (uint)(key.Length - 1) < (uint)_maxKeyLength
            && (options is null || ((options.Flags ?? HybridCacheEntryFlags.None) & HybridCacheEntryFlags.DisableLocalCacheRead) == 0))
        {
            var now = _clock.MonoMs;
            var entry = TryGetFreshEntry(key, now);
            if (entry is not null && entry.Value is T value && entry.RefreshAtMono > now)
            {
                _metrics.HitL1();
                return new ValueTask<T>(value);
            }
        }

        return GetOrCreateHybridCold(key!, state, factory, options, tags, cancellationToken);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ValueTask<T> GetOrCreateHybridCold<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options, IEnumerable<string>? tags, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        var flags = options?.Flags ?? HybridCacheEntryFlags.None;
        if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, out T? value, out var entry))
        {
            if (entry.RefreshAtMono <= _clock.MonoMs)
            {
                StartEarlyRefresh(entry, key, state, factory, LeveeEntryOptions.FromHybrid(options), tags);
            }

            return new ValueTask<T>(value!);
        }

        return GetOrCreateSlowAsync(key, state, factory, LeveeEntryOptions.FromHybrid(options), tags, cancellationToken);
    }

    /// <summary>
    /// Gets the value of <paramref name="key"/> from L1, then L2, then the factory (one factory call per key per process
    /// at a time). The state is passed to the factory so callers need no closure.
    /// </summary>
    /// <param name="key">The key (not null or empty, at most <see cref="LeveeOptions.MaximumKeyLength"/> characters).</param>
    /// <param name="state">State passed to <paramref name="factory"/>.</param>
    /// <param name="factory">Loads the value (usually a database query). Its exception reaches the caller unchanged unless a stale value can be served.</param>
    /// <param name="options">Entry options; null for the cache's defaults.</param>
    /// <param name="tags">Tags of the entry, for <see cref="HybridCache.RemoveByTagAsync(string, CancellationToken)"/>.</param>
    /// <param name="cancellationToken">Cancels this caller's wait, not the load other callers share.</param>
    public ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        options ??= LeveeEntryOptions.Default;
        if ((options.Flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, out T? value, out var entry))
        {
            if (entry.RefreshAtMono <= _clock.MonoMs && options.EarlyRefresh)
            {
                StartEarlyRefresh(entry, key, state, factory, options, tags);
            }

            return new ValueTask<T>(value!);
        }

        return GetOrCreateSlowAsync(key, state, factory, options, tags, cancellationToken);
    }

    /// <summary>Looks the key up in L1 and L2 only (never calls a factory). Returns false when no fresh value exists.</summary>
    public async ValueTask<(bool Found, T? Value)> TryGetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        if (TryGetFresh(key, out T? value, out _))
        {
            return (true, value);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var l2 = await ReadL2Async<T>(key, LeveeEntryOptions.Default, _epoch).ConfigureAwait(false);
        return l2.Fresh is { } fresh ? (true, (T?)fresh.Value) : (false, default);
    }

    /// <inheritdoc />
    public override async ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SetCoreAsync(key, value, LeveeEntryOptions.FromHybrid(options), ToArray(tags), _epoch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes a value to L1 and L2 (and tells other instances to drop their L1 copy).</summary>
    public async ValueTask SetAsync<T>(string key, T value, LeveeEntryOptions options, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SetCoreAsync(key, value, options ?? LeveeEntryOptions.Default, ToArray(tags), _epoch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes every L1 entry of this instance (L2 and other instances are not touched).</summary>
    public void ClearLocal() => Interlocked.Increment(ref _epoch);

    private void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > _maxKeyLength)
        {
            ThrowInvalidKey(key, _maxKeyLength);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalidKey(string key, int max)
    {
        ArgumentNullException.ThrowIfNull(key);

        throw new ArgumentException(key.Length == 0
            ? "A cache key must not be empty."
            : $"A cache key must be at most {max} characters (LeveeOptions.MaximumKeyLength); this one has {key.Length}.", nameof(key));
    }

    private static string[]? ToArray(IEnumerable<string>? tags)
    {
        if (tags is null)
        {
            return null;
        }

        var array = tags as string[] ?? [.. tags];
        if (array.Length == 0)
        {
            return null;
        }

        foreach (var tag in array)
        {
            if (string.IsNullOrEmpty(tag))
            {
                throw new ArgumentException("Tags must not be null or empty.", nameof(tags));
            }
        }

        return array;
    }

    /// <summary>
    /// Stops the background work and closes the Redis connections, blocking until that is done (it waits for the Sentinel
    /// monitor's current check and gives each connection at most 2 s to close). Prefer <see cref="DisposeAsync"/>, which
    /// the .NET host and <c>await using</c> call; this overload exists for containers and callers that dispose synchronously.
    /// Nothing in the teardown captures a synchronization context, so calling it from one does not deadlock.
    /// </summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Stops the background work (timers, the Sentinel monitor, the connect loop) and closes the Redis connections. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_maintenance is not null)
        {
            await _maintenance.DisposeAsync().ConfigureAwait(false);
        }

        EndL2Startup();
        DetachChannel();
        if (_guard is not null)
        {
            _guard.Store.StateChanged -= OnL2StateChanged;
            await _guard.Store.DisposeAsync().ConfigureAwait(false);
            _guard.Dispose();
            _replicaGuard?.Dispose();
        }

        _metrics.Dispose();
    }
}
