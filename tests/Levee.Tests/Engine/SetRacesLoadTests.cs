using Levee.Tests.Fakes;

namespace Levee.Tests.Engine;

/// <summary>A SetAsync that runs while a load of the same key is writing its value to Redis (found by the soak test).</summary>
public class SetRacesLoadTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task SetDuringALoadsL2Write_TheLoadsOlderValueDoesNotOverwriteItInRedis()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var l2 = new FakeL2Store(redis) { SetGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var a = await TestCache.Ready(TestCache.Create(time, l2));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));

        var loading = a.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("loaded"), OneMinute).AsTask();
        await TestCache.Bounded(Until(() => Volatile.Read(ref l2.SetsStarted) == 1), "the load's SET");
        var gate = l2.SetGate!;
        l2.SetGate = null; // the next SET (the SetAsync's) lands at once

        time.Advance(TimeSpan.FromMilliseconds(5));
        var setting = a.SetAsync("k", "set", OneMinute).AsTask();
        await Task.WhenAny(setting, Task.Delay(200)); // the SetAsync may wait for the load's write; either way:
        gate.SetResult();
        await TestCache.Bounded(setting.ContinueWith(_ => true, TaskScheduler.Default), "the SetAsync");
        await setting;
        await TestCache.Bounded(loading, "the load");

        // after SetAsync returned, no instance reads the value it replaced
        Assert.Equal("set", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("factory"), OneMinute));
        a.ClearLocal();
        Assert.Equal("set", await a.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("factory"), OneMinute));
    }

    private static async Task<bool> Until(Func<bool> condition)
    {
        for (var i = 0; i < 2000 && !condition(); i++)
        {
            await Task.Delay(5);
        }

        return condition();
    }
}
