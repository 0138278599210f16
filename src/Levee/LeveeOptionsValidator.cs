using System.Globalization;
using Microsoft.Extensions.Options;

namespace Levee;

/// <summary>Validates <see cref="LeveeOptions"/> once, at start-up; reports every problem in one message naming the values.</summary>
internal sealed class LeveeOptionsValidator : IValidateOptions<LeveeOptions>
{
    public ValidateOptionsResult Validate(string? name, LeveeOptions options)
    {
        var errors = Collect(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public static void ThrowIfInvalid(LeveeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = Collect(options);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(LeveeOptions), errors);
        }
    }

    internal static List<string> Collect(LeveeOptions o)
    {
        var errors = new List<string>();
        void Range(string name, TimeSpan value, TimeSpan min, TimeSpan max, bool infiniteAllowed = false)
        {
            if (infiniteAllowed && value == Timeout.InfiniteTimeSpan)
            {
                return;
            }

            if (value < min || value > max)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"LeveeOptions.{name} is {value}; it must be between {min} and {max}{(infiniteAllowed ? " (or Timeout.InfiniteTimeSpan)" : "")}."));
            }
        }

        void Number(string name, double value, double min, double max)
        {
            if (double.IsNaN(value) || value < min || value > max)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"LeveeOptions.{name} is {value}; it must be between {min} and {max}."));
            }
        }

        Range(nameof(o.DefaultExpiration), o.DefaultExpiration, TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(365));
        if (!string.IsNullOrWhiteSpace(o.ConnectionName) && string.IsNullOrWhiteSpace(o.Redis))
        {
            errors.Add($"LeveeOptions.ConnectionName is '{o.ConnectionName}' but the configuration has no connection string ConnectionStrings:{o.ConnectionName} (and LeveeOptions.Redis is not set).");
        }

        if (o.DefaultEntryOptions is { } defaults)
        {
            if (defaults.Expiration is { } expiration)
            {
                Range("DefaultEntryOptions.Expiration", expiration, TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(365));
            }

            if (defaults.LocalCacheExpiration is { } local)
            {
                Range("DefaultEntryOptions.LocalCacheExpiration", local, TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(365));
            }
        }

        Range(nameof(o.FailSafeMaxDuration), o.FailSafeMaxDuration, TimeSpan.Zero, TimeSpan.FromDays(30));
        Range(nameof(o.FailSafeThrottleDuration), o.FailSafeThrottleDuration, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        Range(nameof(o.FactorySoftTimeout), o.FactorySoftTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), infiniteAllowed: true);
        Range(nameof(o.FactoryHardTimeout), o.FactoryHardTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), infiniteAllowed: true);
        Number(nameof(o.JitterFraction), o.JitterFraction, 0, 0.5);
        Number(nameof(o.DegradedRefreshesPerSecond), o.DegradedRefreshesPerSecond, 0.01, 100_000);
        Number(nameof(o.EarlyRefreshRatio), o.EarlyRefreshRatio, 0.1, 1);
        Number(nameof(o.L1MaxEntries), o.L1MaxEntries, 16, 100_000_000);
        Number(nameof(o.MaximumKeyLength), o.MaximumKeyLength, 1, 64 * 1024);
        Number(nameof(o.MaximumPayloadBytes), o.MaximumPayloadBytes, 1, 512 * 1024 * 1024);
        Range(nameof(o.L2Timeout), o.L2Timeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10));
        Range(nameof(o.L2StartupWait), o.L2StartupWait, TimeSpan.Zero, TimeSpan.FromMinutes(1));
        Number(nameof(o.BreakerFailureRatio), o.BreakerFailureRatio, 0.01, 1);
        Number(nameof(o.BreakerMinimumThroughput), o.BreakerMinimumThroughput, 2, 1_000_000);
        Range(nameof(o.BreakerSamplingDuration), o.BreakerSamplingDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1));
        Range(nameof(o.BreakerBreakDuration), o.BreakerBreakDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1));
        Number(nameof(o.InvalidationJournalCapacity), o.InvalidationJournalCapacity, 1, 10_000_000);
        Range(nameof(o.MaintenanceInterval), o.MaintenanceInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        Range(nameof(o.TagCheckInterval), o.TagCheckInterval, TimeSpan.Zero, TimeSpan.FromHours(1));

        if (o.Gate is null)
        {
            errors.Add("LeveeOptions.Gate must not be null.");
        }
        else
        {
            CollectGate(errors, "Gate", o.Gate);
        }

        foreach (var (name, gate) in o.Gates)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add("LeveeOptions.Gates has an empty gate name.");
            }
            else if (gate is null)
            {
                errors.Add($"LeveeOptions.Gates[\"{name}\"] must not be null.");
            }
            else if (name == LeveeOptions.DefaultGateName)
            {
                errors.Add($"LeveeOptions.Gates must not contain \"{LeveeOptions.DefaultGateName}\"; configure the default gate with LeveeOptions.Gate.");
            }
            else
            {
                CollectGate(errors, $"Gates[\"{name}\"]", gate);
            }
        }

        if (o.WarmUp is null)
        {
            errors.Add("LeveeOptions.WarmUp must not be null.");
        }
        else
        {
            Range("WarmUp.ReadinessDeadline", o.WarmUp.ReadinessDeadline, TimeSpan.Zero, TimeSpan.FromHours(1));
            Number("WarmUp.MaxParallelism", o.WarmUp.MaxParallelism, 1, 256);
            Range("WarmUp.EmptyL2CheckInterval", o.WarmUp.EmptyL2CheckInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
            Range("WarmUp.L2ConnectTimeout", o.WarmUp.L2ConnectTimeout, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        }

        if (o.Snapshot is null)
        {
            errors.Add("LeveeOptions.Snapshot must not be null.");
        }
        else if (!string.IsNullOrWhiteSpace(o.Snapshot.Path))
        {
            Number("Snapshot.MaxEntries", o.Snapshot.MaxEntries, 1, 10_000_000);
            Number("Snapshot.MaxBytes", o.Snapshot.MaxBytes, 1024, Array.MaxLength); // the file is read into one array at start-up
            Range("Snapshot.WriteInterval", o.Snapshot.WriteInterval, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));
        }

        // cross-field rules
        if (o.FactorySoftTimeout != Timeout.InfiniteTimeSpan && o.FactoryHardTimeout != Timeout.InfiniteTimeSpan && o.FactorySoftTimeout > o.FactoryHardTimeout)
        {
            errors.Add($"LeveeOptions.FactorySoftTimeout ({o.FactorySoftTimeout}) must not exceed FactoryHardTimeout ({o.FactoryHardTimeout}).");
        }

        if (o.BreakerSamplingDuration <= o.L2Timeout)
        {
            errors.Add($"LeveeOptions.BreakerSamplingDuration ({o.BreakerSamplingDuration}) must exceed L2Timeout ({o.L2Timeout}), or the breaker never sees a timed-out call.");
        }

        if (string.IsNullOrEmpty(o.KeyPrefix))
        {
            errors.Add("LeveeOptions.KeyPrefix must not be empty (it separates Levee's keys from others in Redis).");
        }

        if (string.IsNullOrWhiteSpace(o.Name))
        {
            errors.Add("LeveeOptions.Name must not be empty.");
        }

        if (o.TimeProvider is null)
        {
            errors.Add("LeveeOptions.TimeProvider must not be null.");
        }

        if (o.JsonSerializerOptions is null)
        {
            errors.Add("LeveeOptions.JsonSerializerOptions must not be null.");
        }

        if (!string.IsNullOrWhiteSpace(o.Redis))
        {
            try
            {
                _ = StackExchange.Redis.ConfigurationOptions.Parse(o.Redis);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException)
            {
                // the message of StackExchange.Redis names the bad option; the configuration string itself may hold a password
                errors.Add($"LeveeOptions.Redis is not a valid StackExchange.Redis configuration: {ex.Message}");
            }
        }

        return errors;
    }

    private static void CollectGate(List<string> errors, string path, LeveeGateOptions g)
    {
        void Number(string name, double value, double min, double max)
        {
            if (double.IsNaN(value) || value < min || value > max)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"LeveeOptions.{path}.{name} is {value}; it must be between {min} and {max}."));
            }
        }

        void Range(string name, TimeSpan value, TimeSpan min, TimeSpan max)
        {
            if (value < min || value > max)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"LeveeOptions.{path}.{name} is {value}; it must be between {min} and {max}."));
            }
        }

        Number(nameof(g.InitialLimit), g.InitialLimit, 1, 10_000);
        Number(nameof(g.MinLimit), g.MinLimit, 1, 10_000);
        Number(nameof(g.MaxLimit), g.MaxLimit, 1, 10_000);
        Number(nameof(g.QueueLimit), g.QueueLimit, 0, 100_000);
        Range(nameof(g.QueueTimeout), g.QueueTimeout, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        Number(nameof(g.LowPriorityShare), g.LowPriorityShare, 0.01, 1);
        if (g.RatePerSecond is { } rate)
        {
            Number(nameof(g.RatePerSecond), rate, 0.01, 1_000_000);
        }

        Number(nameof(g.RateBurst), g.RateBurst, 1, 1_000_000);
        Range(nameof(g.AdaptiveWindow), g.AdaptiveWindow, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        Number(nameof(g.AdaptiveWindowMinSamples), g.AdaptiveWindowMinSamples, 1, 10_000);
        Number(nameof(g.AdaptiveSmoothing), g.AdaptiveSmoothing, 0.01, 1);
        if (g.MinLimit > g.MaxLimit)
        {
            errors.Add($"LeveeOptions.{path}.MinLimit ({g.MinLimit}) must not exceed MaxLimit ({g.MaxLimit}).");
        }

        if (g.Adaptive && (g.InitialLimit < g.MinLimit || g.InitialLimit > g.MaxLimit))
        {
            errors.Add($"LeveeOptions.{path}.InitialLimit ({g.InitialLimit}) must be between MinLimit ({g.MinLimit}) and MaxLimit ({g.MaxLimit}) when Adaptive is true.");
        }
    }
}
