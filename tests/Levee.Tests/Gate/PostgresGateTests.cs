using System.Globalization;
using Levee.Drill.Topology;
using Levee.Serialization;
using Levee.Tests.Fakes;
using Npgsql;
using Xunit.Abstractions;

namespace Levee.Tests.Gate;

/// <summary>A throw-away PostgreSQL (initdb + postgres on a free loopback port), stopped after the class.</summary>
public sealed class GatePostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Server = await PostgresServer.StartAsync(new PostgresOptions { MaxConnections = 120, PgStatStatements = false });

    public async Task DisposeAsync() => await Server.DisposeAsync();

    /// <summary>A pooled data source whose connections carry <paramref name="applicationName"/> (to find them in pg_stat_activity).</summary>
    public NpgsqlDataSource DataSource(string applicationName, int maxPool) =>
        NpgsqlDataSource.Create($"{Server.ConnectionString};Application Name={applicationName};Maximum Pool Size={maxPool.ToString(CultureInfo.InvariantCulture)};Timeout=15");
}

/// <summary>The admission gate in front of a REAL PostgreSQL: what the database sees, counted by pg_stat_activity.</summary>
[Collection(RealProcesses.Name)]
public sealed class PostgresGateTests(GatePostgresFixture fixture, ITestOutputHelper output) : IClassFixture<GatePostgresFixture>
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task TwoThousandConcurrentMisses_FixedLimit16_PostgresNeverSeesMoreThan16Queries()
    {
        const string app = "levee-gate-fixed";
        await using var db = fixture.DataSource(app, maxPool: 100);
        var time = TestCache.NewTime(); // the cache's clock: TTLs and the queue timeout move only when the test says so
        var options = new LeveeOptions
        {
            TimeProvider = time,
            JitterFraction = 0,
            EarlyRefreshRatio = 1,
            FactorySoftTimeout = Timeout.InfiniteTimeSpan,
            FactoryHardTimeout = Timeout.InfiniteTimeSpan,
            Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 16, QueueLimit = 100, QueueTimeout = TimeSpan.FromSeconds(1) },
        };
        await using var cache = new LeveeCache(options, null, new SerializerRegistry(null, null, options.JsonSerializerOptions), null, null);

        for (var i = 0; i < 2000; i += 2)
        {
            await cache.SetAsync("product:" + i, -i, OneMinute); // even keys: a value that will be stale
        }

        time.Advance(TimeSpan.FromMinutes(2));

        var inFactory = 0;
        var maxInFactory = 0;
        var factoryCalls = 0;
        using var stop = new CancellationTokenSource();
        var monitor = Task.Run(() => MaxActiveAsync(app, stop.Token));
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); // holds the first 16 until every caller has arrived
        Func<int, CancellationToken, ValueTask<int>> query = async (id, ct) =>
        {
            Interlocked.Increment(ref factoryCalls);
            GateEngineTests.InterlockedMax(ref maxInFactory, Interlocked.Increment(ref inFactory));
            try
            {
                await go.Task;
                await using var command = db.CreateCommand("SELECT @id FROM pg_sleep(0.15)");
                command.Parameters.AddWithValue("id", id);
                return (int)(await command.ExecuteScalarAsync(ct))!;
            }
            finally
            {
                Interlocked.Decrement(ref inFactory);
            }
        };

        var tasks = new Task<int>[2000];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = cache.GetOrCreateAsync("product:" + i, i, query, OneMinute).AsTask();
        }

        Assert.Equal(100, cache.GetGateStatus()[0].Queued); // bounded: the 101st caller without a stale value was refused
        go.SetResult();

        var results = new List<(int Key, int Value, Exception? Error)>();
        for (var i = 0; i < tasks.Length; i++)
        {
            try
            {
                results.Add((i, await tasks[i], null));
            }
            catch (Exception ex)
            {
                results.Add((i, 0, ex));
            }
        }

        await stop.CancelAsync();
        var maxActive = await monitor;
        var fromDb = results.Count(r => r.Error is null && r.Value >= 0 && (r.Value == r.Key));
        var stale = results.Count(r => r.Error is null && r.Value < 0);
        var shed = results.Count(r => r.Error is LeveeOverloadedException);
        output.WriteLine($"2,000 misses, gate limit 16, queue 100: {fromDb} answered by PostgreSQL, {stale} served stale, {shed} refused; " +
                         $"max factories in flight {maxInFactory}, max active queries in pg_stat_activity {maxActive}, factory calls {factoryCalls}");

        Assert.InRange(maxInFactory, 1, 16);
        Assert.Equal(16, maxInFactory);
        Assert.InRange(maxActive, 1, 16);
        Assert.Equal(116, factoryCalls);                // the first 16 callers + the 100 that fit in the queue
        Assert.Equal(116, fromDb);
        Assert.Equal(992, stale);                       // every even key after the first 16: stale at once, no waiting
        Assert.Equal(892, shed);                        // odd keys after the queue filled: refused at once
        Assert.All(results.Where(r => r.Error is not null), r =>
        {
            var ex = Assert.IsType<LeveeOverloadedException>(r.Error);
            Assert.Equal("queue_full", ex.Reason);
            Assert.Equal(16, ex.Limit);
        });
        Assert.Equal(16, cache.GetGateStatus()[0].PeakInFlight);
    }

    [Fact]
    public async Task AdaptiveLimit_FallsWhenPostgresSlowsDown_AndRisesWhenItRecovers()
    {
        const string app = "levee-gate-adaptive";
        await using var db = fixture.DataSource(app, maxPool: 60);
        var options = new LeveeOptions
        {
            JitterFraction = 0,
            EarlyRefreshRatio = 1,
            L1MaxEntries = 1000,
            Gate = new LeveeGateOptions
            {
                InitialLimit = 24, MinLimit = 2, MaxLimit = 48,
                AdaptiveWindow = TimeSpan.FromMilliseconds(50), AdaptiveWindowMinSamples = 5,
                QueueLimit = 1000, QueueTimeout = TimeSpan.FromSeconds(30),
            },
        };
        await using var cache = new LeveeCache(options, null, new SerializerRegistry(null, null, options.JsonSerializerOptions), null, null);

        // Open the pool's connections first: connection set-up (tens of ms each on a busy machine) in the first windows
        // would otherwise raise the gate's latency baseline to where a 50 ms slow-down no longer looks slow.
        var warm = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ => db.OpenConnectionAsync().AsTask()));
        foreach (var connection in warm)
        {
            await connection.DisposeAsync();
        }

        var delay = 0.0; // seconds of pg_sleep per query: the "database slows down" switch
        var next = 0L;
        var calls = 0L;
        using var stop = new CancellationTokenSource();
        Func<int, CancellationToken, ValueTask<int>> query = async (id, ct) =>
        {
            Interlocked.Increment(ref calls);
            await using var command = db.CreateCommand("SELECT @id FROM pg_sleep(@d)");
            command.Parameters.AddWithValue("id", id);
            command.Parameters.AddWithValue("d", Volatile.Read(ref delay));
            return (int)(await command.ExecuteScalarAsync(ct))!;
        };
        var workers = Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var id = (int)Interlocked.Increment(ref next);
                await cache.GetOrCreateAsync("row:" + id, id, query, OneMinute); // every call a miss: every call a query
            }
        })).ToArray();

        try
        {
            int Limit() => cache.GetGateStatus()[0].Limit;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await Until(() => Interlocked.Read(ref calls) >= 1500, TimeSpan.FromSeconds(30), "1,500 fast queries");
            var healthy = Limit();
            var t1 = clock.Elapsed.TotalSeconds;

            // Every query now takes at least 50 ms, and at least 5x the baseline the gate learnt with fast queries (the
            // baseline depends on how busy this machine is; the slow-down has to be one whatever it is).
            var baseline = cache.GetGateInternals()[0].Latency.Long;
            var slowBy = Math.Max(0.05, Math.Round(5 * baseline, 3));
            Volatile.Write(ref delay, slowBy);
            var slowFrom = Interlocked.Read(ref calls);
            // the limit settles near half of what it was (26 -> 14, 27 -> 13, 28 -> 14, 31 -> 15 in runs on 2026-11-26):
            // "at most half" was a coin toss at the boundary; two thirds is a fall that no healthy limit shows
            await Until(() => Limit() <= healthy * 2 / 3, TimeSpan.FromSeconds(30), $"limit at most {healthy * 2 / 3} while PostgreSQL is slow (was {healthy})");
            var slow = Limit();
            var t2 = clock.Elapsed.TotalSeconds;
            // what PostgreSQL sees once the queries started under the old limit have finished: never more than the gate's
            // limit at the time (the highest it had while this was measured), and some (the callers keep coming)
            await Until(() => cache.GetGateStatus()[0].InFlight <= Limit(), TimeSpan.FromSeconds(30), "queries in flight within the lowered limit");
            var limitWhileMeasured = Limit();
            using var measuring = new CancellationTokenSource();
            var limits = Task.Run(async () =>
            {
                while (!measuring.IsCancellationRequested)
                {
                    limitWhileMeasured = Math.Max(limitWhileMeasured, Limit());
                    await Task.Delay(5, CancellationToken.None);
                }
            });
            var activeWhileSlow = await MaxActiveForAsync(app, TimeSpan.FromMilliseconds(300));
            await measuring.CancelAsync();
            await limits;

            Volatile.Write(ref delay, 0.0);
            await Until(() => Limit() >= slow + (slow / 2) + 2, TimeSpan.FromSeconds(30), $"limit at least {slow + (slow / 2) + 2} after PostgreSQL recovered (was {slow})");
            var recovered = Limit();
            var t3 = clock.Elapsed.TotalSeconds;
            output.WriteLine($"adaptive limit: {healthy} with fast queries -> {slow} with pg_sleep({slowBy:0.000}) (baseline {baseline * 1000:0.0} ms; {Interlocked.Read(ref calls) - slowFrom} queries since the slow-down; " +
                             $"max active in pg_stat_activity meanwhile {activeWhileSlow}, limit then at most {limitWhileMeasured}) -> {recovered} after recovery; phases ended at {t1:0.0} s, {t2:0.0} s, {t3:0.0} s");
            Assert.True(slow < healthy);
            Assert.True(recovered > slow);
            Assert.InRange(activeWhileSlow, 1, limitWhileMeasured);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }
    }

    /// <summary>
    /// The measured example of docs/gate.md: 64 callers in a closed loop, every call a cache miss (Redis down, cold L1),
    /// each miss a CPU-bound query, for 2 s per gate setting. Prints a table; asserts what the gate promises.
    /// </summary>
    [Fact]
    public async Task MeasuredExample_CpuBoundQueries_GateBoundsPostgresConcurrency_LatencyPrintedNotAsserted()
    {
        var rows = new List<string>
        {
            "| gate | queries/s | query p50 ms | query p95 ms | caller p95 ms | max active in pg_stat_activity | refused | final limit |",
            "|---|---|---|---|---|---|---|---|",
        };
        var none = await RunExampleAsync("none (limit 10000)", new LeveeGateOptions { Adaptive = false, InitialLimit = 10_000, QueueLimit = 1000, QueueTimeout = TimeSpan.FromSeconds(5) }, rows);
        var fixed16 = await RunExampleAsync("fixed 16", new LeveeGateOptions { Adaptive = false, InitialLimit = 16, QueueLimit = 100, QueueTimeout = TimeSpan.FromSeconds(1) }, rows);
        var fixed4 = await RunExampleAsync("fixed 4", new LeveeGateOptions { Adaptive = false, InitialLimit = 4, QueueLimit = 100, QueueTimeout = TimeSpan.FromSeconds(1) }, rows);
        // MaxLimit 32 < 64 callers: the adaptive row's bound below can fail
        var adaptive = await RunExampleAsync("adaptive (16, 2..32)", new LeveeGateOptions { AdaptiveWindow = TimeSpan.FromMilliseconds(100), MaxLimit = 32, QueueLimit = 100, QueueTimeout = TimeSpan.FromSeconds(1) }, rows);
        output.WriteLine($"{Environment.ProcessorCount} cores, PostgreSQL 15, 64 callers, every call a miss, query SELECT count(*) FROM generate_series(1, 200000), 2 s per row");
        foreach (var row in rows)
        {
            output.WriteLine(row);
        }

        // The ungated row is the control of the example: how many queries PostgreSQL sees at once without a gate depends
        // on the machine's scheduling (seen here: 10 to 51), so it is printed, not asserted. The gate's bounds are asserted.
        Assert.True(none.MaxActive >= 1, "the ungated run reached PostgreSQL");
        Assert.InRange(fixed16.MaxActive, 1, 16);
        Assert.InRange(fixed4.MaxActive, 1, 4);
        Assert.InRange(adaptive.MaxActive, 1, 32);
    }

    private async Task<(int MaxActive, double P95)> RunExampleAsync(string label, LeveeGateOptions gate, List<string> rows)
    {
        var app = "levee-example-" + rows.Count.ToString(CultureInfo.InvariantCulture);
        await using var db = fixture.DataSource(app, maxPool: 100);
        var options = new LeveeOptions { JitterFraction = 0, EarlyRefreshRatio = 1, L1MaxEntries = 1000, Gate = gate };
        await using var cache = new LeveeCache(options, null, new SerializerRegistry(null, null, options.JsonSerializerOptions), null, null);
        var queryMs = new System.Collections.Concurrent.ConcurrentBag<double>();
        var callerMs = new System.Collections.Concurrent.ConcurrentBag<double>();
        var refused = 0;
        var next = 0;
        Func<int, CancellationToken, ValueTask<int>> query = async (id, ct) =>
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await using var command = db.CreateCommand("SELECT count(*)::int + @id - @id FROM generate_series(1, 200000)");
            command.Parameters.AddWithValue("id", id);
            var value = (int)(await command.ExecuteScalarAsync(ct))!;
            queryMs.Add(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return value;
        };
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        using var monitorStop = new CancellationTokenSource();
        var monitor = Task.Run(() => MaxActiveAsync(app, monitorStop.Token));
        var workers = Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                try
                {
                    await cache.GetOrCreateAsync("row:" + Interlocked.Increment(ref next), 0, query, OneMinute);
                }
                catch (LeveeOverloadedException)
                {
                    Interlocked.Increment(ref refused);
                }

                callerMs.Add(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        })).ToArray();
        await Task.WhenAll(workers);
        await monitorStop.CancelAsync();
        var maxActive = await monitor;
        static double P(IEnumerable<double> values, double q)
        {
            var sorted = values.Order().ToArray();
            return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
        }

        var p95 = P(queryMs, 0.95);
        rows.Add(string.Create(CultureInfo.InvariantCulture,
            $"| {label} | {queryMs.Count / 2.0:0} | {P(queryMs, 0.5):0.0} | {p95:0.0} | {P(callerMs, 0.95):0.0} | {maxActive} | {refused} | {cache.GetGateStatus()[0].Limit} |"));
        return (maxActive, p95);
    }

    private async Task<int> MaxActiveAsync(string app, CancellationToken stop)
    {
        await using var connection = new NpgsqlConnection(fixture.Server.ConnectionString + ";Application Name=levee-monitor");
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE application_name = @app AND state = 'active'", connection);
        command.Parameters.AddWithValue("app", app);
        var max = 0;
        while (!stop.IsCancellationRequested)
        {
            max = Math.Max(max, (int)(long)(await command.ExecuteScalarAsync(CancellationToken.None))!);
        }

        return max;
    }

    private async Task<int> MaxActiveForAsync(string app, TimeSpan duration)
    {
        using var cts = new CancellationTokenSource(duration);
        return await MaxActiveAsync(app, cts.Token);
    }

    private static async Task Until(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not reached within {timeout.TotalSeconds:0} s: {what}");
            await Task.Delay(20);
        }
    }
}
