using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Levee.Drill.Topology;
using Npgsql;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Levee.Cli.Tests;

/// <summary>
/// <c>levee sandbox</c> in-process against real processes: the printed <c>LEVEE_SANDBOX_*</c> lines work (Redis through
/// the Sentinels, the seeded PostgreSQL), and cancelling the command (what Ctrl+C and SIGTERM do) stops every process
/// it printed and removes its folder.
/// </summary>
public sealed class SandboxCommandTests(ITestOutputHelper testOutput)
{
    [Fact]
    public async Task Sandbox_PrintsWorkingConnectionStrings_CancelStopsEveryProcess()
    {
        var catalog = Path.Combine(Repo.Root, "samples", "Levee.Sample.Storefront", "catalog.sql");
        var output = new CaptureWriter();
        var error = new CaptureWriter();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var run = LeveeCommand.RunAsync(
            ["sandbox", "--database", "shop", "--sql", catalog, "--replicas", "1"],
            new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null },
            stop.Token);
        try
        {
            while (!output.Text.Contains("LEVEE_SANDBOX_READY=1\n", StringComparison.Ordinal))
            {
                if (run.IsCompleted)
                {
                    Assert.Fail($"levee sandbox ended before it was ready (exit {await run}):\n{error.Text}");
                }

                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(180), "not ready within 180 s:\n" + error.Text);
                await Task.Delay(100);
            }

            testOutput.WriteLine($"ready after {clock.Elapsed.TotalSeconds:0.0} s\n{output.Text}{error.Text}");
            var values = output.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('=', 2))
                .ToDictionary(p => p[0], p => p[1]);
            Assert.Equal(
                ["LEVEE_SANDBOX_POSTGRES", "LEVEE_SANDBOX_REDIS", "LEVEE_SANDBOX_REDIS_MASTER", "LEVEE_SANDBOX_REDIS_SERVICE", "LEVEE_SANDBOX_DIR", "LEVEE_SANDBOX_PIDS", "LEVEE_SANDBOX_READY"],
                values.Keys);
            var pids = values["LEVEE_SANDBOX_PIDS"].Split(' ').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(1 + 2 + 3 + 1, pids.Count); // postgres, master + 1 replica, 3 sentinels, the watchdog
            Assert.All(pids, pid => Assert.True(ProcessHost.IsAlive(pid), $"pid {pid} is not running"));
            var folder = values["LEVEE_SANDBOX_DIR"];
            Assert.True(Directory.Exists(folder));

            // Redis through the Sentinels: a Sentinel names the printed master, and a write through the service name lands there
            var sentinel = values["LEVEE_SANDBOX_REDIS"].Split(',')[0];
            await using (var sentinels = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { sentinel }, CommandMap = CommandMap.Sentinel }))
            {
                var master = await sentinels.GetServer(sentinel).SentinelGetMasterAddressByNameAsync(values["LEVEE_SANDBOX_REDIS_SERVICE"]);
                Assert.Equal(values["LEVEE_SANDBOX_REDIS_MASTER"], master!.ToString());
            }

            await using (var redis = await ConnectionMultiplexer.ConnectAsync(values["LEVEE_SANDBOX_REDIS"]))
            {
                await redis.GetDatabase().StringSetAsync("sandbox:test", "written through the Sentinels");
            }

            await using (var master = await ConnectionMultiplexer.ConnectAsync(values["LEVEE_SANDBOX_REDIS_MASTER"]))
            {
                Assert.Equal("written through the Sentinels", await master.GetDatabase().StringGetAsync("sandbox:test"));
            }

            // the seeded catalog
            await using (var db = new NpgsqlConnection(values["LEVEE_SANDBOX_POSTGRES"] + ";Pooling=false"))
            {
                await db.OpenAsync();
                await using var count = new NpgsqlCommand("SELECT count(*) FROM products", db);
                Assert.Equal(5000L, await count.ExecuteScalarAsync());
                Assert.Equal("shop", db.Database);
            }

            var stopping = Stopwatch.StartNew();
            await stop.CancelAsync();
            Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(90)));
            testOutput.WriteLine($"stopped in {stopping.Elapsed.TotalSeconds:0.0} s\n{error.Text}");
            Assert.All(pids, pid => Assert.False(ProcessHost.IsAlive(pid), $"pid {pid} still runs after the sandbox stopped"));
            if (Environment.GetEnvironmentVariable(ProcessHost.KeepVariable) != "1")
            {
                Assert.False(Directory.Exists(folder), $"{folder} still exists after the sandbox stopped");
                Assert.Contains("levee sandbox: stopped; removed " + folder, error.Text, StringComparison.Ordinal);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(90)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>A writer the command and the test share across threads.</summary>
    private sealed class CaptureWriter : TextWriter
    {
        private readonly StringBuilder _text = new();

        public override Encoding Encoding => Encoding.UTF8;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public override void Write(char value)
        {
            lock (_text)
            {
                _text.Append(value);
            }
        }

        public override void Write(string? value)
        {
            lock (_text)
            {
                _text.Append(value);
            }
        }
    }
}
