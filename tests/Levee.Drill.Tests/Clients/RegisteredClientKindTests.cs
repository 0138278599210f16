using System.Collections.Concurrent;
using Levee.Drill.Catalog;
using Levee.Drill.Clients;
using Levee.Drill.Reporting;
using Levee.Drill.Tests.Scenarios;
using Xunit.Abstractions;

namespace Levee.Drill.Tests.Clients;

/// <summary>
/// The public extension point: a client kind registered in <see cref="DrillOptions.ClientKinds"/> is selectable by
/// name, created once per app instance, warmed, called for every request, sampled, disposed and reported.
/// </summary>
[Collection(DrillProcessesGroup.Name)]
public sealed class RegisteredClientKindTests(ITestOutputHelper output) : IDisposable
{
    private readonly string outDir = Path.Combine(Path.GetTempPath(), "levee-drill-kind-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public void Validate_UnknownClient_ListsTheRegisteredKindsToo()
    {
        var options = new DrillOptions();
        options.ClientKinds.Add(new CountingKind());
        options.Clients.Add("memcached");
        var problem = Assert.Single(options.Validate());
        Assert.Contains("unknown client 'memcached' (known: naive, postmortem, levee, levee-no-share, levee-redis-only, levee-warmup, counting)", problem, StringComparison.Ordinal);

        options.Clients.Remove("memcached");
        options.Clients.Add("counting");
        Assert.Empty(options.Validate());
    }

    [Theory]
    [InlineData("levee", "has the name of a built-in client")]
    [InlineData("Bad Name", "must be 1-32 characters")]
    [InlineData("", "must be 1-32 characters")]
    public void Validate_RejectsBadKindNames(string name, string expected)
    {
        var options = new DrillOptions();
        options.ClientKinds.Add(new CountingKind(name));
        Assert.Contains(options.Validate(), p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_RejectsTheSameNameTwice()
    {
        var options = new DrillOptions();
        options.ClientKinds.Add(new CountingKind());
        options.ClientKinds.Add(new CountingKind());
        Assert.Contains(options.Validate(), p => p.Contains("client kind 'counting' is registered 2 times", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RegisteredKind_IsCreatedPerInstance_Warmed_CalledForEveryRequest_AndReported()
    {
        var kind = new CountingKind();
        var options = new DrillOptions
        {
            Scenario = "redis-outage",
            Instances = 2,
            Rate = 60,
            BaselineSeconds = 2,
            FaultSeconds = 3,
            RecoverySeconds = 2,
            WriteRatio = 0.05,
            Products = 2000,
            Users = 500,
            Categories = 20,
            OutputDirectory = outDir,
        };
        options.Clients.Clear();
        options.Clients.Add("counting");
        options.ClientKinds.Add(kind);

        var result = await DrillRunner.RunAsync(options);
        output.WriteLine(result.SummaryMarkdown);
        var report = DrillReport.FromJson(result.Json);

        var run = Assert.Single(report.Runs);
        Assert.Equal("counting", run.Client);
        Assert.Equal(kind.Description, run.Description);
        Assert.Equal("ran", run.Status);
        Assert.Contains("counting", result.SummaryMarkdown, StringComparison.Ordinal);

        Assert.Equal(2, kind.Created); // one per instance; no rolling restart (it follows failover)
        Assert.Equal(2, kind.Disposed);
        Assert.Equal(1, kind.Warmed);
        Assert.Equal(2000 + 500 + 20 + 1, kind.WarmedEntries);
        Assert.True(kind.Target!.SentinelEndpoints.Count > 0);
        Assert.Contains(",serviceName=", kind.Target.Configuration, StringComparison.Ordinal);

        // every request reached the client: reads through GetAsync, writes through InvalidateAsync
        Assert.Equal(0, run.Errors);
        Assert.True(kind.Invalidations > 0, "5% writes over a few hundred requests");
        Assert.Equal(run.Requests, kind.Gets + kind.Invalidations);
        Assert.True(kind.Snapshots >= report.Load.BaselineSeconds, "sampled every second");
        Assert.Contains(run.Timeline!, p => p.L2 == "fake");
    }

    public void Dispose()
    {
        if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    /// <summary>A cache shared by every instance (a dictionary), counting what the drill asks of it.</summary>
    private sealed class CountingKind(string name = "counting") : IDrillClientKind
    {
        private readonly ConcurrentDictionary<string, CatalogEntry> shared = new(StringComparer.Ordinal);
        private int created, disposed, warmed, warmedEntries;
        private long gets, invalidations, snapshots;

        public string Name => name;

        public string Description => "a counting fake: one dictionary shared by every instance";

        public string? UnavailableReason => null;

        public bool FollowsFailover => true;

        public RedisTarget? Target { get; private set; }

        public int Created => Volatile.Read(ref created);

        public int Disposed => Volatile.Read(ref disposed);

        public int Warmed => Volatile.Read(ref warmed);

        public int WarmedEntries => Volatile.Read(ref warmedEntries);

        public long Gets => Interlocked.Read(ref gets);

        public long Invalidations => Interlocked.Read(ref invalidations);

        public long Snapshots => Interlocked.Read(ref snapshots);

        public Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken)
        {
            Target = target;
            Interlocked.Increment(ref created);
            return Task.FromResult<IDrillClient>(new Client(this));
        }

        public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref warmed);
            Interlocked.Add(ref warmedEntries, entries.Count);
            foreach (var entry in entries)
            {
                shared[entry.Key] = entry;
            }

            return Task.CompletedTask;
        }

        private sealed class Client(CountingKind kind) : IDrillClient
        {
            public async ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref kind.gets);
                if (kind.shared.TryGetValue(key, out var cached))
                {
                    return cached;
                }

                var entry = await database.LoadAsync(key, cancellationToken);
                kind.shared[key] = entry;
                return entry;
            }

            public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref kind.invalidations);
                kind.shared.TryRemove(key, out _);
                return ValueTask.CompletedTask;
            }

            public ClientSnapshot Snapshot()
            {
                Interlocked.Increment(ref kind.snapshots);
                return new ClientSnapshot("fake", BreakerOpen: false, RedisErrors: 0, ReplicaReads: 0);
            }

            public ValueTask DisposeAsync()
            {
                Interlocked.Increment(ref kind.disposed);
                return ValueTask.CompletedTask;
            }
        }
    }
}
