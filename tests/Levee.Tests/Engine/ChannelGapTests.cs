using Levee.Tests.Fakes;

namespace Levee.Tests.Engine;

/// <summary>
/// Issue 19, at the failover: with an invalidation channel that vouches it received everything since the master last
/// answered (<see cref="ILeveeInvalidationChannel.DeliveryEpoch"/> unchanged), a failover or reconnect keeps the local
/// entries instead of dropping them all (the drill's master-hang: every instance reloaded its hot keys, from the database
/// for those loaded during the hang). And what the channel refused is sent again, in order, so that promise holds.
/// </summary>
public sealed class ChannelGapTests
{
    private static readonly LeveeEntryOptions L1Only = new()
    {
        Expiration = TimeSpan.FromMinutes(1),
        Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheWrite,
    };

    [Fact]
    public async Task AFailover_KeepsL1_OnlyWhenTheChannelReceivedEverythingSinceTheMasterLastAnswered()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        var channel = new FakeChannel { Epoch = 1 };
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        cache.AttachChannel(channel);
        var calls = 0;
        ValueTask<int> Factory(int s, CancellationToken _) { calls++; return ValueTask.FromResult(calls); }
        await cache.GetOrCreateAsync("k", 0, Factory, L1Only);

        await cache.RunMaintenanceAsync(); // the master answers: the channel's epoch (1) is noted
        l2.RaiseFailover();
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, Factory, L1Only)); // kept: no reload
        Assert.Equal(1, calls);

        channel.Epoch = 2; // the channel's subscription was lost and made again: invalidations may be missing
        l2.RaiseFailover();
        Assert.Equal(2, await cache.GetOrCreateAsync("k", 0, Factory, L1Only)); // dropped
        Assert.Equal(2, calls);

        await cache.RunMaintenanceAsync(); // epoch 2 noted while healthy
        channel.Epoch = null; // not listening now: it cannot vouch
        l2.RaiseConnectionLost();
        l2.RaiseConnected();
        Assert.Equal(3, await cache.GetOrCreateAsync("k", 0, Factory, L1Only));
    }

    [Fact]
    public async Task EpochsNotedWhileOnlyAReplicaAnswered_DoNotCount()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        var channel = new FakeChannel { Epoch = null };
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.BreakerConsecutiveFailures = 1));
        cache.AttachChannel(channel);
        var calls = 0;
        ValueTask<int> Factory(int s, CancellationToken _) { calls++; return ValueTask.FromResult(calls); }
        await cache.RunMaintenanceAsync(); // noted: unknown (the channel is not listening)

        l2.Mode = FakeL2Mode.Throw; // the master fails; the breaker opens at the first failure after 5 x L2Timeout without a success
        time.Advance(TimeSpan.FromMilliseconds(250));
        await cache.GetOrCreateAsync("other", 0, Factory, new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) });
        Assert.NotEqual(LeveeBreakerState.Closed, cache.L2BreakerState);
        await cache.GetOrCreateAsync("k", 0, Factory, L1Only);
        channel.Epoch = 1;
        await cache.RunMaintenanceAsync(); // the replica answers the generation, the master does not: nothing noted
        l2.RaiseFailover();
        var before = calls;
        await cache.GetOrCreateAsync("k", 0, Factory, L1Only);
        Assert.Equal(before + 1, calls); // dropped: the channel's epoch was never seen while the master answered
    }

    [Fact]
    public async Task AnInvalidationTheChannelRefused_IsSentAgainInOrder_ByTheMaintenance()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        var channel = new FakeChannel { Epoch = 1, Refuse = true };
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        cache.AttachChannel(channel);
        await cache.RemoveAsync("a");
        await cache.RemoveByTagAsync("t");
        await cache.RemoveAsync("b");
        Assert.Empty(channel.Sent);
        Assert.Equal(3, cache.ChannelResendWaiting);

        await cache.RunMaintenanceAsync(); // still refused: kept
        Assert.Equal(3, cache.ChannelResendWaiting);

        channel.Refuse = false;
        await cache.RunMaintenanceAsync();
        Assert.Equal(0, cache.ChannelResendWaiting);
        Assert.Equal(
            [(LeveeInvalidationKind.Remove, "a"), (LeveeInvalidationKind.RemoveTag, "t"), (LeveeInvalidationKind.Remove, "b")],
            channel.Sent.Select(m => (m.Kind, m.Subject)));
        Assert.All(channel.Sent, m => Assert.NotNull(m.Sender));
    }

    /// <summary>A channel whose delivery epoch and refusals a test sets; records what it accepted.</summary>
    private sealed class FakeChannel : ILeveeInvalidationChannel
    {
        public long? Epoch { get; set; }

        public bool Refuse { get; set; }

        public List<LeveeInvalidation> Sent { get; } = [];

        public long? DeliveryEpoch => Epoch;

        public int MaxSharedValueBytes => 0;

        public ValueTask<bool> PublishAsync(LeveeInvalidation invalidation, CancellationToken cancellationToken = default)
        {
            if (Refuse)
            {
                return ValueTask.FromResult(false);
            }

            lock (Sent)
            {
                Sent.Add(invalidation);
            }

            return ValueTask.FromResult(true);
        }

        public IDisposable Subscribe(Action<LeveeInvalidation> onReceived) => new Nothing();

        private sealed class Nothing : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }
}
