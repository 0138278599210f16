using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.PostgreSql.Tests;

/// <summary>The core's side of <see cref="ILeveeInvalidationChannel"/>, with an in-memory channel.</summary>
public sealed class ChannelWiringTests
{
    private sealed class MemoryChannel : ILeveeInvalidationChannel
    {
        public ConcurrentQueue<LeveeInvalidation> Sent { get; } = new();

        public List<Action<LeveeInvalidation>> Subscribers { get; } = [];

        public ValueTask<bool> PublishAsync(LeveeInvalidation invalidation, CancellationToken cancellationToken = default)
        {
            Sent.Enqueue(invalidation);
            foreach (var s in Subscribers)
            {
                s(invalidation);
            }

            return ValueTask.FromResult(true);
        }

        public IDisposable Subscribe(Action<LeveeInvalidation> onReceived)
        {
            Subscribers.Add(onReceived);
            return new Unsub(() => Subscribers.Remove(onReceived));
        }

        private sealed class Unsub(Action a) : IDisposable
        {
            public void Dispose() => a();
        }
    }

    private static readonly LeveeEntryOptions Minute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task EveryRemovalWriteTagRemovalAndClear_GoesOutThroughTheChannel()
    {
        var channel = new MemoryChannel();
        await using var sp = new ServiceCollection().AddSingleton<ILeveeInvalidationChannel>(channel).AddLevee().BuildServiceProvider();
        var cache = sp.GetRequiredService<LeveeCache>();

        await cache.RemoveAsync("a");
        await cache.SetAsync("b", 1, Minute);
        await cache.RemoveByTagAsync("t");
        await cache.RemoveByTagAsync("*");

        Assert.Equal(
            [(LeveeInvalidationKind.Remove, "a"), (LeveeInvalidationKind.Set, "b"), (LeveeInvalidationKind.RemoveTag, "t"), (LeveeInvalidationKind.Clear, (string?)null)],
            channel.Sent.Select(i => (i.Kind, i.Subject)).ToArray());
        Assert.All(channel.Sent, i => Assert.NotNull(i.Sender));
        Assert.Single(channel.Subscribers);
    }

