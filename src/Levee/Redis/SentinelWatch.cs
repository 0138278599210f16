using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// The failover watch of a Sentinel-managed Redis: follows the master without a restart. Levee does this itself rather
/// than rely on StackExchange.Redis' Sentinel mode, which takes the first Sentinel's answer, listens on one Sentinel only
/// and does not honour abortConnect=false (see docs/failover.md):
/// <list type="number">
/// <item>It keeps a connection to every Sentinel (<see cref="SentinelClients"/>) and listens to <c>+switch-master</c> on
/// each, so the first Sentinel that adopts the new configuration wakes it up.</item>
/// <item>Every check (on a message, else once per second) asks every reachable Sentinel for the master and its config
/// epoch, and <see cref="SentinelElection"/> decides what to try, so a stale minority Sentinel cannot win.</item>
/// <item>Before using a new master it checks <c>ROLE</c> on it; a demoted master that comes back still saying "master"
/// loses against the higher epoch.</item>
/// </list>
/// Unlike the other watches it also makes the connection to the master it chose, and installs it in the
/// the <see cref="ISentinelTarget"/> it serves (<see cref="RedisConnection"/>, which raises the failover), then attaches the master's replicas.
/// </summary>
internal sealed class SentinelWatch : FailoverWatch
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RoleTimeout = TimeSpan.FromMilliseconds(300);

    /// <summary>How long ROLE on a candidate master may take before it is not used (yet).</summary>
    private static readonly TimeSpan CandidateRoleTimeout = TimeSpan.FromSeconds(1);

    /// <summary>A connect to a candidate master slower than this is logged with StackExchange.Redis' connect log (at Trace).</summary>
    private static readonly TimeSpan SlowConnect = TimeSpan.FromMilliseconds(300);

    /// <summary>The longest connect timeout to a candidate master (ms): one known endpoint fails fast and is retried here.</summary>
    private const int CandidateConnectTimeoutMilliseconds = 1000;

    /// <summary>Settled checks between two comparisons of the attached replicas with the Sentinels' list (~10 s).</summary>
    private const int ReplicaRefreshChecks = 10;

    private readonly ConfigurationOptions _configuration;
    private readonly ISentinelTarget _store;
    private readonly SentinelClients _sentinels;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _cache;
    private readonly string _service;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private Task? _loop;
    private volatile EndPoint? _hint;
    private int _attaching;
    private int _checksSinceReplicaRefresh;

    public SentinelWatch(ConfigurationOptions configuration, ISentinelTarget store, TimeProvider time, ILogger logger, string cache)
    {
        _configuration = configuration;
        _store = store;
        _time = time;
        _logger = logger;
        _cache = cache;
        _service = configuration.ServiceName!;
        _sentinels = new SentinelClients(configuration, time, hint =>
        {
            // the new address is only a hint: it is used at once, but only after ROLE on it says "master"
            _hint = hint;
            Wake();
        }, store.Stopping);
    }

    /// <summary>Starts the check loop and returns at once: the first master is found in the background.</summary>
    public override Task StartAsync()
    {
        _loop = RunAsync();
        return Task.CompletedTask;
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // already awake
        }
        catch (ObjectDisposedException)
        {
            // stopping
        }
    }

    private async Task RunAsync()
    {
        var stopping = _store.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            var settled = false;
            try
            {
                await _sentinels.ConnectAsync().ConfigureAwait(false);
                settled = await CheckAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.L2ConnectFailed(_logger, _cache, ex);
            }

            try
            {
                // not settled (no master yet, or a new master not ready yet): look again soon
                await _wake.WaitAsync(settled ? CheckInterval : RetryInterval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Asks the Sentinels, lets <see cref="SentinelElection"/> decide, and does what it decided: verifies the current master,
    /// or tries the candidates in order (ROLE on the node decides). False when it should be tried again soon.
    /// </summary>
    private async Task<bool> CheckAsync()
    {
        var hint = Interlocked.Exchange(ref _hint, null);
        var current = _store.Current;
        var answers = await _sentinels.SurveyAsync().ConfigureAwait(false);
        var decision = SentinelElection.Decide(hint, current?.Master, answers);
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.SentinelSurvey(_logger, _cache, answers.Count, string.Join(", ", decision.Ranked.Select(static c =>
                string.Create(CultureInfo.InvariantCulture, $"{RedisNodes.Format(c.Address)} epoch {c.Epoch} x{c.Votes}"))));
        }

        switch (decision.Verdict)
        {
            case SentinelVerdict.NoMaster:
                Log.SentinelNoMaster(_logger, _cache);
                return current is not null;
            case SentinelVerdict.VerifyCurrent:
                var working = await IsWorkingMasterAsync(current!).ConfigureAwait(false);
                if (_logger.IsEnabled(LogLevel.Trace))
                {
                    Log.SentinelMasterChecked(_logger, _cache, RedisNodes.Format(current!.Master!), working);
                }

                if (working)
                {
                    RefreshReplicas(current!);
                    return true;
                }

                if (decision.ToTry.Count == 0)
                {
                    if (current!.Replicas is null && Interlocked.Exchange(ref _attaching, 1) == 0)
                    {
                        _ = AttachReplicasAsync(current); // a master installed before it answered (below): its replicas still serve
                    }

                    return true; // the master is not answering, and no Sentinel names another one (yet): nothing to switch to
                }

                break;
        }

        // an instance that never had a master keeps the connection to the Sentinels' top answer when it does not answer
        // (see InstallUnansweredMasterAsync): one connect timeout, not two, before its callers go on without waiting
        var top = current is null && decision.Ranked.Count > 0 ? decision.Ranked[0].Address : null;
        ConnectionMultiplexer? unanswered = null;
        try
        {
            foreach (var candidate in decision.ToTry)
            {
                var keep = candidate.Equals(top) && unanswered is null;
                var (switched, kept) = await TrySwitchAsync(current, candidate, keep).ConfigureAwait(false);
                unanswered ??= kept;
                if (switched)
                {
                    return true;
                }
            }

            if (unanswered is not null)
            {
                await InstallUnansweredMasterAsync(unanswered, top!).ConfigureAwait(false);
                unanswered = null;
            }
        }
        finally
        {
            if (unanswered is not null)
            {
                await unanswered.DisposeAsync().ConfigureAwait(false);
            }
        }

        return false;
    }

    /// <summary>
    /// An instance that has never connected, whose master (the Sentinels' top answer) does not answer: frozen or
    /// partitioned, with no failover coming (the postmortem's 92 minutes). Without a connection it would attach no
    /// replicas, and every read of an instance started during the outage (a deploy, a restart, a scale-out) would go to
    /// the database. It installs that master unverified, as a connection StackExchange.Redis keeps trying in the
    /// background (commands fail at once meanwhile, and are journaled or go to the replicas as on any instance whose
    /// master stopped answering), and attaches its replicas. Once the master answers, the checks verify it (ROLE) as any
    /// current master; if the Sentinels name another, the watch switches to it.
    /// </summary>
    private async Task InstallUnansweredMasterAsync(ConnectionMultiplexer primary, EndPoint master)
    {
        Log.SentinelMasterUnreachableAtStart(_logger, _cache, RedisNodes.Format(master), _service);
        var connection = new ConnectionGeneration(primary, master);
        await _store.InstallAsync(connection, string.Create(CultureInfo.InvariantCulture,
            $"master {RedisNodes.Format(master)} of '{_service}' named by the Sentinels, not answering yet")).ConfigureAwait(false);
        if (Interlocked.Exchange(ref _attaching, 1) == 0)
        {
            _ = AttachReplicasAsync(connection);
        }
    }

    /// <summary>With a working master: attaches its replicas when the first attempt found none, or compares them with the Sentinels' list now and then.</summary>
    private void RefreshReplicas(ConnectionGeneration current)
    {
        if (current.Replicas is null && Interlocked.Exchange(ref _attaching, 1) == 0)
        {
            _ = AttachReplicasAsync(current); // the first attempt found no replica (or failed): try again
        }
        else if (++_checksSinceReplicaRefresh >= ReplicaRefreshChecks && Interlocked.Exchange(ref _attaching, 1) == 0)
        {
            // the replica set changes after the attach (a demoted master rejoins as a replica, a replica is added
            // or removed): every instance must publish on and listen to the same replicas
            _checksSinceReplicaRefresh = 0;
            _ = AttachReplicasAsync(current, refresh: true);
        }
    }

    /// <summary>True when the current master's connection is up and ROLE answers "master" quickly.</summary>
    private async Task<bool> IsWorkingMasterAsync(ConnectionGeneration current)
    {
        if (!current.Primary.IsConnected)
        {
            return false;
        }

        try
        {
            var role = await RedisNodes.RoleAsync(current.Primary.GetServer(current.Master!), RoleTimeout, _time).ConfigureAwait(false);
            return SentinelElection.IsMaster(role);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Connects to <paramref name="master"/>, checks ROLE and makes it the current master. Switched is false when it isn't
    /// one (yet). With <paramref name="keepUnanswered"/>, a master that does not answer the connect is not dropped: its
    /// connection, which StackExchange.Redis keeps trying, is handed back as Unanswered (see InstallUnansweredMasterAsync).
    /// </summary>
    private async Task<(bool Switched, ConnectionMultiplexer? Unanswered)> TrySwitchAsync(ConnectionGeneration? current, EndPoint master, bool keepUnanswered = false)
    {
        Log.SentinelTrying(_logger, _cache, RedisNodes.Format(master));
        var primaryOptions = DataOptions([master]);
        // one known endpoint: fail fast and retry here, rather than hold a half-connected multiplexer (unless it is kept)
        primaryOptions.AbortOnConnectFail = !keepUnanswered;
        primaryOptions.ConnectTimeout = Math.Min(primaryOptions.ConnectTimeout, CandidateConnectTimeoutMilliseconds);
        ConnectionMultiplexer? primary = null;
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            using var connectLog = new StringWriter(CultureInfo.InvariantCulture);
            primary = await ConnectionMultiplexer.ConnectAsync(primaryOptions, _logger.IsEnabled(LogLevel.Trace) ? connectLog : null).ConfigureAwait(false);
            if (keepUnanswered && !primary.IsConnected)
            {
                return (false, primary);
            }

            var connected = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (connected > SlowConnect && _logger.IsEnabled(LogLevel.Trace))
            {
                Log.SentinelSlowConnect(_logger, _cache, RedisNodes.Format(master), connectLog.ToString());
            }

            var roleName = await RedisNodes.RoleAsync(primary.GetServer(master), CandidateRoleTimeout, _time).ConfigureAwait(false);
            Log.SentinelCandidateConnected(_logger, _cache, RedisNodes.Format(master), (long)connected.TotalMilliseconds,
                (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (!SentinelElection.IsMaster(roleName))
            {
                Log.SentinelCandidateNotMaster(_logger, _cache, RedisNodes.Format(master), roleName);
                await primary.DisposeAsync().ConfigureAwait(false);
                return (false, null);
            }
        }
        catch (Exception ex) when (RedisNodes.IsConnectFailure(ex))
        {
            if (primary is not null)
            {
                await primary.DisposeAsync().ConfigureAwait(false);
            }

            Log.L2ConnectFailed(_logger, _cache, ex);
            return (false, null);
        }

        var reason = current?.Master is { } old
            ? string.Create(CultureInfo.InvariantCulture, $"master of '{_service}' switched from {RedisNodes.Format(old)} to {RedisNodes.Format(master)}")
            : $"connected to master {RedisNodes.Format(master)} of '{_service}'";
        var connection = new ConnectionGeneration(primary, master);
        await _store.InstallAsync(connection, reason).ConfigureAwait(false);

        // Replicas come second and off the switch path: a just-demoted (maybe frozen) master can still be listed as a
        // replica, and connecting to it must not delay writes to the new master.
        Interlocked.Exchange(ref _attaching, 1);
        _ = AttachReplicasAsync(connection);
        return (true, null);
    }

    /// <summary>
    /// Connects to the master's replicas and attaches them to <paramref name="connection"/>; with <paramref name="refresh"/>,
    /// only when the set the Sentinels report differs from the attached one, which the new multiplexer then replaces.
    /// </summary>
    private async Task AttachReplicasAsync(ConnectionGeneration connection, bool refresh = false)
    {
        var replicas = await _sentinels.GetReplicasAsync(connection.Master!).ConfigureAwait(false);
        var attached = connection.Replicas;
        if (replicas.Count == 0
            || (refresh && (attached is null || new HashSet<EndPoint>(replicas).SetEquals(connection.ReplicaEndpoints))))
        {
            Volatile.Write(ref _attaching, 0);
            return;
        }

        try
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(DataOptions(replicas)).ConfigureAwait(false);
            if (!await _store.AttachReplicasAsync(connection, multiplexer, replicas, refresh ? attached : null).ConfigureAwait(false))
            {
                await multiplexer.DisposeAsync().ConfigureAwait(false);
            }
            else if (refresh)
            {
                Log.SentinelReplicasChanged(_logger, _cache, RedisNodes.Format(connection.Master!), string.Join(", ", replicas.Select(RedisNodes.Format)));
            }
        }
        catch (Exception ex) when (RedisNodes.IsConnectFailure(ex))
        {
            Log.L2ConnectFailed(_logger, _cache, ex);
        }
        finally
        {
            Volatile.Write(ref _attaching, 0);
        }
    }

    private ConfigurationOptions DataOptions(IEnumerable<EndPoint> endpoints)
    {
        var options = _configuration.Clone();
        options.ServiceName = null;
        options.EndPoints.Clear();
        foreach (var endpoint in endpoints)
        {
            options.EndPoints.Add(endpoint);
        }

        return options;
    }

    public override async ValueTask DisposeAsync()
    {
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _sentinels.DisposeAsync().ConfigureAwait(false);
        _wake.Dispose();
    }
}
