using System.Diagnostics;
using System.Net.Http.Json;
using Levee.Drill.Topology;
using Levee.Sample.Storefront;
using Microsoft.AspNetCore.Builder;
using Npgsql;
using Xunit.Abstractions;

namespace Levee.Sample.Tests;

/// <summary>
/// <see cref="Sandbox"/> (what <c>levee sandbox</c> runs) with the storefront's catalog.sql: real PostgreSQL, redis-server
/// and redis-sentinel processes; the storefront reads through it with the Sentinel connection string; disposing leaves
/// no process and no folder behind.
/// </summary>
public sealed class SandboxTests(ITestOutputHelper output)
{
    private static string CatalogSql => Path.Combine(Repo.Root, "samples", "Levee.Sample.Storefront", "catalog.sql");

    [Fact]
    public async Task Sandbox_SeedsTheCatalog_ResolvesTheMasterThroughSentinel_StorefrontServesIt_DisposeLeavesNothing()
    {
        var options = new SandboxOptions();
        options.Postgres.Database = "storefront";
        options.SqlFiles.Add(CatalogSql);
        var started = Stopwatch.StartNew();
        var sandbox = await Sandbox.StartAsync(options);
        IReadOnlyList<int> pids;
        string folder;
        try
        {
            output.WriteLine($"sandbox ready in {started.Elapsed.TotalSeconds:0.0} s, {sandbox.Directory}");
            pids = sandbox.ProcessIds;
            folder = sandbox.Directory;
            Assert.Equal(1 + 3 + 3 + 1, pids.Count); // postgres, master + 2 replicas, 3 sentinels, the watchdog
            Assert.All(pids, pid => Assert.True(ProcessHost.IsAlive(pid), $"pid {pid} is not running"));
            Assert.StartsWith(sandbox.Redis.Sentinels[0].Endpoint + ",", sandbox.RedisConnectionString, StringComparison.Ordinal);
            Assert.EndsWith(",serviceName=mymaster", sandbox.RedisConnectionString, StringComparison.Ordinal);

            // every Sentinel resolves the service name to the master
            foreach (var sentinel in sandbox.Redis.Sentinels)
            {
                var reply = await sentinel.ExecuteAsync("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster");
                Assert.Equal(sandbox.Redis.Master.Endpoint, $"{reply.Items[0].Text}:{reply.Items[1].Text}");
            }

            // the seeded catalog, through the printed connection string
            await using (var db = new NpgsqlConnection(sandbox.PostgresConnectionString))
            {
                await db.OpenAsync();
                await using var count = new NpgsqlCommand("SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM users)", db);
                Assert.Equal(6000L, await count.ExecuteScalarAsync());
            }

            // the storefront on it: Redis through the Sentinels
            var app = StorefrontApp.Build([
                "--urls", "http://127.0.0.1:0",
                "--ConnectionStrings:Postgres=" + sandbox.PostgresConnectionString,
                "--Redis=" + sandbox.RedisConnectionString,
                "--Logging:LogLevel:Default=Warning",
            ]);
            await app.StartAsync();
            try
            {
                using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(10) };
                var featured = await http.GetFromJsonAsync<List<Product>>("/products/featured");
                Assert.Equal(100, featured!.Count);
                Assert.False((await sandbox.Redis.Master.ExecuteAsync("GET", "levee:d:0:products:featured")).IsNull); // cached on the master the Sentinels named
            }
            finally
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await sandbox.DisposeAsync();
        }

        Assert.All(pids, pid => Assert.False(ProcessHost.IsAlive(pid), $"pid {pid} still runs after dispose"));
        if (Environment.GetEnvironmentVariable(ProcessHost.KeepVariable) != "1")
        {
            Assert.False(Directory.Exists(folder), $"{folder} still exists after dispose");
        }
    }

    [Fact]
    public async Task Sandbox_BadSqlFile_FailsNamingTheFileAndTheError()
    {
        var bad = Path.Combine(Path.GetTempPath(), $"levee-bad-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(bad, "CREATE TABLE broken (;");
        try
        {
            var options = new SandboxOptions();
            options.Redis.Replicas = 0;
            options.Redis.Sentinels = 1;
            options.Redis.Quorum = 1;
            options.SqlFiles.Add(bad);
            var ex = await Assert.ThrowsAsync<TopologyException>(() => Sandbox.StartAsync(options)); // and the processes are stopped (the catch disposes the host)
            Assert.Contains(bad, ex.Message, StringComparison.Ordinal);
            Assert.Contains("42601", ex.Message, StringComparison.Ordinal); // syntax_error
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Fact]
    public async Task Sandbox_MissingSqlFile_IsAnOptionsError_BeforeAnyProcessStarts()
    {
        var options = new SandboxOptions();
        options.SqlFiles.Add("/no/such/catalog.sql");
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => Sandbox.StartAsync(options));
        Assert.Contains("/no/such/catalog.sql", ex.Message, StringComparison.Ordinal);
    }
}
