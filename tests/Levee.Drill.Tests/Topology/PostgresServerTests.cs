using System.Globalization;
using Levee.Drill.Topology;
using Xunit.Abstractions;
using Npgsql;

namespace Levee.Drill.Tests.Topology;

public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var options = new PostgresOptions { MaxConnections = 42, Database = "levee_test" };
        options.Config.Add("work_mem = '8MB'");
        Server = await PostgresServer.StartAsync(options);
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class PostgresServerTests(PostgresFixture fixture, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private PostgresServer Server => fixture.Server;

    [Fact]
    public async Task Started_AnswersSelect1_WithTheConfiguredSettings()
    {
        output.WriteLine($"startup: postgres (initdb + start + create database + extension) ready in {Server.StartupTime.TotalMilliseconds:0} ms");
        Assert.True(Server.StartupTime > TimeSpan.Zero);
        await using var connection = new NpgsqlConnection(Server.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        Assert.Equal(1, await command.ExecuteScalarAsync());

        Assert.Equal("levee_test", await Server.QueryScalarAsync("SELECT current_database()"));
        Assert.Equal("42", await Server.QueryScalarAsync("SHOW max_connections"));
        Assert.Equal("8MB", await Server.QueryScalarAsync("SHOW work_mem"));
        Assert.Equal("127.0.0.1", await Server.QueryScalarAsync("SHOW listen_addresses"));
        Assert.Equal(Server.Port.ToString(CultureInfo.InvariantCulture), await Server.QueryScalarAsync("SHOW port"));
        Assert.StartsWith(Server.Directory, Server.DataDirectory, StringComparison.Ordinal);
        Assert.True(File.Exists(Server.LogFile));
    }

    [Fact]
    public async Task PgStatStatements_CountsQueries()
    {
        Assert.True(Server.HasPgStatStatements);
        await Server.ExecuteAsync("CREATE TABLE IF NOT EXISTS t_count (id int)");
        await Server.ExecuteAsync("SELECT count(*) FROM t_count");
        var calls = await Server.QueryScalarAsync("SELECT sum(calls)::bigint FROM pg_stat_statements WHERE query LIKE 'SELECT count(*) FROM t_count%'");
        Assert.True(Convert.ToInt64(calls, CultureInfo.InvariantCulture) >= 1);
    }

    [Fact]
    public void RunsAsNonRoot_WhenStartedByRoot()
    {
        var uid = File.ReadLines($"/proc/{Server.Pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1];
        var myUid = File.ReadLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1];
        if (myUid == "0")
        {
            Assert.NotEqual("0", uid);
        }
        else
        {
            Assert.Equal(myUid, uid);
        }
    }

    [Fact]
    public async Task Freeze_QueryTimesOut_Thaw_Answers()
    {
        await Server.ExecuteAsync("SELECT 1");
        Server.Freeze();
        try
        {
            var quick = new NpgsqlConnectionStringBuilder(Server.ConnectionString) { Pooling = false, Timeout = 1, CommandTimeout = 1 }.ConnectionString;
            await using var connection = new NpgsqlConnection(quick);
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("SELECT 1", connection);
                await command.ExecuteScalarAsync();
            });
        }
        finally
        {
            Server.Thaw();
        }

        Assert.Equal(1, await Server.QueryScalarAsync("SELECT 1"));
    }
}

public sealed class PostgresLifecycleTests
{
    [Fact]
    public async Task Kill_ServerGone_Dispose_LeavesNoProcessBehind()
    {
        var host = new ProcessHost();
        var first = await PostgresServer.StartAsync(host);
        var second = await PostgresServer.StartAsync(host);
        await using (var connection = new NpgsqlConnection(second.ConnectionString + ";Pooling=false"))
        {
            await connection.OpenAsync();
        }

        var firstPid = first.Pid;
        first.Kill();
        Assert.False(first.IsRunning);
        Assert.False(Signals.IsAlive(firstPid));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => first.ExecuteAsync("SELECT 1"));

        var secondPid = second.Pid;
        var backends = ChildPids(secondPid);
        Assert.NotEmpty(backends);
        await host.DisposeAsync();

        Assert.False(Signals.IsAlive(secondPid));
        Assert.All(backends, pid => Assert.False(Signals.IsAlive(pid), $"backend {pid} survived"));
        Assert.False(Directory.Exists(host.Root));
    }

    private static List<int> ChildPids(int parent) =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var p) ? p : 0)
            .Where(p => p > 0)
            .Where(p =>
            {
                try
                {
                    var stat = File.ReadAllText($"/proc/{p}/stat");
                    return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1] == parent.ToString(CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    return false;
                }
            })
            .ToList();
}
