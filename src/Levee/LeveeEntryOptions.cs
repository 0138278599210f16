using Microsoft.Extensions.Caching.Hybrid;

namespace Levee;

/// <summary>
/// Per-call options. Every property left null takes the cache-wide value from <see cref="LeveeOptions"/>.
/// Instances are immutable once used; reuse one instance per call site (no allocation per call).
/// </summary>
public sealed class LeveeEntryOptions
{
    private readonly TimeSpan? _expiration;
    private readonly TimeSpan? _localCacheExpiration;
    private readonly TimeSpan? _failSafeMaxDuration;
    private readonly TimeSpan? _factorySoftTimeout;
    private readonly TimeSpan? _factoryHardTimeout;

    /// <summary>Logical expiration (fresh until). Default: <see cref="LeveeOptions.DefaultExpiration"/>.</summary>
    public TimeSpan? Expiration { get => _expiration; init => _expiration = Checked(value, nameof(Expiration), LeveeOptionBounds.DefaultExpiration); }

    /// <summary>Expiration in L1 when it should be shorter than in Redis. Default: same as <see cref="Expiration"/>.</summary>
    public TimeSpan? LocalCacheExpiration { get => _localCacheExpiration; init => _localCacheExpiration = Checked(value, nameof(LocalCacheExpiration), LeveeOptionBounds.DefaultExpiration); }

    /// <summary>Fail-safe window for this entry. Default: <see cref="LeveeOptions.FailSafeMaxDuration"/>.</summary>
    public TimeSpan? FailSafeMaxDuration { get => _failSafeMaxDuration; init => _failSafeMaxDuration = Checked(value, nameof(FailSafeMaxDuration), LeveeOptionBounds.FailSafeMaxDuration); }

    /// <summary>Soft factory timeout for this entry. Default: <see cref="LeveeOptions.FactorySoftTimeout"/>.</summary>
    public TimeSpan? FactorySoftTimeout { get => _factorySoftTimeout; init => _factorySoftTimeout = Checked(value, nameof(FactorySoftTimeout), LeveeOptionBounds.FactorySoftTimeout); }

    /// <summary>Hard factory timeout for this entry. Default: <see cref="LeveeOptions.FactoryHardTimeout"/>.</summary>
    public TimeSpan? FactoryHardTimeout { get => _factoryHardTimeout; init => _factoryHardTimeout = Checked(value, nameof(FactoryHardTimeout), LeveeOptionBounds.FactoryHardTimeout); }

    /// <summary>HybridCache flags (disable L1/L2 reads or writes, or the factory). Default: none.</summary>
    public HybridCacheEntryFlags Flags { get; init; }

    /// <summary>Whether early (background) refresh applies to this entry. Default: true.</summary>
    public bool EarlyRefresh { get; init; } = true;

    /// <summary>
    /// Name of the admission gate the factory calls of this entry pass (one of <see cref="LeveeOptions.Gates"/>).
    /// Default: null, the cache's default gate (<see cref="LeveeOptions.Gate"/>).
    /// </summary>
    public string? Gate { get; init; }

    /// <summary>
    /// True when L1 may keep the entry for <see cref="LocalCacheExpiration"/> even past its expiration: HybridCache options
    /// that set a local expiration but no expiration of their own (HybridCache keeps both apart then).
    /// </summary>
    internal bool LocalOutlivesExpiration { get; init; }

    /// <summary>The same bounds as the cache-wide options (<see cref="LeveeOptionBounds"/>), checked when the value is set.</summary>
    private static TimeSpan? Checked(TimeSpan? value, string name, OptionBound<TimeSpan> bound)
    {
        if (value is not { } v || bound.Allows(v))
        {
            return value;
        }

        throw new ArgumentOutOfRangeException(name, v, bound.Problem("LeveeEntryOptions." + name, v));
    }

    internal static LeveeEntryOptions FromHybrid(HybridCacheEntryOptions? options)
    {
        if (options is null)
        {
            return Default;
        }

        // Apps pass the same few (immutable) HybridCacheEntryOptions again and again: keep the last conversion.
        var last = Volatile.Read(ref _lastConverted);
        if (last is not null && ReferenceEquals(last.Source, options))
        {
            return last.Result;
        }

        var result = new LeveeEntryOptions
        {
            Expiration = options.Expiration,
            LocalCacheExpiration = options.LocalCacheExpiration,
            Flags = options.Flags ?? HybridCacheEntryFlags.None,
            LocalOutlivesExpiration = options.Expiration is null && options.LocalCacheExpiration is not null,
        };
        Volatile.Write(ref _lastConverted, new Converted(options, result));
        return result;
    }

    private static Converted? _lastConverted;

    private sealed record Converted(HybridCacheEntryOptions Source, LeveeEntryOptions Result);

    internal static readonly LeveeEntryOptions Default = new();
}
