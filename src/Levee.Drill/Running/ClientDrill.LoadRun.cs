using Levee.Drill.Catalog;
using Levee.Drill.Clients;
using Levee.Drill.Load;
using Levee.Drill.Measurement;
using Levee.Drill.Reporting;
using Levee.Drill.Scenarios;
using Levee.Drill.Topology;

namespace Levee.Drill.Running;

internal sealed partial class ClientDrill
{
    // the constructor's parameters, for LoadRun
    private PhasePlan Phases => plan;

    private DrillOptions Options => options;

    private bool FloorIsABound => scenario.LosesEveryRedisNode;

    private IDrillClientKind Kind => kind;

    private CatalogShape Shape => shape;

    private Scenario Scenario => scenario;

    /// <summary>
    /// The load phase of one client run, in named steps: sample every second, inject the fault and the repair on time,
    /// dispatch the open-loop requests, then drain and collect. What a step finds (the fault's times, its failure,
    /// the samples) is kept in this object's fields, written by that step only and read after it was awaited.
    /// </summary>
    private sealed class LoadRun(
        ClientDrill drill,
        DrillTopology topology,
        RedisTarget target,
        List<AppInstance> instances,
        DbCounters counters,
        DbServerMonitor monitor) : IDisposable
    {
        private readonly RequestRecorder _recorder = new(drill.Phases.TotalSeconds);
        private readonly VersionBook _versions = new();
        private readonly FaultFloor _floor = new(drill.Phases.FaultStart, drill.Phases.RecoveryStart);
        private readonly List<GaugeSample> _samples = [];
        private CancellationTokenSource? _requests;
        private CancellationTokenSource? _sampling;
        private ScenarioContext? _context;
        private long _outstanding;

        // written by InjectFaultAndRepairAsync, read after it ended
        private TimeSpan? _faultAt;
        private TimeSpan? _repairAt;
        private string? _faultFailure;

        private PhasePlan Plan => drill.Phases;

        public async Task<ClientRun> RunAsync(SentinelEventListener listener, CancellationToken cancellationToken)
        {
            _requests = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _samples.Add(await SampleAsync(instances, counters, monitor, cancellationToken).ConfigureAwait(false));
            _context = new ScenarioContext(topology, drill.Mark, drill.Elapsed)
            {
                Seed = drill.Options.Seed,
                FaultStart = TimeSpan.FromSeconds(Plan.FaultStart),
                FaultEnd = TimeSpan.FromSeconds(Plan.RecoveryStart),
                Deploy = new RollingDeploy(drill.Kind, target, instances, drill.Shape.KeysByPopularity, drill.Mark, drill.Elapsed),
            };

            var sampler = Task.Run(() => SampleEverySecondAsync(_sampling.Token), CancellationToken.None);
            var faults = Task.Run(() => InjectFaultAndRepairAsync(cancellationToken), CancellationToken.None);
            var scheduler = new OpenLoopScheduler(drill.Options.Rate, drill.Options.Seed, drill._time);
            await scheduler.RunAsync(drill._epoch, TimeSpan.FromSeconds(Plan.TotalSeconds), Dispatch, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested)
            {
                // interrupted (the scheduler stops quietly): no drain, no report of a run cut short; the caller tears down
                await AbandonAsync(faults, sampler).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }

            // let requests still in flight finish (they are part of the last seconds), then cut them off
            await DrainAsync(TimeSpan.FromSeconds(Math.Clamp(Plan.RecoverySeconds / 2, 2, 10))).ConfigureAwait(false);
            await _requests.CancelAsync().ConfigureAwait(false);
            await faults.ConfigureAwait(false);
            await StopSamplingAsync(sampler).ConfigureAwait(false);
            await DrainAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);

            foreach (var e in listener.Events)
            {
                drill._marks.Enqueue(new FaultStep(Math.Round(e.At.TotalSeconds, 1), $"sentinel {e.Channel} {e.Message}"));
            }

            var run = drill.BuildRun(_recorder, _samples, listener, _context, _faultAt, _repairAt, _faultFailure);
            return run with
            {
                FaultDbTransactions = run.Timeline!.Where(p => p.Second >= Plan.FaultStart && p.Second < Plan.RecoveryStart).Sum(p => p.DbQueries),
                FaultFloorTransactions = drill.FloorIsABound ? _floor.Transactions : null, // a bound only where no Redis node answers
            };
        }

