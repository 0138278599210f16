using System.Collections.Concurrent;
using Levee.Drill.Catalog;
using Levee.Drill.Clients;
using Levee.Drill.Load;
using Levee.Drill.Measurement;
using Levee.Drill.Reporting;
using Levee.Drill.Scenarios;
using Levee.Drill.Topology;

namespace Levee.Drill.Running;

/// <summary>
/// One client on one scenario: a fresh Redis topology and a fresh copy of the catalog database, the app
/// instances, the warm cache, then the open-loop load over baseline, fault and recovery with the fault
/// and repair injected on time, and the per-second sampler. Every process it starts is stopped at the end.
/// </summary>
internal sealed partial class ClientDrill(
    Scenario scenario,
    PhasePlan plan,
    IDrillClientKind kind,
    DrillOptions options,
    CatalogShape shape,
    ZipfSampler zipf,
    string adminConnectionString,
    IProgress<DrillProgress>? progress,
    string? label = null)
{
    private readonly TimeProvider _time = TimeProvider.System;
    private readonly ConcurrentQueue<FaultStep> _marks = new();
    private readonly HashSet<int> _startedPids = [];
    private long _epoch;

    /// <summary>Every process id this run started (Redis nodes, Sentinels, the host's watchdog), for the leftover check.</summary>
    public IReadOnlyCollection<int> StartedProcessIds => _startedPids;

    public async Task<ClientRun> RunAsync(CancellationToken cancellationToken)
    {
        Report("starting", 0, scenario.Topology.Kind == "cluster"
            ? "starting a Redis Cluster and a fresh database"
            : $"starting Redis ({scenario.Topology.Kind}, quorum {scenario.Topology.Quorum}) and a fresh database");
        await using var topology = await DrillTopology.StartAsync(scenario.Topology, options.Tls, [.. options.RedisConfig], cancellationToken).ConfigureAwait(false);
        RecordPids(topology);
        var database = await CatalogDatabase.CreateRunDatabaseAsync(adminConnectionString, "run_" + kind.Name.Replace('-', '_'), cancellationToken).ConfigureAwait(false);
        var channelDatabase = await CatalogDatabase.CreateEmptyDatabaseAsync(adminConnectionString, "run_" + kind.Name.Replace('-', '_') + "_channel", cancellationToken).ConfigureAwait(false);
        var counters = new DbCounters();
        await using var monitor = await DbServerMonitor.OpenAsync(database, cancellationToken).ConfigureAwait(false);
        await using var channelMonitor = await DbServerMonitor.OpenAsync(channelDatabase, cancellationToken).ConfigureAwait(false);
        var channelAtStart = await channelMonitor.ReadAsync(cancellationToken).ConfigureAwait(false);
        var target = topology.Target with { Database = database, ChannelDatabase = channelDatabase };

        var instances = new List<AppInstance>(options.Instances);
        try
        {
            for (var i = 0; i < options.Instances; i++)
            {
                var store = new CatalogStore(database, options.DbPoolSize, TimeSpan.FromMilliseconds(options.DbQueryCostMs), counters, $"levee-drill-{kind.Name}-{i}");
                var client = await kind.CreateClientAsync(target, i, store, shape.KeysByPopularity, cancellationToken).ConfigureAwait(false);
                instances.Add(new AppInstance(i, store, client));
            }

            var entries = await CatalogDatabase.ReadAllAsync(database, cancellationToken).ConfigureAwait(false);
            Report("starting", 0, $"warming the cache with {entries.Count} entries");
            await kind.WarmAsync(target, instances[0].Client, entries, cancellationToken).ConfigureAwait(false);

            _epoch = _time.GetTimestamp();
            await using var listener = await SentinelEventListener.StartAsync(target.SentinelEndpoints, _epoch, target.Tls).ConfigureAwait(false);
            using var load = new LoadRun(this, topology, target, instances, counters, monitor);
            var run = await load.RunAsync(listener, cancellationToken).ConfigureAwait(false);
            return run with { ChannelTransactions = await ChannelTransactionsAsync(channelMonitor, channelAtStart, cancellationToken).ConfigureAwait(false) };
        }
        finally
        {
            RecordPids(topology);
            foreach (var instance in instances)
            {
                await instance.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ExecuteAsync(AppInstance instance, long index, TimeSpan scheduled, RequestRecorder recorder, VersionBook versions, FaultFloor floor, CancellationToken cancellationToken)
    {
        var seed = options.Seed;
        var key = shape.KeysByPopularity[zipf.Sample(DeterministicRandom.Uniform(seed, 2, (ulong)index))];
        var isWrite = DeterministicRandom.Uniform(seed, 1, (ulong)index) < options.WriteRatio;
        floor.Observe(key, isWrite, scheduled);
        var origin = QueryOrigin.BeginRequest(DrillLog.Enabled); // the database's load by origin: a read this request waits for
        var outcome = RequestOutcome.Ok;
        string? cause = null;
        bool stale = false, staleAfterInvalidation = false, late = false;
        try
        {
            using var lease = instance.Acquire(); // a deploy disposes a replaced client only after its requests
            var client = lease.Client;
            if (isWrite)
            {
                var version = await instance.Store.UpdateAsync(key, cancellationToken).ConfigureAwait(false);
                versions.RecordCommitted(key, version);
                var invalidating = Elapsed();
                await client.InvalidateAsync(key, cancellationToken).ConfigureAwait(false);
                versions.RecordInvalidated(key, version, Elapsed(), instance.Index, invalidating);
            }
            else
            {
                var committed = versions.Committed(key);
                var invalidated = versions.InvalidationOf(key);
                var started = Elapsed();
                var entry = await client.GetAsync(key, instance.Store, cancellationToken).ConfigureAwait(false);
                stale = entry.Version < committed;
                staleAfterInvalidation = entry.Version < invalidated.Version;
                late = staleAfterInvalidation && started - invalidated.At > TimeSpan.FromSeconds(1);
                if (staleAfterInvalidation)
                {
                    var (read, arrival) = DescribeStaleRead(scheduled, key, instance.Index, client, entry.Version, invalidated, started, Elapsed());
                    recorder.StaleReads.Add(read, arrival);
                }
            }
        }
#pragma warning disable CA1031 // any failure of a request is an error the user saw; it is counted, not thrown
        catch (Exception ex)
#pragma warning restore CA1031
        {
            outcome = RequestOutcome.Error;
            cause = ErrorCauses.Describe(ex, runEnded: cancellationToken.IsCancellationRequested);
        }
        finally
        {
            origin.Answered(); // a read still running for it from now on is background work
        }

        var latency = Elapsed() - scheduled;
        if (DrillLog.Enabled && !isWrite && latency >= DrillLog.SlowThreshold) // a write always waits for its UPDATE
        {
            DrillLog.SlowRequest(scheduled, instance.Index, key, isWrite, latency, origin.Steps);
        }

        recorder.Record(scheduled, latency, outcome, isWrite, cause);
        recorder.RecordStale(scheduled, stale, staleAfterInvalidation, late);
    }

    /// <summary>
    /// A stale-after-invalidation read with its timings, and (when its client reports receipts) a way to find, after the
    /// run, when the removal of that invalidation reached the reading instance (the first receipt since the invalidation
    /// was called: it may come after the read).
    /// </summary>
    private (StaleRead Read, Func<double?>? Arrival) DescribeStaleRead(TimeSpan scheduled, string key, int reader, IDrillClient client, long returned, VersionBook.Invalidation invalidated, TimeSpan started, TimeSpan ended)
    {
        Func<double?>? arrival = null;
        if (client is IRemovalReceipts receipts)
        {
            var since = _epoch + (long)(invalidated.StartedAt.TotalSeconds * _time.TimestampFrequency);
            arrival = () => receipts.RemovalReceivedSince(key, since) is { } at ? Math.Round(_time.GetElapsedTime(_epoch, at).TotalMilliseconds, 1) : null;
        }

        var read = new StaleRead((int)scheduled.TotalSeconds, key, reader, invalidated.Writer, returned, invalidated.Version,
            Math.Round(invalidated.StartedAt.TotalMilliseconds, 1), Math.Round(invalidated.At.TotalMilliseconds, 1),
            Math.Round(started.TotalMilliseconds, 1), Math.Round(ended.TotalMilliseconds, 1), null);
        return (read, arrival);
    }

    private async Task RestartFixedEndpointClientsAsync(DrillTopology topology, ScenarioContext context, RedisTarget target, List<AppInstance> instances, CancellationToken cancellationToken)
    {
        if (kind.FollowsFailover || topology.Sentinel is null)
        {
            return; // a cluster client follows the cluster's own failover
        }

        var master = context.NewMaster ?? await topology.Sentinel.GetMasterEndpointAsync(cancellationToken).ConfigureAwait(false);
        if (master is null || master == target.MasterEndpoint)
        {
            return;
        }

        // as the responders did: new endpoint in the config, rolling restart of the app instances
        Mark($"config updated to master {master}; rolling restart of {instances.Count} instances");
        var moved = target with { MasterEndpoint = master };
        foreach (var instance in instances)
        {
            instance.Replace(await kind.CreateAsync(moved, instance.Index, cancellationToken).ConfigureAwait(false));
            await Task.Delay(TimeSpan.FromMilliseconds(250), _time, cancellationToken).ConfigureAwait(false);
        }

        Mark("rolling restart done");
    }

    private ClientRun BuildRun(RequestRecorder recorder, List<GaugeSample> samples, SentinelEventListener listener, ScenarioContext context, TimeSpan? faultAt, TimeSpan? repairAt, string? faultFailure)
    {
        var timeline = TimelineAggregator.BuildTimeline(plan, recorder, samples);
        var baseline = TimelineAggregator.Phase(recorder, timeline, 0, plan.FaultStart, withPeak: false);
        var fault = TimelineAggregator.Phase(recorder, timeline, plan.FaultStart, plan.RecoveryStart, withPeak: true);
        var recovery = TimelineAggregator.Phase(recorder, timeline, plan.RecoveryStart, plan.TotalSeconds, withPeak: true);
        double? amplification = baseline.DbQueriesPerSec > 0 && fault.PeakDbQueriesPerSec is { } peak
            ? Math.Round(peak / baseline.DbQueriesPerSec, 1)
            : null;

        var switchedAt = context.AutomaticFailoverAt ?? (faultAt is { } f ? listener.FirstSwitchAfter(f)?.At : null);
        var automatic = switchedAt is not null && (repairAt is null || switchedAt < repairAt);
        var failover = new FailoverInfo(
            automatic,
            automatic && faultAt is not null ? Math.Round((switchedAt!.Value - faultAt.Value).TotalSeconds, 1) : null,
            context.ManualSwitchAfterRepair is { } m ? Math.Round(m.TotalSeconds, 1) : null);

        long requests = 0, errors = 0, refused = 0, staleServed = 0, staleAfter = 0, staleLate = 0, dbServer = 0, dbClient = 0;
        foreach (var p in timeline)
        {
            dbServer += p.DbQueries;
            dbClient += p.DbQueriesClient;
            requests += p.Requests;
            errors += p.Errors;
            refused += p.Refused;
            staleServed += p.StaleServed;
            staleAfter += p.StaleAfterInvalidation;
            staleLate += p.StaleAfterInvalidationLate;
        }

        return new ClientRun(
            kind.Name,
            kind.Description,
            "ran",
            faultFailure is null ? null : "fault/repair step failed: " + faultFailure,
            requests,
            errors,
            refused,
            baseline,
            fault,
            recovery,
            amplification,
            failover,
            staleServed,
            staleAfter,
            TimelineAggregator.RecoverySeconds(timeline, plan.RecoveryStart, baseline.P95Ms),
            _marks.OrderBy(m => m.AtSecond).ToList(),
            timeline,
            staleLate)
        {
            DbQueriesServer = dbServer,
            DbQueriesClient = dbClient,
            FaultLastMinuteDbQueriesPerSec = TimelineAggregator.MeanDbRateOfLast(timeline, plan.FaultStart, plan.RecoveryStart, 60),
            DbCountWarning = TimelineAggregator.DbCountDisagreement(dbServer, dbClient),
            ErrorsByCause = errors > 0 ? recorder.ErrorsByCause() : null,
            StaleReads = staleAfter > 0 ? recorder.StaleReads.Snapshot() : null,
        };
    }

    /// <summary>One second's gauges; a failed read of PostgreSQL's count leaves it null (unknown), not a number.</summary>
    internal static async Task<GaugeSample> SampleAsync(List<AppInstance> instances, DbCounters counters, IDbCountReader monitor, CancellationToken cancellationToken)
    {
        long? server;
        try
        {
            server = await monitor.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException)
        {
            server = null;
        }

        var states = new Dictionary<string, int>(StringComparer.Ordinal);
        var breakerOpen = 0;
        var inFlight = 0;
        foreach (var instance in instances)
        {
            var snapshot = instance.Client.Snapshot();
            states[snapshot.L2] = states.GetValueOrDefault(snapshot.L2) + 1;
            breakerOpen += snapshot.BreakerOpen ? 1 : 0;
            inFlight += instance.InFlight;
        }

        var l2 = states.Count == 1
            ? states.Keys.First()
            : string.Join(", ", states.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value}"));
        return new GaugeSample(server, counters.Queries, counters.InUse, counters.Waiting, inFlight, breakerOpen, l2, counters.ByKind);
    }

    /// <summary>The channel database's transactions since the run started; null when unknown (a failed read).</summary>
    private async Task<long?> ChannelTransactionsAsync(DbServerMonitor channelMonitor, long atStart, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken).ConfigureAwait(false); // PostgreSQL publishes its counters with up to ~1 s of delay
            return await channelMonitor.ReadAsync(cancellationToken).ConfigureAwait(false) - atStart;
        }
        catch (Npgsql.NpgsqlException)
        {
            return null;
        }
    }

    private void RecordPids(DrillTopology topology)
    {
        _startedPids.Add(topology.Host.WatchdogPid);
        foreach (var process in topology.Host.Processes)
        {
            _startedPids.Add(process.Pid);
        }
    }

    private TimeSpan Elapsed() => _time.GetElapsedTime(_epoch);

    private async Task DelayUntilAsync(TimeSpan offset, CancellationToken cancellationToken)
    {
        var wait = offset - Elapsed();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Mark(string action)
    {
        var at = _epoch == 0 ? TimeSpan.Zero : Elapsed();
        _marks.Enqueue(new FaultStep(Math.Round(at.TotalSeconds, 1), action));
        Report(plan.PhaseOf((int)at.TotalSeconds), (int)at.TotalSeconds, action);
    }

    private void Report(string phase, int second, string? message, SecondStats? stats = null, long db = 0, int inFlight = 0) =>
        progress?.Report(new DrillProgress(
            label ?? kind.Name,
            phase,
            second,
            plan.TotalSeconds,
            stats?.Requests ?? 0,
            stats?.Errors ?? 0,
            stats is null ? 0 : TimelineAggregator.Millis(stats.Latency, 95),
            Math.Max(0, db),
            message,
            inFlight));
}
