using Levee.Doctor.Live;
using StackExchange.Redis;
using static Levee.Doctor.Live.LiveConnections;

namespace Levee.Doctor;

/// <summary>
/// Checks a live Sentinel deployment: asks every Sentinel (SENTINEL MASTER / GET-MASTER-ADDR-BY-NAME / CKQUORUM /
/// REPLICAS / SENTINELS, INFO sentinel), then the master and replicas they report (INFO replication, persistence),
/// and applies the live rules (L000–L018) and the failover arithmetic (T001–T006) to what they answer.
/// </summary>
public static class SentinelLiveChecker
{
    /// <summary>Checks the service <paramref name="service"/> through <paramref name="sentinels"/>.</summary>
    /// <param name="sentinels">Sentinel endpoints (HOST:PORT); every Sentinel of the deployment should be listed.</param>
    /// <param name="service">Master name.</param>
    /// <param name="options">Connection options.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <returns>The report; <see cref="DoctorReport.UnusableInput"/> when no Sentinel answered.</returns>
    public static async Task<DoctorReport> CheckAsync(IReadOnlyList<string> sentinels, string service, LiveCheckOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sentinels);
        ArgumentException.ThrowIfNullOrWhiteSpace(service);
        ArgumentNullException.ThrowIfNull(options);
        var snapshot = await GatherAsync(sentinels, service, options, cancellationToken).ConfigureAwait(false);
        return Evaluate(snapshot, options);
    }

    /// <summary>Asks every Sentinel, then the master and replicas the first monitoring Sentinel reports.</summary>
    internal static async Task<SentinelSnapshot> GatherAsync(IReadOnlyList<string> sentinels, string service, LiveCheckOptions options, CancellationToken ct)
    {
        var endpoints = new List<string>();
        var invalid = new List<string>();
        foreach (var text in sentinels)
        {
            if (TryParseEndpoint(text, out var ep))
            {
                endpoints.Add(ep);
            }
            else
            {
                invalid.Add(text);
            }
        }

        var snapshot = new SentinelSnapshot { Service = service, Endpoints = endpoints, InvalidEndpoints = invalid };
        if (endpoints.Count == 0)
        {
            return snapshot;
        }

        using (var mux = await ConnectAsync(endpoints, options, sentinel: true).ConfigureAwait(false))
        {
            snapshot.Views.AddRange(await Task.WhenAll(endpoints.Select(ep => QueryAsync(mux, ep, service, options, ct))).ConfigureAwait(false));
        }

        var monitoring = snapshot.Views.Where(v => v.Error is null && v.Master is not null).ToList();
        snapshot.MasterAddress = monitoring.Select(v => v.MasterAddress).Where(a => a is not null)
            .GroupBy(a => a, StringComparer.Ordinal).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();
        if (snapshot.MasterAddress is null)
        {
            return snapshot;
        }

        var replicaEndpoints = monitoring[0].Replicas.Select(r => $"{Str(r, "ip")}:{Str(r, "port")}").ToList();
        using var data = await ConnectAsync([snapshot.MasterAddress, .. replicaEndpoints], options, sentinel: false).ConfigureAwait(false);
        snapshot.Master = await QueryNodeAsync(data, snapshot.MasterAddress, persistence: true, options, ct).ConfigureAwait(false);
        foreach (var ep in replicaEndpoints)
        {
            snapshot.Replicas[ep] = await QueryNodeAsync(data, ep, persistence: false, options, ct).ConfigureAwait(false);
        }

        return snapshot;
    }

    /// <summary>Applies the live rules to what was gathered (no I/O).</summary>
    internal static DoctorReport Evaluate(SentinelSnapshot snapshot, LiveCheckOptions options)
    {
        var service = snapshot.Service;
        var findings = snapshot.InvalidEndpoints.Select(text => Live("L000", text, $"'{text}' is not HOST:PORT.")).ToList();
        if (snapshot.Endpoints.Count == 0)
        {
            return new DoctorReport(findings, [], unusableInput: true);
        }

        var views = snapshot.Views;
        foreach (var v in views.Where(v => v.Error is not null))
        {
            findings.Add(Live("L000", v.Endpoint, $"Sentinel {v.Endpoint} did not answer: {v.Error}. It counts against the failover tolerance."));
        }

        var ok = views.Where(v => v.Error is null).ToList();
        if (ok.Count == 0)
        {
            return new DoctorReport(findings, [], unusableInput: true);
        }

        foreach (var v in ok.Where(v => v.Master is null))
        {
            findings.Add(Live("L003", v.Endpoint, $"Sentinel {v.Endpoint} does not monitor '{service}' ({v.MasterError})."));
        }

        var monitoring = ok.Where(v => v.Master is not null).ToList();
        if (monitoring.Count == 0)
        {
            return new DoctorReport(findings, [], unusableInput: true);
        }

        var masters = new List<MasterTopology>();
        CheckSentinels(service, snapshot.Endpoints, views, monitoring, findings, masters);
        if (snapshot.MasterAddress is not null)
        {
            CheckDataNodes(snapshot, monitoring[0], options, findings);
            CheckNodeConfig(snapshot, findings);
        }

        return new DoctorReport(findings, masters, unusableInput: false);
    }

    private static void CheckSentinels(string service, List<string> endpoints, List<SentinelView> views, List<SentinelView> monitoring, List<Finding> findings, List<MasterTopology> masters)
    {
        var first = monitoring[0];
        foreach (var v in monitoring)
        {
            var flags = Str(v.Master, "flags");
            if (flags.Contains("o_down", StringComparison.Ordinal) || flags.Contains("s_down", StringComparison.Ordinal))
            {
                findings.Add(Live("L005", v.Endpoint, $"Sentinel {v.Endpoint} flags master '{service}' ({v.MasterAddress}) as {flags}."));
            }

            if (flags.Contains("failover_in_progress", StringComparison.Ordinal))
            {
                findings.Add(Live("L006", v.Endpoint, $"Sentinel {v.Endpoint}: failover of '{service}' in progress (state {Str(v.Master, "failover-state")})."));
            }

            if (v.Tilt)
            {
                findings.Add(Live("L007", v.Endpoint, $"Sentinel {v.Endpoint} is in TILT mode."));
            }

            if (v.CkQuorumError is not null)
            {
                findings.Add(Live("L001", v.Endpoint, $"Sentinel {v.Endpoint}: SENTINEL CKQUORUM {service} answered: {v.CkQuorumError}"));
            }
        }

        // Peers flagged down (L014), de-duplicated per peer.
        foreach (var peer in monitoring.SelectMany(v => v.Peers.Select(p => (Observer: v.Endpoint, Peer: p)))
                     .Where(x => Str(x.Peer, "flags") is var f && (f.Contains("s_down", StringComparison.Ordinal) || f.Contains("disconnected", StringComparison.Ordinal)))
                     .GroupBy(x => $"{Str(x.Peer, "ip")}:{Str(x.Peer, "port")}", StringComparer.Ordinal))
        {
            findings.Add(Live("L014", peer.Key, $"Sentinel {peer.Key} is flagged {Str(peer.First().Peer, "flags")} by {string.Join(", ", peer.Select(x => x.Observer))}."));
        }

        // How many Sentinels exist, and how many each believes exist.
        var known = monitoring.ToDictionary(v => v.Endpoint, v => (int)Long(v.Master, "num-other-sentinels") + 1, StringComparer.Ordinal);
        var distinct = new HashSet<string>(endpoints, StringComparer.Ordinal);
        foreach (var p in monitoring.SelectMany(v => v.Peers))
        {
            distinct.Add($"{Str(p, "ip")}:{Str(p, "port")}");
        }

        var real = distinct.Count;
        var voters = known.Values.Max();
        if (known.Values.Distinct().Count() > 1 || voters > real)
        {
            findings.Add(Live("L002", first.Endpoint,
                $"Sentinels believe different Sentinel counts for '{service}': {string.Join(", ", known.Select(k => $"{k.Key} sees {k.Value}"))}; {real} distinct Sentinels are known."));
        }

        var addresses = monitoring.Select(v => v.MasterAddress).Distinct(StringComparer.Ordinal).ToList();
        var epochs = monitoring.Select(v => Str(v.Master, "config-epoch")).Distinct(StringComparer.Ordinal).ToList();
        if (addresses.Count > 1 || epochs.Count > 1)
        {
            findings.Add(Live("L003", first.Endpoint,
                $"Sentinels disagree about '{service}': {string.Join(", ", monitoring.Select(v => $"{v.Endpoint} → {v.MasterAddress} (config-epoch {Str(v.Master, "config-epoch")})"))}."));
        }

        var quorums = monitoring.Select(v => (int)Long(v.Master, "quorum")).Distinct().ToList();
        if (quorums.Count > 1)
        {
            findings.Add(Live("T008", first.Endpoint, $"Sentinels use different quorums for '{service}': {string.Join(", ", monitoring.Select(v => $"{v.Endpoint}={Str(v.Master, "quorum")}"))}."));
        }

        var quorum = quorums.Max();
        var topology = MasterTopology.Compute(service, real, voters, quorum, first.MasterAddress);
        masters.Add(topology);
        var need = Math.Max(quorum, topology.Majority);
        var at = first.Endpoint;
        foreach (var f in SentinelCountRules.Evaluate(topology, q => $"SENTINEL SET {service} quorum {q} on every Sentinel, and the same in their config files"))
        {
            findings.Add(Live(f.RuleId, at, f.Message, f.Fix));
        }

        // T007: Sentinels per host (hosts from the addresses; loopback = one test machine, not judged).
        var masterHost = first.MasterAddress is { } ma ? ma[..ma.LastIndexOf(':')] : null;
        foreach (var group in distinct.GroupBy(ep => ep[..ep.LastIndexOf(':')], StringComparer.OrdinalIgnoreCase)
                     .Where(g => !Lint.Net.IsLoopback(g.Key) && g.Count() > topology.ToleratedSentinelFailures))
        {
            var onMaster = string.Equals(group.Key, masterHost, StringComparison.OrdinalIgnoreCase);
            findings.Add(new Finding("T007", onMaster ? Severity.Error : Severity.Warning, group.First(), 0,
                $"Master '{service}': host {group.Key}{(onMaster ? " (the master's host)" : string.Empty)} runs {group.Count()} of {real} Sentinels; when it fails {real - group.Count()} remain and a failover needs {need}.",
                Rules.Get("T007").Fix));
        }

        // What is left right now: Sentinels that answered and monitor the service.
        var usable = monitoring.Count;
        if (topology.ToleratedSentinelFailures >= 1 && usable <= need)
        {
            findings.Add(new Finding("L017", usable < need ? Severity.Error : Severity.Warning, at, 0,
                usable < need
                    ? $"Only {usable} of {real} Sentinels answer for '{service}'; a failover needs {need}: failover is impossible now."
                    : $"Only {usable} of {real} Sentinels answer for '{service}'; a failover needs {need}: one more Sentinel failure blocks failover.",
                Rules.Get("L017").Fix));
        }
    }

    private static void CheckDataNodes(SentinelSnapshot snapshot, SentinelView view, LiveCheckOptions options, List<Finding> findings)
    {
        var service = snapshot.Service;
        var masterAddress = snapshot.MasterAddress!;
        long masterOffset = -1;
        if (snapshot.Master is { Error: null, Replication: { } masterInfo })
        {
            if (Str(masterInfo, "role") != "master")
            {
                findings.Add(Live("L004", masterAddress, $"The Sentinels report {masterAddress} as master of '{service}', but it answers role:{Str(masterInfo, "role")}."));
            }

            masterOffset = Long(masterInfo, "master_repl_offset", -1);
            var persistence = snapshot.Master.Persistence;
            if (Str(persistence, "rdb_last_bgsave_status") == "err" || Str(persistence, "aof_last_write_status") == "err")
            {
                findings.Add(Live("L016", masterAddress, $"Master {masterAddress}: rdb_last_bgsave_status:{Str(persistence, "rdb_last_bgsave_status")}, aof_last_write_status:{Str(persistence, "aof_last_write_status")}."));
            }
        }
        else if (snapshot.Master is { Error: { } error })
        {
            findings.Add(Live("L004", masterAddress, $"The master {masterAddress} reported by the Sentinels does not answer INFO: {error}."));
        }

        var replicas = view.Replicas;
        if (replicas.Count == 0)
        {
            findings.Add(Live("L008", masterAddress, $"Sentinel {view.Endpoint} knows no replica of '{service}': nothing can be promoted."));
            return;
        }

        var up = new List<IReadOnlyDictionary<string, string>>();
        foreach (var r in replicas)
        {
            var ep = $"{Str(r, "ip")}:{Str(r, "port")}";
            var flags = Str(r, "flags");
            var reply = snapshot.Replicas.GetValueOrDefault(ep);
            var info = reply?.Error is null ? reply?.Replication : null;
            var down = flags.Contains("s_down", StringComparison.Ordinal) || flags.Contains("o_down", StringComparison.Ordinal) || flags.Contains("disconnected", StringComparison.Ordinal)
                ? $"flagged {flags} by Sentinel {view.Endpoint}"
                : reply?.Error is { } e ? $"it does not answer: {e}" : null;
            if (down is not null)
            {
                findings.Add(Live("L018", ep, $"Replica {ep} of '{service}' is down: {down}."));
                continue;
            }

            up.Add(r);
            if (info is not null && Str(info, "role") == "master")
            {
                findings.Add(Live("L004", ep, $"Replica {ep} of '{service}' answers role:master while {masterAddress} is the master: two masters."));
            }

            // The replica's own INFO is fresh; Sentinel refreshes its view only every 10 s.
            var linkDown = info is not null ? Str(info, "master_link_status") == "down" : Str(r, "master-link-status") == "err";
            if (linkDown)
            {
                var since = info is not null ? $"master_link_down_since_seconds {Str(info, "master_link_down_since_seconds")}" : $"master-link-down-time {Str(r, "master-link-down-time")} ms";
                findings.Add(Live("L010", ep, $"Replica {ep}: link to its master is down ({since})."));
            }

            var replicaMaster = $"{Str(r, "master-host")}:{Str(r, "master-port")}";
            if (replicaMaster != masterAddress && Str(r, "master-host").Length > 0)
            {
                findings.Add(Live("L012", ep, $"Replica {ep} replicates from {replicaMaster}, not from the master {masterAddress}."));
            }

            var offset = Long(r, "slave-repl-offset", -1);
            if (masterOffset >= 0 && offset >= 0 && masterOffset - offset > options.MaxReplicationLagBytes)
            {
                findings.Add(Live("L011", ep, $"Replica {ep} is {masterOffset - offset} bytes behind the master (limit {options.MaxReplicationLagBytes})."));
            }
        }

        if (up.Count == 0)
        {
            findings.Add(Live("L008", masterAddress, $"Every replica of '{service}' is down ({replicas.Count}): nothing can be promoted."));
        }
        else if (up.All(r => Long(r, "slave-priority", 100) == 0))
        {
            findings.Add(Live("L009", masterAddress, $"Every replica of '{service}' that is up has slave-priority 0 ({up.Count})."));
        }
    }

    /// <summary>Settings read with CONFIG GET on the data nodes (where allowed).</summary>
    private static readonly string[] ConfigKeys = ["min-replicas-to-write", "save", "appendonly", "replica-read-only", "repl-backlog-size", "requirepass", "masterauth"];

    private static async Task<NodeReply> QueryNodeAsync(ConnectionMultiplexer mux, string endpoint, bool persistence, LiveCheckOptions options, CancellationToken ct)
    {
        try
        {
            var server = mux.GetServer(endpoint);
            var replication = ParseInfo(await Bounded(() => server.InfoRawAsync("replication"), options, ct).ConfigureAwait(false));
            var persisted = persistence ? ParseInfo(await Bounded(() => server.InfoRawAsync("persistence"), options, ct).ConfigureAwait(false)) : null;
            Dictionary<string, string>? config = null;
            try
            {
                var result = await Bounded(() => server.ExecuteAsync("CONFIG", ["GET", .. ConfigKeys]), options, ct).ConfigureAwait(false);
                var items = (RedisResult[]?)result ?? [];
                config = new Dictionary<string, string>(StringComparer.Ordinal);
                for (var i = 0; i + 1 < items.Length; i += 2)
                {
                    config[(string?)items[i] ?? string.Empty] = (string?)items[i + 1] ?? string.Empty;
                }
            }
            catch (RedisServerException)
            {
                // CONFIG renamed or not allowed for this user: the config rules are skipped for this node.
            }

            return new NodeReply { Replication = replication, Persistence = persisted, Config = config };
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return new NodeReply { Error = Describe(e, options) };
        }
    }

    /// <summary>R003, R004, R005, R007, R009 from CONFIG GET on the master and replicas that answered.</summary>
    private static void CheckNodeConfig(SentinelSnapshot snapshot, List<Finding> findings)
    {
        var nodes = new List<(string Endpoint, bool IsMaster, Dictionary<string, string> Config)>();
        if (snapshot.Master?.Config is { } mc)
        {
            nodes.Add((snapshot.MasterAddress!, true, mc));
        }

        nodes.AddRange(snapshot.Replicas.Where(r => r.Value.Config is not null).Select(r => (r.Key, false, r.Value.Config!)));
        var password = nodes.Select(n => Str(n.Config, "requirepass")).FirstOrDefault(p => p.Length > 0);
        foreach (var (ep, isMaster, config) in nodes)
        {
            if (isMaster)
            {
                if (Long(config, "min-replicas-to-write") < 1)
                {
                    findings.Add(Live("R003", ep, $"Master {ep}: min-replicas-to-write {Str(config, "min-replicas-to-write")}: it accepts writes with no replica attached."));
                }

                if (config.TryGetValue("save", out var save) && save.Length == 0 && Str(config, "appendonly") == "no")
                {
                    findings.Add(Live("R004", ep, $"Master {ep}: no RDB (save \"\") and no AOF: if it restarts quickly it comes back empty and its replicas copy the empty dataset (unless the Sentinels set master-reboot-down-after-period, which SENTINEL MASTER does not show)."));
                }

                if (Long(config, "repl-backlog-size", long.MaxValue) <= 1 << 20)
                {
                    findings.Add(Live("R009", ep, $"Master {ep}: repl-backlog-size {Str(config, "repl-backlog-size")} bytes: a short disconnection can force a full resync."));
                }
            }
            else if (Str(config, "replica-read-only") == "no")
            {
                findings.Add(Live("R007", ep, $"Replica {ep}: replica-read-only no: writes to it are lost at the next resync."));
            }

            if (password is not null)
            {
                var requirepass = Str(config, "requirepass");
                var masterauth = Str(config, "masterauth");
                if (requirepass != password)
                {
                    findings.Add(Live("R005", ep, $"Node {ep}: requirepass {(requirepass.Length == 0 ? "is not set" : "differs")} while other nodes of '{snapshot.Service}' set one (values not shown)."));
                }

                if (masterauth != password)
                {
                    findings.Add(Live("R005", ep, $"Node {ep}: masterauth {(masterauth.Length == 0 ? "is not set" : "differs from requirepass")}: after a failover it cannot replicate from the new master (values not shown)."));
                }
            }
        }
    }

    private static async Task<SentinelView> QueryAsync(ConnectionMultiplexer mux, string endpoint, string service, LiveCheckOptions options, CancellationToken ct)
    {
        var view = new SentinelView(endpoint);
        var server = mux.GetServer(endpoint);
        if (!server.IsConnected)
        {
            view.Error = "no connection (unreachable, no answer within the timeout, or authentication refused)";
            return view;
        }

        try
        {
            view.Tilt = ParseInfo(await Bounded(() => server.InfoRawAsync("sentinel"), options, ct).ConfigureAwait(false)).GetValueOrDefault("sentinel_tilt") == "1";
            try
            {
                view.Master = (await Bounded(() => server.SentinelMasterAsync(service), options, ct).ConfigureAwait(false)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            }
            catch (RedisServerException e)
            {
                view.MasterError = e.Message;
                return view;
            }

            var address = await Bounded(() => server.SentinelGetMasterAddressByNameAsync(service), options, ct).ConfigureAwait(false);
            view.MasterAddress = Format(address);
            try
            {
                await Bounded(() => server.ExecuteAsync("SENTINEL", "CKQUORUM", service), options, ct).ConfigureAwait(false);
            }
            catch (RedisServerException e)
            {
                view.CkQuorumError = e.Message;
            }

            view.Replicas = (await Bounded(() => server.SentinelReplicasAsync(service), options, ct).ConfigureAwait(false))
                .Select(r => (IReadOnlyDictionary<string, string>)r.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal)).ToList();
            view.Peers = (await Bounded(() => server.SentinelSentinelsAsync(service), options, ct).ConfigureAwait(false))
                .Select(r => (IReadOnlyDictionary<string, string>)r.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal)).ToList();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            view.Error = Describe(e, options);
        }

        return view;
    }

    private static Finding Live(string ruleId, string where, string message, string? fix = null) =>
        new(ruleId, Rules.Get(ruleId).Severity, where, 0, message, fix ?? Rules.Get(ruleId).Fix);
}
