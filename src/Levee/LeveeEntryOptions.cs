using Microsoft.Extensions.Caching.Hybrid;

namespace Levee;

/// <summary>
/// Per-call options. Every property left null takes the cache-wide value from <see cref="LeveeOptions"/>.
/// Instances are immutable once used; reuse one instance per call site (no allocation per call).
/// </summary>
public sealed class LeveeEntryOptions
{
    /// <summary>Logical expiration (fresh until). Default: <see cref="LeveeOptions.DefaultExpiration"/>.</summary>
    public TimeSpan? Expiration { get; init; }

    /// <summary>Expiration in L1 when it should be shorter than in Redis. Default: same as <see cref="Expiration"/>.</summary>
    public TimeSpan? LocalCacheExpiration { get; init; }

    /// <summary>Fail-safe window for this entry. Default: <see cref="LeveeOptions.FailSafeMaxDuration"/>.</summary>
    public TimeSpan? FailSafeMaxDuration { get; init; }

    /// <summary>Soft factory timeout for this entry. Default: <see cref="LeveeOptions.FactorySoftTimeout"/>.</summary>
    public TimeSpan? FactorySoftTimeout { get; init; }

    /// <summary>Hard factory timeout for this entry. Default: <see cref="LeveeOptions.FactoryHardTimeout"/>.</summary>
    public TimeSpan? FactoryHardTimeout { get; init; }

    /// <summary>HybridCache flags (disable L1/L2 reads or writes, or the factory). Default: none.</summary>
    public HybridCacheEntryFlags Flags { get; init; }

    /// <summary>Whether early (background) refresh applies to this entry. Default: true.</summary>
    public bool EarlyRefresh { get; init; } = true;

    /// <summary>
    /// Name of the admission gate the factory calls of this entry pass (one of <see cref="LeveeOptions.Gates"/>).
    /// Default: null, the cache's default gate (<see cref="LeveeOptions.Gate"/>).
    /// </summary>
    public string? Gate { get; init; }

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
        };
        Volatile.Write(ref _lastConverted, new Converted(options, result));
        return result;
    }

    private static Converted? _lastConverted;

    private sealed record Converted(HybridCacheEntryOptions Source, LeveeEntryOptions Result);

    internal static readonly LeveeEntryOptions Default = new();
}
