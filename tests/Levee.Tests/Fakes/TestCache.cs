using Levee.Internal;
using Levee.Serialization;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Tests.Fakes;

internal static class TestCache
{
    public static FakeTimeProvider NewTime() => new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

    public static LeveeCache Create(FakeTimeProvider time, FakeL2Store? l2 = null, Action<LeveeOptions>? configure = null, CollectingLogger? logger = null)
    {
        var options = new LeveeOptions
        {
            TimeProvider = time,
            JitterFraction = 0,
            EarlyRefreshRatio = 1,
            MaintenanceInterval = TimeSpan.FromMinutes(1),
        };
        configure?.Invoke(options);
        return new LeveeCache(options, l2, new SerializerRegistry(null, null, options.JsonSerializerOptions), logger, null);
    }
}
