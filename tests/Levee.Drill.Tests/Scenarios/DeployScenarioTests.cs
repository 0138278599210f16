using System.Collections.Concurrent;
using Levee.Drill.Catalog;
using Levee.Drill.Clients;
using Levee.Drill.Reporting;
using Xunit.Abstractions;

namespace Levee.Drill.Tests.Scenarios;

/// <summary>
/// The <c>deploy</c> scenario against real redis-server / redis-sentinel / PostgreSQL processes, short phases, low rate:
/// every app instance is replaced once by a new client, traffic moves to it, the old one is disposed after its requests.
/// Behaviour and counts only, never timings.
/// </summary>
[Collection(DrillProcessesGroup.Name)]
public sealed class DeployScenarioTests(ITestOutputHelper output) : IDisposable
{
    private const int Instances = 2;
    private readonly string outDir = Path.Combine(Path.GetTempPath(), "levee-drill-deploy-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public void Deploy_IsListed_OnAHealthySentinelTopology_WithoutFailover()
    {
        var deploy = Levee.Drill.Scenarios.ScenarioCatalog.Find("deploy");
        Assert.NotNull(deploy);
        Assert.True(deploy.Implemented);
        Assert.Equal("sentinel", deploy.Topology.Kind);
        Assert.Equal(2, deploy.Topology.Quorum);
        Assert.False(deploy.ExpectsAutomaticFailover);
        Assert.Contains(DrillRunner.Scenarios, s => s.Name == "deploy");
    }

    [Fact]
    public async Task Deploy_EveryInstanceReplacedOnce_NewClientEmptyL1NewConnection_OldOneDisposedAfterItsRequests()
    {
        var kind = new ModelKind();
        var (_, report) = await RunAsync(kind);
        var run = Assert.Single(report.Runs);
        AssertDeployed(run);

        // the first clients, then one new client per instance, each with its own connection and an empty L1
        Assert.Equal(2 * Instances, kind.Clients.Count);
        Assert.Equal(2 * Instances, kind.Clients.Select(c => c.Connection).Distinct().Count());
        var replacements = kind.Clients.Skip(Instances).ToList();
        foreach (var client in replacements)
        {
            Assert.True(client.Gets > 0, $"replacement {client.Connection} took no traffic");
            Assert.Equal(0, client.L1CountAtFirstGet); // a new pod's cache starts empty
            Assert.True(client.L2HitsBeforeAnyLoad > 0 || client.Loads == 0, "a new client reads what the old ones wrote to the shared L2");
        }

        // the old clients were disposed during the run (after the new ones went live), the new ones at its end; none was
        // called after its disposal
        Assert.All(kind.Clients, c => Assert.True(c.Disposed, $"client {c.Connection} not disposed"));
        Assert.All(kind.Clients, c => Assert.Equal(0, c.CallsAfterDispose));
        foreach (var (old, replacement) in kind.Clients.Take(Instances).Zip(replacements))
        {
            Assert.True(old.DisposedOrder < replacement.DisposedOrder, "an old client is disposed by the deploy, before the run ends");
        }

        // the deploy counts what the new clients did in their first 3 s: every read, and the reads that loaded from the database
        var done = Assert.Single(run.Events!, e => e.Action.StartsWith("deploy done: ", StringComparison.Ordinal)).Action;
        var counts = System.Text.RegularExpressions.Regex.Match(done, @"served (\d+) reads, (\d+) of them loaded from the database; read p95 [0-9.]+ ms, max [0-9.]+ ms$");
        Assert.True(counts.Success, done);
        Assert.True(long.Parse(counts.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, done);
        Assert.True(long.Parse(counts.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) <= replacements.Sum(c => c.Loads), done);
        Assert.Equal(0, run.Errors);
    }

    [Fact]
    public async Task Deploy_LeveeNaiveAndLeveeWarmUp_RealRedis_EveryInstanceReplaced_NoCallAfterDisposal()
    {
        var levee = new SpyKind(new LeveeClientKind(postgresChannel: true), "spy-levee");
        var naive = new SpyKind(new NaiveClientKind(), "spy-naive");
        var (result, report) = await RunAsync(null, [levee, naive], "spy-levee", "spy-naive", "levee-warmup");
        Assert.Equal(["spy-levee", "spy-naive", "levee-warmup"], report.Runs.Select(r => r.Client));
        foreach (var run in report.Runs)
        {
            AssertDeployed(run);
        }

        foreach (var spy in new[] { levee, naive })
        {
            Assert.Equal(2 * Instances, spy.Clients.Count);
            Assert.Equal(2 * Instances, spy.Clients.Select(c => c.Inner).Distinct().Count()); // a new client object (new cache, new connections) each time
            Assert.All(spy.Clients.Skip(Instances), c => Assert.True(c.Calls > 0, $"{spy.Name}: a replacement took no traffic"));
            Assert.All(spy.Clients, c => Assert.True(c.Disposed));
            Assert.All(spy.Clients, c => Assert.Equal(0, c.CallsAfterDispose));
        }

        Assert.Equal(0, report.Runs[0].Errors); // levee
        Assert.Equal(0, report.Runs[2].Errors); // levee-warmup: each new instance took traffic once its readiness check passed
        Assert.All(report.Runs[2].Events!.Where(e => e.Action.Contains("replaced by a new client", StringComparison.Ordinal)),
            e => Assert.Contains("ready in", e.Action, StringComparison.Ordinal));
        Assert.NotEmpty(result.StartedProcessIds);
    }

    public void Dispose()
    {
        if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    private static void AssertDeployed(ClientRun run)
    {
        Assert.Equal("ran", run.Status);
        Assert.Null(run.Note);
        Assert.False(run.Failover!.Happened, $"{run.Client}: Redis stays healthy in a deploy");
        var replaced = run.Events!.Where(e => e.Action.StartsWith("deploy: instance ", StringComparison.Ordinal) && e.Action.Contains("replaced", StringComparison.Ordinal)).ToList();
        Assert.Equal(Instances, replaced.Count);
        for (var i = 0; i < Instances; i++)
        {
            Assert.Contains(replaced, e => e.Action.StartsWith($"deploy: instance {i} replaced", StringComparison.Ordinal));
        }

        Assert.Contains(run.Events!, e => e.Action.StartsWith($"deploy done: {Instances} of {Instances} instances replaced; in their first 3 s the new clients served ", StringComparison.Ordinal));
    }

    private async Task<(DrillResult Result, DrillReport Report)> RunAsync(IDrillClientKind kind) => await RunAsync(kind, [], kind.Name);

    private async Task<(DrillResult Result, DrillReport Report)> RunAsync(IDrillClientKind? kind, IDrillClientKind[] more, params string[] clients)
    {
        var options = new DrillOptions
        {
            Scenario = "deploy",
            Instances = Instances,
            Rate = 60,
            BaselineSeconds = 3,
            FaultSeconds = 8, // replacements at +0 s and +3 s
            RecoverySeconds = 3,
            WriteRatio = 0.05,
            Products = 2000,
            Users = 500,
            Categories = 20,
            OutputDirectory = outDir,
        };
        options.Clients.Clear();
        foreach (var client in clients)
        {
            options.Clients.Add(client);
        }

        foreach (var k in more.Prepend(kind).OfType<IDrillClientKind>())
        {
            options.ClientKinds.Add(k);
        }

        var result = await DrillRunner.RunAsync(options);
        output.WriteLine(result.SummaryMarkdown);
        var report = DrillReport.FromJson(result.Json);
        foreach (var e in report.Runs.SelectMany(r => (r.Events ?? []).Select(e => (r.Client, e))))
        {
            output.WriteLine($"{e.Client} t={e.e.AtSecond} s {e.e.Action}");
        }

        Assert.Equal("deploy", report.Scenario);
        return (result, report);
    }

    /// <summary>
    /// A model of a two-level cache: each client has its own L1 (a dictionary) and its own "connection" (a number),
    /// all share one L2 (a dictionary, as Redis). Records what the deploy did to each client.
    /// </summary>
    private sealed class ModelKind : IDrillClientKind
    {
        private readonly ConcurrentDictionary<string, CatalogEntry> l2 = new(StringComparer.Ordinal);
        private int connections;
        private int disposals;

        public string Name => "model";

        public string Description => "a model two-level cache: L1 per client, one shared L2";

        public string? UnavailableReason => null;

        public bool FollowsFailover => true;

        public ConcurrentQueue<Client> Clients { get; } = new();

        public Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken)
        {
            var client = new Client(this, Interlocked.Increment(ref connections));
            Clients.Enqueue(client);
            return Task.FromResult<IDrillClient>(client);
        }

        public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken)
        {
            foreach (var entry in entries)
            {
                l2[entry.Key] = entry;
            }

            return Task.CompletedTask;
        }

        public sealed class Client(ModelKind kind, int connection) : IDrillClient
        {
            private readonly ConcurrentDictionary<string, CatalogEntry> l1 = new(StringComparer.Ordinal);
            private int gets, loads, l2HitsBeforeAnyLoad, callsAfterDispose, disposedOrder;
            private int l1CountAtFirstGet = -1;
            private volatile bool disposed;

            public int Connection => connection;

            public int Gets => Volatile.Read(ref gets);

            public int Loads => Volatile.Read(ref loads);

            public int L2HitsBeforeAnyLoad => Volatile.Read(ref l2HitsBeforeAnyLoad);

            public int L1CountAtFirstGet => Volatile.Read(ref l1CountAtFirstGet);

            public int CallsAfterDispose => Volatile.Read(ref callsAfterDispose);

            public bool Disposed => disposed;

            public int DisposedOrder => Volatile.Read(ref disposedOrder);

            public async ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken)
            {
                Check();
                if (Interlocked.Increment(ref gets) == 1)
                {
                    Interlocked.CompareExchange(ref l1CountAtFirstGet, l1.Count, -1);
                }

                if (l1.TryGetValue(key, out var local))
                {
                    return local;
                }

                if (kind.l2.TryGetValue(key, out var shared))
                {
                    if (Loads == 0)
                    {
                        Interlocked.Increment(ref l2HitsBeforeAnyLoad);
                    }

                    l1[key] = shared;
                    return shared;
                }

                Interlocked.Increment(ref loads);
                var entry = await database.LoadAsync(key, cancellationToken);
                kind.l2[key] = entry;
                l1[key] = entry;
                return entry;
            }

            public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
            {
                Check();
                kind.l2.TryRemove(key, out _);
                foreach (var other in kind.Clients)
                {
                    other.l1.TryRemove(key, out _); // the backplane
                }

                return ValueTask.CompletedTask;
            }

            public ClientSnapshot Snapshot() => new("model", BreakerOpen: false, RedisErrors: 0, ReplicaReads: 0);

            public ValueTask DisposeAsync()
            {
                if (!disposed)
                {
                    disposed = true;
                    Volatile.Write(ref disposedOrder, Interlocked.Increment(ref kind.disposals));
                }

                return ValueTask.CompletedTask;
            }

            private void Check()
            {
                if (disposed)
                {
                    Interlocked.Increment(ref callsAfterDispose);
                    throw new ObjectDisposedException("model client " + connection);
                }
            }
        }
    }

