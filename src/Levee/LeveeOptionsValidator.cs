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
        void Check<T>(OptionBound<T> bound, T value, string? path = null)
            where T : struct, IComparable<T>, IFormattable
        {
            if (!bound.Allows(value))
            {
                errors.Add(bound.Problem("LeveeOptions." + (path ?? bound.Name), value));
            }
        }

        Check(LeveeOptionBounds.DefaultExpiration, o.DefaultExpiration);
        if (!string.IsNullOrWhiteSpace(o.ConnectionName) && string.IsNullOrWhiteSpace(o.Redis))
        {
            errors.Add($"LeveeOptions.ConnectionName is '{o.ConnectionName}' but the configuration has no connection string ConnectionStrings:{o.ConnectionName} (and LeveeOptions.Redis is not set).");
        }

        if (o.DefaultEntryOptions is { } defaults)
        {
            if (defaults.Expiration is { } expiration)
            {
                Check(LeveeOptionBounds.DefaultExpiration, expiration, "DefaultEntryOptions.Expiration");
            }

            if (defaults.LocalCacheExpiration is { } local)
            {
                Check(LeveeOptionBounds.DefaultExpiration, local, "DefaultEntryOptions.LocalCacheExpiration");
            }
        }

        Check(LeveeOptionBounds.FailSafeMaxDuration, o.FailSafeMaxDuration);
        Check(LeveeOptionBounds.FailSafeThrottleDuration, o.FailSafeThrottleDuration);
        Check(LeveeOptionBounds.FactorySoftTimeout, o.FactorySoftTimeout);
        Check(LeveeOptionBounds.FactoryHardTimeout, o.FactoryHardTimeout);
        Check(LeveeOptionBounds.JitterFraction, o.JitterFraction);
        Check(LeveeOptionBounds.DegradedRefreshesPerSecond, o.DegradedRefreshesPerSecond);
        Check(LeveeOptionBounds.RecoveryDuration, o.RecoveryDuration);
        Check(LeveeOptionBounds.EarlyRefreshRatio, o.EarlyRefreshRatio);
        Check(LeveeOptionBounds.L1MaxEntries, o.L1MaxEntries);
        Check(LeveeOptionBounds.MaximumKeyLength, o.MaximumKeyLength);
        Check(LeveeOptionBounds.MaximumPayloadBytes, o.MaximumPayloadBytes);
        Check(LeveeOptionBounds.L2Timeout, o.L2Timeout);
        Check(LeveeOptionBounds.L2StartupWait, o.L2StartupWait);
        Check(LeveeOptionBounds.BreakerFailureRatio, o.BreakerFailureRatio);
        Check(LeveeOptionBounds.BreakerMinimumThroughput, o.BreakerMinimumThroughput);
        Check(LeveeOptionBounds.BreakerConsecutiveFailures, o.BreakerConsecutiveFailures);
        Check(LeveeOptionBounds.BreakerSamplingDuration, o.BreakerSamplingDuration);
        Check(LeveeOptionBounds.BreakerBreakDuration, o.BreakerBreakDuration);
        Check(LeveeOptionBounds.InvalidationJournalCapacity, o.InvalidationJournalCapacity);
        Check(LeveeOptionBounds.MaintenanceInterval, o.MaintenanceInterval);
        Check(LeveeOptionBounds.TagCheckInterval, o.TagCheckInterval);

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
            Check(LeveeOptionBounds.WarmUpReadinessDeadline, o.WarmUp.ReadinessDeadline);
            Check(LeveeOptionBounds.WarmUpMaxParallelism, o.WarmUp.MaxParallelism);
            Check(LeveeOptionBounds.WarmUpEmptyL2CheckInterval, o.WarmUp.EmptyL2CheckInterval);
            Check(LeveeOptionBounds.WarmUpL2ConnectTimeout, o.WarmUp.L2ConnectTimeout);
        }

        if (o.Snapshot is null)
        {
            errors.Add("LeveeOptions.Snapshot must not be null.");
        }
        else if (!string.IsNullOrWhiteSpace(o.Snapshot.Path))
        {
            Check(LeveeOptionBounds.SnapshotMaxEntries, o.Snapshot.MaxEntries);
            Check(LeveeOptionBounds.SnapshotMaxBytes, o.Snapshot.MaxBytes);
            Check(LeveeOptionBounds.SnapshotWriteInterval, o.Snapshot.WriteInterval);
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
        void Check<T>(OptionBound<T> bound, T value)
            where T : struct, IComparable<T>, IFormattable
        {
            if (!bound.Allows(value))
            {
                errors.Add(bound.Problem($"LeveeOptions.{path}.{bound.Name}", value));
            }
        }

        Check(LeveeOptionBounds.GateInitialLimit, g.InitialLimit);
        Check(LeveeOptionBounds.GateMinLimit, g.MinLimit);
        Check(LeveeOptionBounds.GateMaxLimit, g.MaxLimit);
        Check(LeveeOptionBounds.GateQueueLimit, g.QueueLimit);
        Check(LeveeOptionBounds.GateQueueTimeout, g.QueueTimeout);
        Check(LeveeOptionBounds.GateLowPriorityShare, g.LowPriorityShare);
        if (g.RatePerSecond is { } rate)
        {
            Check(LeveeOptionBounds.GateRatePerSecond, rate);
        }

        Check(LeveeOptionBounds.GateRateBurst, g.RateBurst);
        Check(LeveeOptionBounds.GateAdaptiveWindow, g.AdaptiveWindow);
        Check(LeveeOptionBounds.GateAdaptiveWindowMinSamples, g.AdaptiveWindowMinSamples);
        Check(LeveeOptionBounds.GateAdaptiveSmoothing, g.AdaptiveSmoothing);
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
