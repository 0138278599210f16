using Levee.Internal;
using Levee.Serialization;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Tests.Fakes;

internal static class TestCache
{
    public static FakeTimeProvider NewTime() => new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Runs the cache's maintenance once (it reads the shared generation) and returns the cache.</summary>
    public static async Task<LeveeCache> Ready(LeveeCache cache)
    {
        await cache.RunMaintenanceAsync();
        return cache;
    }

    /// <summary>Awaits <paramref name="task"/>, failing the test if it has not completed within 20 s: a guard against a hang
    /// (the test fails instead of blocking the run), not a timing assertion.</summary>
    public static async Task<T> Bounded<T>(Task<T> task, string what)
    {
        var done = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.True(done == task, what + " did not complete");
        return await task;
    }

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
