using Levee.Drill;
using Levee.Drill.Clients;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Drill.Tests.Clients;

public sealed class LeveeClientKindTests
{
    private static readonly RedisTarget Target = new("sentinel", "127.0.0.1:1", ["127.0.0.1:2"], "mymaster", ["127.0.0.1:1"])
    {
        Database = "Host=127.0.0.1;Port=3;Username=x;Timeout=1",
    };

    [Theory]
    [InlineData("levee", true, 4096)]
    [InlineData("levee-no-share", true, 0)]
    [InlineData("levee-redis-only", false, 0)]
    public async Task LeveeUsesTheRunsDatabaseAsSecondChannel_NoShareSharesNoValues_RedisOnlyHasNoChannel(string name, bool channel, int sharedValueMaxBytes)
    {
        var kind = ClientKinds.Create(name, []);
        Assert.Equal(name, kind.Name);
        Assert.Contains(name, ClientKinds.BuiltIn);
        await using var client = (LeveeClient)await kind.CreateAsync(Target, 0, CancellationToken.None);

        Assert.Equal(channel, client.UsesPostgresChannel);
        Assert.Equal(sharedValueMaxBytes, client.SharedValueMaxBytes);
    }

    [Fact]
    public async Task ARemovalReceivedThroughTheChannel_IsFoundByTheTimeItArrived_AfterTheCacheAppliedIt()
    {
        var channel = new FakeChannel();
        await using var client = await LeveeClient.StartAsync(Target with { Database = null }, s => s.AddSingleton<ILeveeInvalidationChannel>(channel), CancellationToken.None);
        Assert.Equal(2, channel.Subscribers.Count); // the cache's, then the client's receipts

        var before = TimeProvider.System.GetTimestamp();
        channel.Deliver(new LeveeInvalidation { Kind = LeveeInvalidationKind.Remove, Subject = "product:1", Sender = "other", WallMs = 1 });
        channel.Deliver(new LeveeInvalidation { Kind = LeveeInvalidationKind.Value, Subject = "product:2", Sender = "other" }); // not a removal
        var after = TimeProvider.System.GetTimestamp();

        var received = client.RemovalReceivedSince("product:1", before);
        Assert.NotNull(received);
        Assert.InRange(received.Value, before, after);
        Assert.Null(client.RemovalReceivedSince("product:1", after + 1)); // none since
        Assert.Null(client.RemovalReceivedSince("product:2", before));

        // many later removals of the key: the first receipt since a time is still that one (the 5-minute drill found one
        // minutes late when only the last 64 were kept)
        for (var i = 0; i < 200; i++)
        {
            channel.Deliver(new LeveeInvalidation { Kind = LeveeInvalidationKind.Remove, Subject = "product:1", Sender = "other", WallMs = 2 + i });
        }

        Assert.Equal(received, client.RemovalReceivedSince("product:1", before));
        Assert.InRange(client.RemovalReceivedSince("product:1", after + 1)!.Value, after + 1, TimeProvider.System.GetTimestamp());
    }

    private sealed class FakeChannel : ILeveeInvalidationChannel
    {
        public List<Action<LeveeInvalidation>> Subscribers { get; } = [];

        public ValueTask<bool> PublishAsync(LeveeInvalidation invalidation, CancellationToken cancellationToken = default) => ValueTask.FromResult(true);

        public IDisposable Subscribe(Action<LeveeInvalidation> onReceived)
        {
            Subscribers.Add(onReceived);
            return new Unsubscribe(() => Subscribers.Remove(onReceived));
        }

        public void Deliver(LeveeInvalidation invalidation)
        {
            foreach (var subscriber in Subscribers.ToList())
            {
                subscriber(invalidation);
            }
        }

        private sealed class Unsubscribe(Action action) : IDisposable
        {
            public void Dispose() => action();
        }
    }
}
