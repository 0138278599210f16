using Levee.Tests.Fakes;

namespace Levee.Tests.Engine;

/// <summary>
/// A new cache and its first Redis connection (issue 17): the calls that come before it wait for it once, for at most
/// <see cref="LeveeOptions.L2StartupWait"/>, and read L2 as soon as it is there. Fake store, fake time; the real-Redis
/// side is in RealRedisTests.NewInstance_FirstCall_... and SentinelFailoverTests.AfterAFailover_ANewInstancesFirstRead_...
/// </summary>
public class StartupTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    private static async Task<(FakeRedis Redis, FakeL2Store Store)> RedisHoldingAValueAsync(Microsoft.Extensions.Time.Testing.FakeTimeProvider time)
    {
        var redis = new FakeRedis();
        await using var writer = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await writer.SetAsync("k", "from-redis", OneMinute);
        return (redis, new FakeL2Store(redis) { Mode = FakeL2Mode.Down }); // a new instance's store, not connected yet
    }

    [Fact]
    public async Task ConnectedDuringTheWait_TheWaitingCallReadsRedis_WithoutAFactoryCall()
    {
        var time = TestCache.NewTime();
        var (_, store) = await RedisHoldingAValueAsync(time);
        await using var cache = TestCache.Create(time, store, o => o.L2StartupWait = TimeSpan.FromSeconds(3));
        var factoryCalls = 0;
        var read = cache.GetOrCreateAsync("k", 0, (_, _) => { factoryCalls++; return ValueTask.FromResult("from-db"); }, OneMinute).AsTask();
        await Task.Delay(50);
        Assert.False(read.IsCompleted); // waiting for the first connection, not going to the database

        store.Mode = FakeL2Mode.Healthy;
        store.RaiseConnected();
        Assert.Equal("from-redis", await TestCache.Bounded(read, "the first call"));
        Assert.Equal(0, factoryCalls);
    }

    [Fact]
    public async Task RedisDownAtStart_TheFirstCallsWaitAtMostTheStartupWait_Once()
    {
        var time = TestCache.NewTime();
        var (_, store) = await RedisHoldingAValueAsync(time);
        await using var cache = TestCache.Create(time, store, o => o.L2StartupWait = TimeSpan.FromSeconds(3));
        var first = cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("from-db"), OneMinute).AsTask();
        var second = cache.GetOrCreateAsync("other", 0, (_, _) => ValueTask.FromResult("from-db"), OneMinute).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));
        await Task.Delay(50);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(1)); // the wait ends: the callers go on without Redis
        Assert.Equal("from-db", await TestCache.Bounded(first, "the first call"));
        Assert.Equal("from-db", await TestCache.Bounded(second, "the second call"));

        // no later call waits (the fake clock does not move: a wait would never end)
        Assert.Equal("later", await TestCache.Bounded(cache.GetOrCreateAsync("third", 0, (_, _) => ValueTask.FromResult("later"), OneMinute).AsTask(), "a later call"));
    }

    [Fact]
    public async Task TheFirstConnectionAttemptFails_TheWaitEndsAtOnce()
    {
        var time = TestCache.NewTime();
        var (_, store) = await RedisHoldingAValueAsync(time);
        await using var cache = TestCache.Create(time, store, o => o.L2StartupWait = TimeSpan.FromSeconds(30));
        var read = cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("from-db"), OneMinute).AsTask();
        await Task.Delay(50);
        Assert.False(read.IsCompleted);

        store.RaiseConnectionLost(); // what the real store says when its first attempt failed
        Assert.Equal("from-db", await TestCache.Bounded(read, "the first call"));
    }

    [Fact]
    public async Task StartupWaitZero_NoCallWaits()
    {
        var time = TestCache.NewTime();
        var (_, store) = await RedisHoldingAValueAsync(time);
        await using var cache = TestCache.Create(time, store, o => o.L2StartupWait = TimeSpan.Zero);
        Assert.Equal("from-db", await TestCache.Bounded(cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("from-db"), OneMinute).AsTask(), "the call"));
    }

    [Fact]
    public void StartupWait_OutOfBounds_IsRefusedWithItsName()
    {
        var error = Assert.ThrowsAny<Exception>(() => TestCache.Create(TestCache.NewTime(), new FakeL2Store(), o => o.L2StartupWait = TimeSpan.FromMinutes(2)));
        Assert.Contains("L2StartupWait", error.Message, StringComparison.Ordinal);
    }
}