    /// <summary>Wraps a built-in kind (real Redis), recording each client it creates, its calls and its disposal.</summary>
    private sealed class SpyKind(IDrillClientKind inner, string name) : IDrillClientKind
    {
        public string Name => name;

        public string Description => "spy over " + inner.Name;

        public string? UnavailableReason => inner.UnavailableReason;

        public bool FollowsFailover => inner.FollowsFailover;

        public ConcurrentQueue<Spy> Clients { get; } = new();

        public async Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken)
        {
            var spy = new Spy(await inner.CreateAsync(target, instance, cancellationToken));
            Clients.Enqueue(spy);
            return spy;
        }

        public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken) =>
            inner.WarmAsync(target, ((Spy)firstInstance).Inner, entries, cancellationToken);

        public sealed class Spy(IDrillClient inner) : IDrillClient
        {
            private int calls, callsAfterDispose;
            private volatile bool disposed;

            public IDrillClient Inner => inner;

            public int Calls => Volatile.Read(ref calls);

            public int CallsAfterDispose => Volatile.Read(ref callsAfterDispose);

            public bool Disposed => disposed;

            public ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken)
            {
                Count();
                return inner.GetAsync(key, database, cancellationToken);
            }

            public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
            {
                Count();
                return inner.InvalidateAsync(key, cancellationToken);
            }

            public ClientSnapshot Snapshot() => inner.Snapshot();

            public ValueTask DisposeAsync()
            {
                disposed = true;
                return inner.DisposeAsync();
            }

            private void Count()
            {
                Interlocked.Increment(ref disposed ? ref callsAfterDispose : ref calls);
            }
        }
    }
}
