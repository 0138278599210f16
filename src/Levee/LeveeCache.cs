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
/// As with Microsoft's HybridCache, a value of a mutable type is copied for each read (L1 keeps its serialized bytes);
/// strings, value types without references and sealed types marked <c>[ImmutableObject(true)]</c> are shared, and their
/// L1 hit allocates nothing (<see cref="LeveeOptions.CopyMutableValues"/>). Use <c>services.AddLevee(...)</c> to create one.
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
    private readonly bool _copyMutable;
    private readonly TimeSpan _defaultExpiration; // LeveeOptions.DefaultEntryOptions.Expiration, else DefaultExpiration
    private readonly HybridCacheEntryFlags _defaultFlags; // LeveeOptions.DefaultEntryOptions.Flags
    private readonly LeveeEntryOptions _hybridDefault; // a HybridCache call without options
    private readonly Coherence _coherence;
    private int _disposed;

    internal LeveeCache(LeveeOptions options, IL2Store? l2, SerializerRegistry serializers, ILogger? logger, System.Diagnostics.Metrics.IMeterFactory? meterFactory)
    {
        // validated once, by the options validator (the DI registration's ValidateOnStart); not again here
        _options = options;
        _name = options.Name;
        _clock = new LeveeClock(options.TimeProvider);
        _coherence = new Coherence(_clock);
        _l1 = new FastConcurrentLru<string, CacheEntry>(Environment.ProcessorCount, options.L1MaxEntries, StringComparer.Ordinal);
        _serializers = serializers;
        _logger = logger ?? NullLogger.Instance;
        _maxKeyLength = options.MaximumKeyLength;
        _copyMutable = options.CopyMutableValues;
        _defaultFlags = options.DefaultEntryOptions?.Flags ?? HybridCacheEntryFlags.None;
        _hybridDefault = options.DefaultEntryOptions is { } defaults
            ? new LeveeEntryOptions
            {
                LocalCacheExpiration = defaults.LocalCacheExpiration is { } local && defaults.Expiration is { } overall && overall < local
                    ? overall : defaults.LocalCacheExpiration ?? defaults.Expiration,
                Flags = _defaultFlags,
                LocalOutlivesExpiration = defaults.Expiration is null && defaults.LocalCacheExpiration is not null,
            }
            : LeveeEntryOptions.Default;
        _defaultExpiration = options.DefaultEntryOptions?.Expiration ?? options.DefaultExpiration;
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
        CacheEntry? entry = null;
        if (key is not null && (uint)(key.Length - 1) < (uint)_maxKeyLength
            && ((options?.Flags ?? _defaultFlags) & HybridCacheEntryFlags.DisableLocalCacheRead) == 0)
        {
            var now = _clock.MonoMs;
            entry = TryGetFreshEntry(key, now);
            if (entry is not null && !entry.HoldsCopy && entry.Value is T value && entry.RefreshAtMono > now)
            {
                _metrics.HitL1();
                return new ValueTask<T>(value);
            }
        }

        return GetOrCreateHybridCold(key!, entry, state, factory, options, tags, cancellationToken);
    }

    /// <summary>
    /// The HybridCache overload past its inline hit: <paramref name="entry"/> is what it found in L1 (fresh and valid:
    /// a copy to take, a value to refresh, or another type), null for a miss (L1 is not looked up again).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ValueTask<T> GetOrCreateHybridCold<TState, T>(string key, CacheEntry? entry, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options, IEnumerable<string>? tags, CancellationToken cancellationToken)
    {
        var flags = options?.Flags ?? _defaultFlags;
        if (!IsCacheable(key))
        {
            return RunUncached(state, factory, flags, cancellationToken);
        }

        if (entry is not null && TryUnwrap(entry.Value, out T? value))
        {
            _metrics.HitL1();
            if (entry.RefreshAtMono <= _clock.MonoMs)
            {
                StartEarlyRefresh(entry, key, state, factory, FromHybrid(options), tags);
            }

            return new ValueTask<T>(value!);
        }

        return GetOrCreateSlowAsync(key, state, factory, FromHybrid(options), tags, cancellationToken);
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
        options ??= LeveeEntryOptions.Default;

        // only a cacheable key is ever in L1: the length test keeps null and over-long keys out of the lookup, the full
        // check runs on a miss
        if (key is not null && (uint)(key.Length - 1) < (uint)_maxKeyLength
            && (options.Flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0 && TryGetFresh(key, out T? value, out var entry))
        {
            if (entry.RefreshAtMono <= _clock.MonoMs && options.EarlyRefresh)
            {
                StartEarlyRefresh(entry, key, state, factory, options, tags);
            }

            return new ValueTask<T>(value!);
        }

        if (!IsCacheable(key))
        {
            return RunUncached(state, factory, options.Flags, cancellationToken);
        }

        return GetOrCreateSlowAsync(key, state, factory, options, tags, cancellationToken);
    }

    /// <summary>Looks the key up in L1 and L2 only (never calls a factory). Returns false when no fresh value exists.</summary>
    public async ValueTask<(bool Found, T? Value)> TryGetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        if (!IsCacheable(key))
        {
            return (false, default);
        }

        if (TryGetFresh(key, out T? value, out _))
        {
            return (true, value);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var l2 = await ReadL2Async<T>(key, LeveeEntryOptions.Default, _coherence.Epoch).ConfigureAwait(false);
        return l2.Fresh is { } fresh ? (true, Take<T>(fresh.Value)) : (false, default);
    }

    /// <inheritdoc />
    public override async ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        if (!IsCacheable(key))
        {
            return;
        }

        await SetCoreAsync(key, value, FromHybrid(options), ToArray(tags), _coherence.Epoch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes a value to L1 and L2 (and tells other instances to drop their L1 copy).</summary>
    public async ValueTask SetAsync<T>(string key, T value, LeveeEntryOptions options, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        if (!IsCacheable(key))
        {
            return;
        }

        await SetCoreAsync(key, value, options ?? LeveeEntryOptions.Default, ToArray(tags), _coherence.Epoch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes every L1 entry of this instance (L2 and other instances are not touched).</summary>
    public void ClearLocal()
    {
        _coherence.DropLocal();
    }

    /// <summary>
    /// A HybridCache call's options with the cache's defaults (<see cref="LeveeOptions.DefaultEntryOptions"/>), as HybridCache
    /// applies them: none given, the defaults; Flags left null, the default flags; neither expiration given, the default
    /// local expiration.
    /// </summary>
    private LeveeEntryOptions FromHybrid(HybridCacheEntryOptions? options)
    {
        if (options is null)
        {
            return _hybridDefault;
        }

        var converted = LeveeEntryOptions.FromHybrid(options);
        var flags = options.Flags is null && _defaultFlags != HybridCacheEntryFlags.None;
        var local = options.Expiration is null && options.LocalCacheExpiration is null && _hybridDefault.LocalCacheExpiration is not null;
        return !flags && !local ? converted : new LeveeEntryOptions
        {
            Expiration = converted.Expiration,
            LocalCacheExpiration = local ? _hybridDefault.LocalCacheExpiration : converted.LocalCacheExpiration,
            LocalOutlivesExpiration = local ? _hybridDefault.LocalOutlivesExpiration : converted.LocalOutlivesExpiration,
            Flags = flags ? _defaultFlags : converted.Flags,
        };
    }

    /// <summary>What a HybridCache call's options come to (for tests): flags, expiration, and how long L1 keeps the value.</summary>
    internal (HybridCacheEntryFlags Flags, TimeSpan Expiration, TimeSpan LocalExpiration) EffectiveOptions(HybridCacheEntryOptions? options)
    {
        var effective = FromHybrid(options);
        var expiration = effective.Expiration ?? _defaultExpiration;
        var local = effective.LocalCacheExpiration is not { } l ? expiration : effective.LocalOutlivesExpiration || l < expiration ? l : expiration;
        return (effective.Flags, expiration, local);
    }

    /// <summary>
    /// Whether <paramref name="key"/> can be cached. As with Microsoft's HybridCache, a key that is null, empty or white
    /// space, longer than <see cref="LeveeOptions.MaximumKeyLength"/> or holding a control character (U+0000 to U+001F) is
    /// not an error: the factory runs, its value is returned, nothing is cached, and the reason is logged (event 19; the
    /// key itself is never logged).
    /// </summary>
    private bool IsCacheable([NotNullWhen(true)] string? key)
    {
        var problem = string.IsNullOrWhiteSpace(key) ? "null, empty or white space"
            : key.Length > _maxKeyLength ? "longer than LeveeOptions.MaximumKeyLength"
            : key.AsSpan().IndexOfAnyInRange('\u0000', '\u001F') >= 0 ? "holds a control character"
            : null;
        if (problem is null)
        {
            return true;
        }

        Log.KeyNotCacheable(_logger, _name, problem, key?.Length ?? 0, _maxKeyLength);
        return false;
    }

    /// <summary>A read whose key can't be cached: the factory's value, as it is (or default with DisableUnderlyingData).</summary>
    private static ValueTask<T> RunUncached<TState, T>(TState state, Func<TState, CancellationToken, ValueTask<T>> factory, HybridCacheEntryFlags flags,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<T>(cancellationToken);
        }

        return (flags & HybridCacheEntryFlags.DisableUnderlyingData) == 0 ? factory(state, cancellationToken) : default;
    }

    /// <summary>The most tags an entry may have, and the longest tag in UTF-8 bytes: the envelope stores both in 16 bits.</summary>
    internal const int MaxTags = ushort.MaxValue;

    /// <inheritdoc cref="MaxTags"/>
    internal const int MaxTagBytes = ushort.MaxValue;

    /// <summary>
    /// The entry's tags, copied (the caller may clear or reuse its array afterwards) and checked as HybridCache checks them:
    /// not null, empty or white space, and not <c>"*"</c> (it means "every entry" to <c>RemoveByTagAsync</c>). At most
    /// <see cref="MaxTags"/> tags of at most <see cref="MaxTagBytes"/> UTF-8 bytes each, so that every reader can parse the entry.
    /// </summary>
    private static string[]? ToArray(IEnumerable<string>? tags)
    {
        if (tags is null)
        {
            return null;
        }

        string[] array = [.. tags];
        if (array.Length == 0)
        {
            return null;
        }

        if (array.Length > MaxTags)
        {
            throw new ArgumentException($"An entry can have at most {MaxTags} tags; this one has {array.Length}.", nameof(tags));
        }

        foreach (var tag in array)
        {
            if (string.IsNullOrWhiteSpace(tag))
            {
                throw new ArgumentException("Tags must not be null, empty or white space.", nameof(tags));
            }

            if (tag == "*")
            {
                throw new ArgumentException("The tag '*' is reserved (RemoveByTagAsync(\"*\") removes every entry) and can't be an entry's tag.", nameof(tags));
            }

            if (tag.Length > MaxTagBytes / 3 && System.Text.Encoding.UTF8.GetByteCount(tag) > MaxTagBytes)
            {
                throw new ArgumentException($"A tag can be at most {MaxTagBytes} bytes in UTF-8; one has {System.Text.Encoding.UTF8.GetByteCount(tag)}.", nameof(tags));
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
