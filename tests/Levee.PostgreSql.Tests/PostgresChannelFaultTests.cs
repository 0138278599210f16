using System.Net;
using System.Net.Sockets;
using Levee.Drill.Topology;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Levee.PostgreSql.Tests;

/// <summary>Faults of one channel while the other works, and the health signal.</summary>
[Collection(RealProcesses.Name)]
public sealed class PostgresChannelFaultTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    private string Pg => pg.Server.ConnectionString;

    [Fact]
    public async Task ListenConnectionDown_ARemovalStillReachesBThroughRedis()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        var channel = Instances.NewChannel();
        await using var appA = Instances.Start(redis.Endpoint, Pg, channel);
        await using var appB = Instances.Start(redis.Endpoint, Pg, channel, o =>
        {
            o.ReconnectMinDelay = TimeSpan.FromMinutes(1); // stays down for the test
            o.ReconnectMaxDelay = TimeSpan.FromMinutes(1);
        });
        var a = await Instances.ReadyAsync(appA);
        var b = await Instances.ReadyAsync(appB);
        var listenerB = appB.GetRequiredService<PostgreSqlInvalidationChannel>();
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v1"), Instances.Minute));

        await pg.Server.QueryScalarAsync($"SELECT pg_terminate_backend({listenerB.ListenerProcessId})");
        await Instances.Until(() => !listenerB.IsListening, "B's listening connection was not seen down");
        await a.RemoveAsync("k");

        await Instances.UntilAsync(async () => await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v2"), Instances.Minute) == "v2",
            "the removal did not reach B through Redis");
        Assert.False(listenerB.IsListening);
        Assert.Equal(1, listenerB.ConnectCount);
    }

    [Fact]
    public async Task TransactionalRemoval_WhileRedisIsFrozen_TheOlderEntryIsDeletedOnceItAnswers()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        var channel = Instances.NewChannel();
        await using var appA = Instances.Start(redis.Endpoint, Pg, channel);
        var a = await Instances.ReadyAsync(appA);
        Assert.Equal(1, await a.GetOrCreateAsync("product:7", 0, (_, _) => ValueTask.FromResult(1), Instances.Minute));
        await Instances.UntilAsync(async () => !(await redis.ExecuteAsync("GET", "levee:d:0:product:7")).IsNull, "not stored in Redis");

        var received = 0;
        using var probe = appA.GetRequiredService<PostgreSqlInvalidationChannel>().Subscribe(_ => Interlocked.Increment(ref received)); // called after A's cache
        redis.Freeze();
        try
        {
            await using var app = new NpgsqlConnection(Pg);
            await app.OpenAsync();
            await using var tx = await app.BeginTransactionAsync();
            await LeveePostgreSql.RemoveInTransactionAsync(tx, "product:7", channel);
            await tx.CommitAsync();
            await Instances.Until(() => Volatile.Read(ref received) == 1, "the removal did not arrive");
            await Task.Delay(500); // A's maintenance runs against the frozen Redis meanwhile
        }
        finally
        {
            redis.Thaw();
        }

        // once Redis answers, A deletes the older entry (nobody called RemoveAsync, nobody wrote the key)
        await Instances.UntilAsync(async () => (await redis.ExecuteAsync("GET", "levee:d:0:product:7")).IsNull, "Redis still holds the removed value");
        Assert.Equal(2, await a.GetOrCreateAsync("product:7", 0, (_, _) => ValueTask.FromResult(2), Instances.Minute));
    }

    [Fact]
    public async Task HealthCheck_HealthyWhileListening_DegradedWithTheErrorWhileNot()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddPostgreSqlBackplane(Pg, o => o.Channel = Instances.NewChannel());
        services.AddKeyedPostgreSqlBackplane("down", $"Host=127.0.0.1;Port={FreePort()};Username=x;Timeout=1");
        services.AddHealthChecks().AddLeveePostgreSql();
        await using var sp = services.BuildServiceProvider();
        var up = sp.GetRequiredService<PostgreSqlInvalidationChannel>();
        var down = sp.GetRequiredKeyedService<PostgreSqlInvalidationChannel>("down");
        using var upSub = up.Subscribe(_ => { });
        using var downSub = down.Subscribe(_ => { });

        await Instances.Until(() => up.IsListening && down.LastError is not null, "channels not started");

        var report = await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Entries["levee-postgresql"].Status);
        Assert.Equal("levee_down", down.Channel);
        Assert.False(down.IsListening);
        Assert.False(await down.PublishAsync(new LeveeInvalidation { Kind = LeveeInvalidationKind.Remove, Subject = "k" })); // refused, not thrown
    }

    [Fact]
    public async Task HealthCheck_ChannelThatCannotConnect_IsDegraded()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddPostgreSqlBackplane($"Host=127.0.0.1;Port={FreePort()};Username=x;Timeout=1");
        services.AddHealthChecks().AddLeveePostgreSql();
        await using var sp = services.BuildServiceProvider();
        var channel = sp.GetRequiredService<PostgreSqlInvalidationChannel>();
        using var sub = channel.Subscribe(_ => { });
        await Instances.Until(() => channel.LastError is not null, "no connection attempt");

        var entry = (await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["levee-postgresql"];

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("not listening", entry.Description, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
