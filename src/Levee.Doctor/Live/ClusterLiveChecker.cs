using Levee.Doctor.Live;
using StackExchange.Redis;
using static Levee.Doctor.Live.LiveConnections;

namespace Levee.Doctor;

/// <summary>
/// Checks a live Redis Cluster: reads <c>CLUSTER NODES</c> from the seed, then asks every node for
/// <c>CLUSTER INFO</c>, <c>CLUSTER NODES</c>, <c>CLUSTER SHARDS</c> and <c>CONFIG GET</c>, and applies K001–K019.
/// </summary>
public static class ClusterLiveChecker
{
    /// <summary>Checks the cluster that <paramref name="seed"/> belongs to.</summary>
    /// <param name="seed">One cluster node HOST:PORT.</param>
    /// <param name="options">Connection options.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <returns>The report; <see cref="DoctorReport.UnusableInput"/> when the seed does not answer.</returns>
    public static async Task<DoctorReport> CheckAsync(string seed, LiveCheckOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(seed);
        ArgumentNullException.ThrowIfNull(options);
        var findings = new List<Finding>();
        if (!TryParseEndpoint(seed, out var seedEp))
        {
            findings.Add(Make("L000", seed, $"'{seed}' is not HOST:PORT."));
            return new DoctorReport(findings, [], unusableInput: true);
        }

        List<ClusterNode> nodes;
        using (var seedMux = await ConnectAsync([seedEp], options, sentinel: false).ConfigureAwait(false))
        {
            try
            {
                var server = seedMux.GetServer(seedEp);
                if (!server.IsConnected)
                {
                    throw new TimeoutException("no connection within the timeout");
                }

                nodes = ClusterNode.ParseAll((string?)await Bounded(() => server.ExecuteAsync("CLUSTER", "NODES"), options, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                findings.Add(Make("L000", seedEp, $"Cluster node {seedEp} did not answer CLUSTER NODES: {Describe(e, options)}."));
                return new DoctorReport(findings, [], unusableInput: true);
            }
        }

        CheckLayout(nodes, findings, seedEp);
        var reachable = nodes.Where(n => !n.Flags.Contains("noaddr") && !n.Flags.Contains("handshake")).ToList();
        using var mux = await ConnectAsync(reachable.Select(n => n.Endpoint), options, sentinel: false).ConfigureAwait(false);
        var infos = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        var views = new Dictionary<string, List<ClusterNode>>(StringComparer.Ordinal);
        var timeouts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var node in reachable)
        {
            var server = mux.GetServer(node.Endpoint);
            try
            {
                if (!server.IsConnected)
                {
                    throw new TimeoutException("no connection within the timeout");
                }

                infos[node.Endpoint] = ParseInfo((string?)await Bounded(() => server.ExecuteAsync("CLUSTER", "INFO"), options, cancellationToken).ConfigureAwait(false));
                views[node.Endpoint] = ClusterNode.ParseAll((string?)await Bounded(() => server.ExecuteAsync("CLUSTER", "NODES"), options, cancellationToken).ConfigureAwait(false));
                await ConfigChecksAsync(server, node, options, findings, timeouts, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                findings.Add(Make("K008", node.Endpoint, $"Cluster node {node.Endpoint} ({node.Role}) does not answer: {Describe(e, options)}."));
            }
        }

        foreach (var (ep, info) in infos)
        {
            if (Str(info, "cluster_state") != "ok")
            {
                findings.Add(Make("K001", ep, $"Node {ep} reports cluster_state:{Str(info, "cluster_state")}."));
            }
        }

        if (infos.Count > 0)
        {
            var assigned = infos.Values.Min(i => Long(i, "cluster_slots_assigned"));
            var failed = infos.Values.Max(i => Long(i, "cluster_slots_fail"));
            var pfail = infos.Values.Max(i => Long(i, "cluster_slots_pfail"));
            if (assigned < LiveCheckOptions.ClusterSlots)
            {
                findings.Add(Make("K002", seedEp, $"Only {assigned} of {LiveCheckOptions.ClusterSlots} slots are assigned."));
            }

            if (failed > 0)
            {
                findings.Add(Make("K003", seedEp, $"{failed} slots are owned by failed nodes (cluster_slots_fail)."));
            }

            if (pfail > 0)
            {
                findings.Add(Make("K004", seedEp, $"{pfail} slots are owned by nodes some node considers unreachable (cluster_slots_pfail)."));
            }
        }

        // K010: every node should report the same slot owners.
        var reference = SlotOwners(nodes);
        var disagree = views.Where(v => SlotOwners(v.Value) != reference).Select(v => v.Key).ToList();
        if (disagree.Count > 0)
        {
            findings.Add(Make("K010", seedEp, $"{string.Join(", ", disagree)} report different slot owners than {seedEp}."));
        }

        if (timeouts.Values.Distinct().Count() > 1)
        {
            findings.Add(Make("K013", seedEp, $"cluster-node-timeout differs: {string.Join(", ", timeouts.Select(t => $"{t.Key}={t.Value}"))}."));
        }

        await ShardChecksAsync(mux, infos.Keys.FirstOrDefault(), options, findings, cancellationToken).ConfigureAwait(false);
        return new DoctorReport(findings, [], unusableInput: false);
    }

    private static void CheckLayout(List<ClusterNode> nodes, List<Finding> findings, string seed)
    {
        foreach (var n in nodes)
        {
            if (n.Flags.Contains("fail") || n.Flags.Contains("fail?"))
            {
                findings.Add(Make("K008", n.Endpoint, $"Node {n.Endpoint} ({n.Role}) is flagged {string.Join(',', n.Flags)} by {seed}."));
            }
            else if (n.LinkState == "disconnected" && !n.Flags.Contains("myself"))
            {
                findings.Add(Make("K008", n.Endpoint, $"Node {n.Endpoint}: cluster bus link disconnected (seen from {seed})."));
            }

            if (n.Flags.Contains("handshake") || n.Flags.Contains("noaddr"))
            {
                findings.Add(Make("K009", n.Endpoint, $"Node {n.Id} is flagged {string.Join(',', n.Flags)}."));
            }

            if (n.Slots.Any(s => s.StartsWith('[')))
            {
                findings.Add(Make("K011", n.Endpoint, $"Node {n.Endpoint} has open slots: {string.Join(' ', n.Slots.Where(s => s.StartsWith('[')))}."));
            }
        }

        var masters = nodes.Where(n => n.IsMaster && n.Slots.Any(s => !s.StartsWith('[')) && !n.IsFailed).ToList();
        if (masters.Count < 3)
        {
            findings.Add(Make("K005", seed, $"{masters.Count} healthy master(s) serve slots; a replica needs a majority of masters to be promoted."));
        }

        foreach (var m in masters)
        {
            var replicas = nodes.Where(n => n.MasterId == m.Id && !n.IsFailed).ToList();
            if (replicas.Count == 0)
            {
                findings.Add(Make("K006", m.Endpoint, $"Master {m.Endpoint} (slots {string.Join(' ', m.Slots)}) has no working replica: if it fails, its slots are lost."));
            }
            else if (replicas.All(r => r.Flags.Contains("nofailover")))
            {
                findings.Add(Make("K019", m.Endpoint, $"Every replica of {m.Endpoint} is flagged nofailover."));
            }
            else if (replicas.All(r => r.Host == m.Host))
            {
                findings.Add(Make("K007", m.Endpoint, $"Master {m.Endpoint} and all its replicas ({string.Join(", ", replicas.Select(r => r.Endpoint))}) are on host {m.Host}."));
            }
        }
    }

    private static async Task ConfigChecksAsync(IServer server, ClusterNode node, LiveCheckOptions options, List<Finding> findings, Dictionary<string, long> timeouts, CancellationToken ct)
    {
        KeyValuePair<string, string>[] config;
        try
        {
            config = await Bounded(() => server.ConfigGetAsync("cluster-*"), options, ct).ConfigureAwait(false);
        }
        catch (RedisServerException)
        {
            return; // CONFIG renamed or not allowed: skip config rules for this node.
        }

        var map = config.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var timeout = Long(map, "cluster-node-timeout", -1);
        if (timeout >= 0)
        {
            timeouts[node.Endpoint] = timeout;
            if (timeout < 5000 || timeout > 60000)
            {
                findings.Add(Make("K014", node.Endpoint, $"Node {node.Endpoint}: cluster-node-timeout {timeout} ms is outside 5000–60000."));
            }
        }

        if (Str(map, "cluster-require-full-coverage") == "no")
        {
            findings.Add(Make("K016", node.Endpoint, $"Node {node.Endpoint}: cluster-require-full-coverage no."));
        }

        if (Str(map, "cluster-allow-reads-when-down") == "yes")
        {
            findings.Add(Make("K016", node.Endpoint, $"Node {node.Endpoint}: cluster-allow-reads-when-down yes."));
        }
    }

    /// <summary>K018 from CLUSTER SHARDS (7.0+): replicas not online, or lagging their master.</summary>
    private static async Task ShardChecksAsync(ConnectionMultiplexer mux, string? endpoint, LiveCheckOptions options, List<Finding> findings, CancellationToken ct)
    {
        if (endpoint is null)
        {
            return;
        }

        RedisResult shards;
        try
        {
            shards = await Bounded(() => mux.GetServer(endpoint).ExecuteAsync("CLUSTER", "SHARDS"), options, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return; // before Redis 7.0, or the node stopped answering
        }

        foreach (var shard in (RedisResult[]?)shards ?? [])
        {
            var shardMap = Pairs(shard);
            if (!shardMap.TryGetValue("nodes", out var nodesResult))
            {
                continue;
            }

            var members = ((RedisResult[]?)nodesResult ?? []).Select(Pairs).ToList();
            var primary = members.FirstOrDefault(m => (string?)m.GetValueOrDefault("role") == "master");
            var primaryOffset = primary is null ? -1 : (long)primary["replication-offset"];
            foreach (var m in members.Where(m => (string?)m.GetValueOrDefault("role") == "replica"))
            {
                var ep = $"{(string?)m.GetValueOrDefault("ip")}:{(string?)m.GetValueOrDefault("port")}";
                var health = (string?)m.GetValueOrDefault("health");
                if (health is "loading" && primaryOffset > 0)
                {
                    findings.Add(Make("K018", ep, $"Replica {ep} is still loading its dataset."));
                }
                else if (health is "online" && primaryOffset >= 0 && primaryOffset - (long)m["replication-offset"] > options.MaxReplicationLagBytes)
                {
                    findings.Add(Make("K018", ep, $"Replica {ep} is {primaryOffset - (long)m["replication-offset"]} bytes behind its master."));
                }
            }
        }
    }

    private static Dictionary<string, RedisResult> Pairs(RedisResult result)
    {
        var map = new Dictionary<string, RedisResult>(StringComparer.Ordinal);
        var items = (RedisResult[]?)result ?? [];
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            map[(string?)items[i] ?? string.Empty] = items[i + 1];
        }

        return map;
    }

    private static string SlotOwners(List<ClusterNode> nodes) =>
        string.Join(';', nodes.Where(n => n.IsMaster && n.Slots.Count > 0).OrderBy(n => n.Id, StringComparer.Ordinal)
            .Select(n => n.Id + "=" + string.Join(' ', n.Slots.Where(s => !s.StartsWith('[')))));

    private static Finding Make(string ruleId, string where, string message) =>
        new(ruleId, Rules.Get(ruleId).Severity, where, 0, message, Rules.Get(ruleId).Fix);

    /// <summary>One line of CLUSTER NODES.</summary>
    private sealed record ClusterNode(string Id, string Endpoint, string Host, HashSet<string> Flags, string? MasterId, string LinkState, List<string> Slots)
    {
        public bool IsMaster => Flags.Contains("master");

        public bool IsFailed => Flags.Contains("fail") || Flags.Contains("fail?");

        public string Role => IsMaster ? "master" : "replica";

        public static List<ClusterNode> ParseAll(string? text)
        {
            var list = new List<ClusterNode>();
            foreach (var line in (text ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 8)
                {
                    continue;
                }

                // <id> <ip:port@cport[,hostname]> <flags> <master|-> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot>...
                var address = parts[1].Split(',')[0].Split('@')[0];
                var colon = address.LastIndexOf(':');
                var host = colon > 0 ? address[..colon] : address;
                list.Add(new ClusterNode(
                    parts[0],
                    address,
                    host,
                    parts[2].Split(',').ToHashSet(StringComparer.Ordinal),
                    parts[3] == "-" ? null : parts[3],
                    parts[7],
                    [.. parts.Skip(8)]));
            }

            return list;
        }
    }

}