        public void Dispose()
        {
            _requests?.Dispose();
            _sampling?.Dispose();
        }

        /// <summary>One gauge sample at the end of every second, and the progress line of that second.</summary>
        private async Task SampleEverySecondAsync(CancellationToken cancellationToken)
        {
            for (var s = 1; s <= Plan.TotalSeconds; s++)
            {
                await drill.DelayUntilAsync(TimeSpan.FromSeconds(s), cancellationToken).ConfigureAwait(false);
                var sample = await SampleAsync(instances, counters, monitor, cancellationToken).ConfigureAwait(false);
                var last = _samples[^1];
                _samples.Add(sample);
                var stats = _recorder.Snapshot(Math.Min(s - 1, _recorder.Seconds - 1));
                drill.Report(Plan.PhaseOf(s - 1), s, null, stats, sample.DbQueriesServer - last.DbQueriesServer ?? 0, sample.InFlight);
            }
        }

        /// <summary>The scenario's fault at the fault phase's start, its repair at the recovery phase's start; a failed step is marked, not thrown.</summary>
        private async Task InjectFaultAndRepairAsync(CancellationToken cancellationToken)
        {
            try
            {
                await drill.DelayUntilAsync(TimeSpan.FromSeconds(Plan.FaultStart), cancellationToken).ConfigureAwait(false);
                _faultAt = drill.Elapsed();
                await drill.Scenario.InjectAsync(_context!, cancellationToken).ConfigureAwait(false);
                await drill.DelayUntilAsync(TimeSpan.FromSeconds(Plan.RecoveryStart), cancellationToken).ConfigureAwait(false);
                _repairAt = drill.Elapsed();
                drill.Mark("repair starts");
                await drill.Scenario.RepairAsync(_context!, cancellationToken).ConfigureAwait(false);
                await drill.RestartFixedEndpointClientsAsync(topology, _context!, target, instances, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TopologyException or IOException or TimeoutException or InvalidOperationException or StackExchange.Redis.RedisException)
            {
                _faultFailure = ex.Message;
                drill.Mark("fault/repair step failed: " + ex.Message);
            }
        }

        /// <summary>One scheduled request: refused when its instance is at its in-flight limit, else run in the background.</summary>
        private void Dispatch(long index, TimeSpan scheduled)
        {
            var instance = instances[(int)(index % instances.Count)];
            if (!instance.TryEnter(drill.Options.InFlightLimit))
            {
                _recorder.Record(scheduled, TimeSpan.Zero, RequestOutcome.Refused);
                return;
            }

            Interlocked.Increment(ref _outstanding);
            _ = Task.Run(async () =>
            {
                try
                {
                    await drill.ExecuteAsync(instance, index, scheduled, _recorder, _versions, _floor, _requests!.Token).ConfigureAwait(false);
                }
                finally
                {
                    instance.Exit();
                    Interlocked.Decrement(ref _outstanding);
                }
            }, CancellationToken.None);
        }

        /// <summary>Waits until no request is in flight, at most <paramref name="timeout"/> (then the rest is cut off).</summary>
        private async Task DrainAsync(TimeSpan timeout) =>
            _ = await Poll.TryUntilAsync("the requests in flight to end", _ =>
            {
                var left = Interlocked.Read(ref _outstanding);
                return Task.FromResult(left == 0 ? Probe<bool>.Ready(true) : Probe<bool>.NotYet($"{left} in flight"));
            }, timeout, drill._time, CancellationToken.None, PollInterval.Every(TimeSpan.FromMilliseconds(50))).ConfigureAwait(false);

        private async Task StopSamplingAsync(Task sampler)
        {
            await _sampling!.CancelAsync().ConfigureAwait(false);
            try
            {
                await sampler.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // sampling ends with the load
            }
        }

        /// <summary>The run was interrupted: stop the requests, the fault steps and the sampler.</summary>
        private async Task AbandonAsync(Task faults, Task sampler)
        {
            await _requests!.CancelAsync().ConfigureAwait(false);
            await _sampling!.CancelAsync().ConfigureAwait(false);
            foreach (var background in new[] { faults, sampler })
            {
                try
                {
                    await background.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // ends with the token
                }
            }
        }
    }
}