    [Fact]
    public async Task ReceivedRemoval_DropsTheL1Copy_OwnMessagesAreIgnored()
    {
        var channel = new MemoryChannel();
        await using var sp = new ServiceCollection().AddSingleton<ILeveeInvalidationChannel>(channel).AddLevee().BuildServiceProvider();
        var cache = sp.GetRequiredService<LeveeCache>();
        var loads = 0;
        ValueTask<int> Load(int _, CancellationToken __) => ValueTask.FromResult(Interlocked.Increment(ref loads));

        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, Load, Minute));
        await cache.SetAsync("own", 5, Minute); // its own Set comes back through the channel: ignored
        Assert.Equal(5, await cache.GetOrCreateAsync("own", 0, Load, Minute));

        channel.Subscribers[0](new LeveeInvalidation { Kind = LeveeInvalidationKind.Remove, Subject = "k", Sender = "other" });

        Assert.Equal(2, await cache.GetOrCreateAsync("k", 0, Load, Minute));
        Assert.Equal(2, loads);
    }

    [Fact]
    public async Task TheSameRemovalReceivedTwice_IsAppliedOnce_ALaterOneOrAnotherSendersAgain()
    {
        var channel = new MemoryChannel();
        await using var sp = new ServiceCollection().AddSingleton<ILeveeInvalidationChannel>(channel).AddLevee().BuildServiceProvider();
        var cache = sp.GetRequiredService<LeveeCache>();
        var loads = 0;
        ValueTask<int> Load(int _, CancellationToken __) => ValueTask.FromResult(Interlocked.Increment(ref loads));
        static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        void Receive(string sender, long at) =>
            channel.Subscribers[0](new LeveeInvalidation { Kind = LeveeInvalidationKind.Remove, Subject = "k", Sender = sender, WallMs = at, AppliedToRedis = true });

        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, Load, Minute));
        Receive("other", Now() - 60_000); // a removal made before this value was loaded: the value already has the change
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, Load, Minute));

        await Task.Delay(5);
        var wall = Now();
        Receive("other", wall);
        await Task.Delay(5);
        Assert.Equal(2, await cache.GetOrCreateAsync("k", 0, Load, Minute)); // reloaded after the removal

        Receive("other", wall); // its copy through the other channel: the reload is kept
        Assert.Equal(2, await cache.GetOrCreateAsync("k", 0, Load, Minute));

        await Task.Delay(5);
        Receive("other", Now()); // a later removal
        await Task.Delay(5);
        Assert.Equal(3, await cache.GetOrCreateAsync("k", 0, Load, Minute));
        await Task.Delay(5);
        Receive("third", Now()); // another sender's removal
        Assert.Equal(4, await cache.GetOrCreateAsync("k", 0, Load, Minute));
    }

    [Fact]
    public async Task KeyedCache_UsesTheChannelKeyedByItsName_TheDefaultCacheTheUnkeyedOne()
    {
        var main = new MemoryChannel();
        var sessions = new MemoryChannel();
        await using var sp = new ServiceCollection()
            .AddSingleton<ILeveeInvalidationChannel>(main)
            .AddKeyedSingleton<ILeveeInvalidationChannel>("sessions", sessions)
            .AddLevee()
            .AddKeyedLevee("sessions")
            .AddKeyedLevee("other")
            .BuildServiceProvider();

        await sp.GetRequiredService<LeveeCache>().RemoveAsync("m");
        await sp.GetRequiredKeyedService<LeveeCache>("sessions").RemoveAsync("s");
        await sp.GetRequiredKeyedService<LeveeCache>("other").RemoveAsync("o"); // no channel keyed "other": none

        Assert.Equal(new[] { "m" }, main.Sent.Select(i => i.Subject!).ToArray());
        Assert.Equal(new[] { "s" }, sessions.Sent.Select(i => i.Subject!).ToArray());
    }

    [Fact]
    public async Task DisposedCache_StopsReceiving()
    {
        var channel = new MemoryChannel();
        var sp = new ServiceCollection().AddSingleton<ILeveeInvalidationChannel>(channel).AddLevee().BuildServiceProvider();
        _ = sp.GetRequiredService<LeveeCache>();
        Assert.Single(channel.Subscribers);

        await sp.DisposeAsync();

        Assert.Empty(channel.Subscribers);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(5001)]
    public void ShareValuesMaxBytes_OutOfBounds_IsRefusedNamingTheOptionAndItsBounds(int value)
    {
        var options = new LeveePostgreSqlOptions { ConnectionString = "Host=127.0.0.1", ShareValuesMaxBytes = value };
        var ex = Assert.Throws<InvalidOperationException>(() => new PostgreSqlInvalidationChannel(options));
        Assert.Contains($"ShareValuesMaxBytes is {value}; it must be 0..5000", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheChannelSaysHowLargeAValueItCarries_ZeroWhenSharingIsOff()
    {
        await using var on = new PostgreSqlInvalidationChannel(new LeveePostgreSqlOptions { ConnectionString = "Host=127.0.0.1" });
        await using var off = new PostgreSqlInvalidationChannel(new LeveePostgreSqlOptions { ConnectionString = "Host=127.0.0.1", ShareValuesMaxBytes = 0 });
        Assert.Equal(4096, ((ILeveeInvalidationChannel)on).MaxSharedValueBytes);
        Assert.Equal(0, ((ILeveeInvalidationChannel)off).MaxSharedValueBytes);
        Assert.False(await off.PublishAsync(new LeveeInvalidation { Kind = LeveeInvalidationKind.Value, Subject = "k", Value = new byte[] { 1 } })); // refused before any connection
    }

    /// <summary>A refresh's announcement is no invalidation: with sharing off it is refused without a connection (it went
    /// down the invalidations' path, which connects, waits and counts a failure).</summary>
    [Theory]
    [InlineData(LeveeInvalidationKind.Loading)]
    [InlineData(LeveeInvalidationKind.Refreshing)]
    public async Task Announcements_WithSharingOff_AreRefusedWithoutAConnection(LeveeInvalidationKind kind)
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0); // accepts, never answers
        listener.Start();
        try
        {
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            await using var off = new PostgreSqlInvalidationChannel(new LeveePostgreSqlOptions
            {
                ConnectionString = $"Host=127.0.0.1;Port={port};Timeout=2", ShareValuesMaxBytes = 0,
            });
            Assert.False(await off.PublishAsync(new LeveeInvalidation { Kind = kind, Subject = "k", Sender = "a" }));
            Assert.False(listener.Pending()); // no connection was attempted
        }
        finally
        {
            listener.Stop();
        }
    }
}
