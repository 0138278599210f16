using Levee.Drill.Topology;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Levee.PostgreSql.Tests;

/// <summary>The PostgreSQL channel between two instances, with a real PostgreSQL and (where it matters) a real redis-server.</summary>
[Collection(RealProcesses.Name)]
public sealed class PostgresChannelTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    private string Pg => pg.Server.ConnectionString;

    /// <summary>Redis killed, A removes a key B holds: with the channel B drops it; without it (the control) B keeps
    /// serving the removed value, which is what the PostgreSQL channel is for.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RedisKilled_RemovalOnA_BDropsItsL1CopyThroughPostgreSql_AndAJournalsItForRedis(bool withChannel)
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        var channel = withChannel ? Instances.NewChannel() : null;
        await using var appA = Instances.Start(redis.Endpoint, Pg, channel);
        await using var appB = Instances.Start(redis.Endpoint, Pg, channel);
        var a = await Instances.ReadyAsync(appA);
        var b = await Instances.ReadyAsync(appB);
        Assert.Equal("v1", await b.GetOrCreateAsync("product:1", 0, (_, _) => ValueTask.FromResult("v1"), Instances.Minute));

        redis.Kill();
        await a.RemoveAsync("product:1");

        Assert.True(a.PendingInvalidations >= 1); // journaled for Redis, with the channel as without it
        var loads = 0;
        ValueTask<string> Reload(int _, CancellationToken __)
        {
            Interlocked.Increment(ref loads);
            return ValueTask.FromResult("v2");
        }

        if (!withChannel)
        {
            await Task.Delay(1000);
            Assert.Equal("v1", await b.GetOrCreateAsync("product:1", 0, Reload, Instances.Minute));
            return;
        }

        await Instances.UntilAsync(async () => await b.GetOrCreateAsync("product:1", 0, Reload, Instances.Minute) == "v2", "B still serves the removed value");
        Assert.Equal(1, loads);
        Assert.True(appB.GetRequiredService<PostgreSqlInvalidationChannel>().IsListening);
    }

    /// <summary>
    /// Issue 20 item 3: every Redis node killed, A loads a key: its value reaches B through PostgreSQL and B serves it
    /// without a query of its own. The control (<c>ShareValuesMaxBytes = 0</c>) shows each instance querying itself.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EveryRedisNodeKilled_AValueLoadedOnA_IsServedByBWithoutAQuery_ThroughPostgreSql(bool shareValues)
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        var channel = Instances.NewChannel();
        Action<LeveePostgreSqlOptions> configure = o => o.ShareValuesMaxBytes = shareValues ? LeveePostgreSqlOptions.DefaultShareValuesMaxBytes : 0;
        await using var appA = Instances.Start(redis.Endpoint, Pg, channel, configure);
        await using var appB = Instances.Start(redis.Endpoint, Pg, channel, configure);
        var a = await Instances.ReadyAsync(appA);
        var b = await Instances.ReadyAsync(appB);

        // B's cache subscribed to its channel first: when this later subscriber sees a message, B's cache has applied it
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var valuesSeenAtB = 0;
        using var watch = appB.GetRequiredService<PostgreSqlInvalidationChannel>().Subscribe(m =>
        {
            if (m.Kind == LeveeInvalidationKind.Value && m.Subject == "product:7" && m.Value.Length > 0)
            {
                Interlocked.Increment(ref valuesSeenAtB);
            }
            else if (m.Kind == LeveeInvalidationKind.Remove && m.Subject == "marker")
            {
                marker.TrySetResult();
            }
        });

        redis.Kill();
        await Instances.Until(() => !a.IsL2Available && !b.IsL2Available, "the caches did not notice that Redis is gone");
        var loads = 0;
        Assert.Equal("from-a", await a.GetOrCreateAsync("product:7", 0, (_, _) => { Interlocked.Increment(ref loads); return ValueTask.FromResult("from-a"); }, Instances.Minute));
        if (shareValues)
        {
            // the value goes out after the load returns (not awaited, on a connection of its own)
            await Instances.Until(() => Volatile.Read(ref valuesSeenAtB) > 0, "A's value never reached B");
        }
        else
        {
            await a.RemoveAsync("marker"); // once B has it, B has what A sent before: no value came
            await marker.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }

        var atB = await b.GetOrCreateAsync("product:7", 0, (_, _) => { Interlocked.Increment(ref loads); return ValueTask.FromResult("from-b"); }, Instances.Minute);
        if (shareValues)
        {
            Assert.Equal(1, valuesSeenAtB);
            Assert.Equal("from-a", atB);
            Assert.Equal(1, loads);
        }
        else
        {
            Assert.Equal(0, valuesSeenAtB);
            Assert.Equal("from-b", atB);
            Assert.Equal(2, loads);
        }
    }

    [Fact]
    public async Task ListenConnectionTerminated_ItReconnects_AndNoRemovalSentAfterwardsIsLost()
    {
        const int keys = 100;
        var channel = Instances.NewChannel();
        await using var appA = Instances.Start(null, Pg, channel);
        await using var appB = Instances.Start(null, Pg, channel);
        var a = await Instances.ReadyAsync(appA);
        var b = await Instances.ReadyAsync(appB);
        var listenerB = appB.GetRequiredService<PostgreSqlInvalidationChannel>();
        for (var i = 0; i < keys; i++)
        {
            Assert.Equal(1, await b.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult(1), Instances.Minute));
            await a.RemoveAsync("warm" + i); // A's NOTIFY pool has connections
        }

        var pid = listenerB.ListenerProcessId;
        Assert.NotEqual(0, pid);
        var epoch = ((ILeveeInvalidationChannel)listenerB).DeliveryEpoch;
        Assert.NotNull(epoch); // listening: it can vouch for what it received
        // B's listening session and A's pooled NOTIFY sessions are terminated by the server
        await pg.Server.QueryScalarAsync($"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid = {pid} OR application_name = 'levee-notify'");

        await Instances.Until(() => listenerB.ConnectCount >= 2 && listenerB.IsListening, "B's listening connection did not come back");
        Assert.NotNull(listenerB.LastError);
        Assert.NotEqual(pid, listenerB.ListenerProcessId);
        Assert.NotEqual(epoch, ((ILeveeInvalidationChannel)listenerB).DeliveryEpoch); // NOTIFYs sent while it reconnected are lost: a new epoch
        for (var i = 0; i < keys; i++)
        {
            await a.RemoveAsync("k" + i);
        }

        var dropped = new bool[keys];
        await Instances.UntilAsync(async () =>
        {
            for (var i = 0; i < keys; i++)
            {
                dropped[i] = dropped[i] || await b.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult(2), Instances.Minute) == 2;
            }

            return dropped.All(d => d);
        }, "removals sent after the reconnect were lost");
        Assert.Equal(keys, dropped.Count(d => d));
    }

    [Fact]
    public async Task TransactionalRemoval_CommitDelivers_RollbackDoesNot_AndAReceiverDeletesTheRedisEntry()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        var channel = Instances.NewChannel();
        var table = "product_" + channel;
        await pg.Server.ExecuteAsync($"CREATE TABLE {table} (id int PRIMARY KEY, price int NOT NULL); INSERT INTO {table} VALUES (1, 10), (2, 20)");
        await using var appA = Instances.Start(redis.Endpoint, Pg, channel);
        var a = await Instances.ReadyAsync(appA);
        await using var db = NpgsqlDataSource.Create(Pg);
        var queries = 0;
        async ValueTask<int> Price(int id, CancellationToken ct)
        {
            Interlocked.Increment(ref queries);
            await using var command = db.CreateCommand($"SELECT price FROM {table} WHERE id = $1");
            command.Parameters.Add(new NpgsqlParameter { Value = id });
            return (int)(await command.ExecuteScalarAsync(ct))!;
        }

        Assert.Equal(10, await a.GetOrCreateAsync("product:1", 1, Price, Instances.Minute));
        Assert.Equal(20, await a.GetOrCreateAsync("product:2", 2, Price, Instances.Minute));
        await Instances.UntilAsync(async () => !(await redis.ExecuteAsync("GET", "levee:d:0:product:2")).IsNull, "product:2 not stored in Redis");

        // another process, with no cache at all: its writes and removals commit (or not) together, then it is gone
        await using (var app = new NpgsqlConnection(Pg))
        {
            await app.OpenAsync();
            await using (var rolledBack = await app.BeginTransactionAsync())
            {
                await using (var update = new NpgsqlCommand($"UPDATE {table} SET price = 11 WHERE id = 1", app, rolledBack))
                {
                    await update.ExecuteNonQueryAsync();
                }

                await LeveePostgreSql.RemoveInTransactionAsync(rolledBack, "product:1", channel);
                await rolledBack.RollbackAsync();
            }

            await using var committed = await app.BeginTransactionAsync();
            await using (var update = new NpgsqlCommand($"UPDATE {table} SET price = 21 WHERE id = 2", app, committed))
            {
                await update.ExecuteNonQueryAsync();
            }

            await LeveePostgreSql.RemoveInTransactionAsync(committed, "product:2", channel);
            await committed.CommitAsync();
        }

        // a receiver deletes the older Redis entry (no RemoveAsync was called anywhere)
        await Instances.UntilAsync(async () => (await redis.ExecuteAsync("GET", "levee:d:0:product:2")).IsNull, "the Redis entry of product:2 was not deleted");
        Assert.Equal(21, await a.GetOrCreateAsync("product:2", 2, Price, Instances.Minute));
        Assert.Equal(3, queries);

        // the rolled-back removal never arrived (notifications arrive in commit order; product:2's did): L1 still serves 10
        Assert.Equal(10, await a.GetOrCreateAsync("product:1", 1, Price, Instances.Minute));
        Assert.Equal(3, queries);
        Assert.False((await redis.ExecuteAsync("GET", "levee:d:0:product:1")).IsNull);
    }

    [Fact]
    public async Task TransactionalRemoval_KeyTooLongForNotify_IsRefusedClearly()
    {
        await using var connection = new NpgsqlConnection(Pg);
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => LeveePostgreSql.RemoveInTransactionAsync(tx, new string('k', 8000)));
        Assert.Contains("NOTIFY", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedInvalidation_GoesOutAsAClearAll_NeverDropped()
    {
        var channel = Instances.NewChannel();
        await using var appA = Instances.Start(null, Pg, channel);
        await using var appB = Instances.Start(null, Pg, channel);
        var a = await Instances.ReadyAsync(appA);
        var b = await Instances.ReadyAsync(appB);
        Assert.Equal(1, await b.GetOrCreateAsync("other", 0, (_, _) => ValueTask.FromResult(1), Instances.Minute));
        var longTag = new string('t', 9000);

        await a.RemoveByTagAsync(longTag);

        await Instances.UntilAsync(async () => await b.GetOrCreateAsync("other", 0, (_, _) => ValueTask.FromResult(2), Instances.Minute) == 2,
            "the oversized invalidation was not sent as a clear-all");
    }
}
