using Levee.Doctor.Live;
using StackExchange.Redis;
using static Levee.Doctor.Live.LiveConnections;
using ClusterNode = Levee.Doctor.Live.ClusterNode;

namespace Levee.Doctor;

/// <summary>
/// Checks a live Redis Cluster: reads <c>CLUSTER NODES</c> from the seed, then asks every node for
/// <c>CLUSTER INFO</c>, <c>CLUSTER NODES</c>, <c>CLUSTER SHARDS</c> and <c>CONFIG GET cluster-*</c>, and applies K001–K019.
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
        return Evaluate(await GatherAsync(seed, options, cancellationToken).ConfigureAwait(false), options);
    }

    internal static async Task<ClusterSnapshot> GatherAsync(string seed, LiveCheckOptions options, CancellationToken ct)
    {
        if (!TryParseEndpoint(seed, out var seedEp))
        {
            return new ClusterSnapshot { Seed = seed, SeedError = "not HOST:PORT" };
        }

        var snapshot = new ClusterSnapshot { Seed = seedEp };
        using (var seedMux = await ConnectAsync([seedEp], options, sentinel: false).ConfigureAwait(false))
        {
            try
            {
                var server = seedMux.GetServer(seedEp);
                if (!server.IsConnected)
                {
                    throw new TimeoutException("no connection (unreachable, no answer within the timeout, or authentication refused)");
                }

                snapshot.Nodes = ClusterNode.ParseAll((string?)await Bounded(() => server.ExecuteAsync("CLUSTER", "NODES"), options, ct).ConfigureAwait(false));
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                snapshot.SeedError = $"did not answer CLUSTER NODES: {Describe(e, options)}";
                return snapshot;
            }
        }

        var asked = snapshot.Nodes.Where(n => !n.Flags.Contains("noaddr") && !n.Flags.Contains("handshake")).ToList();
        using var mux = await ConnectAsync(asked.Select(n => n.Endpoint), options, sentinel: false).ConfigureAwait(false);
        foreach (var node in asked)
        {
            snapshot.Replies[node.Endpoint] = await QueryNodeAsync(mux.GetServer(node.Endpoint), options, ct).ConfigureAwait(false);
        }

        var answering = snapshot.Replies.FirstOrDefault(r => r.Value.Error is null).Key;
        if (answering is not null)
        {
            await ReadShardsAsync(mux.GetServer(answering), snapshot, options, ct).ConfigureAwait(false);
        }

        return snapshot;
    }

    internal static DoctorReport Evaluate(ClusterSnapshot snapshot, LiveCheckOptions options)
    {
        var findings = new List<Finding>();
        var seed = snapshot.Seed;
        if (snapshot.SeedError is not null)
        {
            findings.Add(Make("L000", seed, $"Cluster node {seed}: {snapshot.SeedError}."));
            return new DoctorReport(findings, [], unusableInput: true);
        }

        var nodes = snapshot.Nodes;
        CheckLayout(nodes, findings, seed);
        var timeouts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (ep, reply) in snapshot.Replies)
        {
            if (reply.Error is not null)
            {
                var role = nodes.FirstOrDefault(n => n.Endpoint == ep)?.Role ?? "node";
                findings.Add(Make("K008", ep, $"Cluster node {ep} ({role}) does not answer: {reply.Error}."));
                continue;
            }

            if (Str(reply.Info, "cluster_state") != "ok")
            {
                findings.Add(Make("K001", ep, $"Node {ep} reports cluster_state:{Str(reply.Info, "cluster_state")}."));
            }

            CheckConfig(ep, reply.Config, findings, timeouts);
        }

        var infos = snapshot.Replies.Values.Where(r => r.Info is not null).Select(r => r.Info!).ToList();
        if (infos.Count > 0)
        {
            var assigned = infos.Min(i => Long(i, "cluster_slots_assigned"));
            var failed = infos.Max(i => Long(i, "cluster_slots_fail"));
            var pfail = infos.Max(i => Long(i, "cluster_slots_pfail"));
            if (assigned < LiveCheckOptions.ClusterSlots)
            {
                findings.Add(Make("K002", seed, $"Only {assigned} of {LiveCheckOptions.ClusterSlots} slots are assigned."));
            }

            if (failed > 0)
            {
                findings.Add(Make("K003", seed, $"{failed} slots are owned by failed nodes (cluster_slots_fail)."));
            }

            if (pfail > 0)
            {
                findings.Add(Make("K004", seed, $"{pfail} slots are owned by nodes some node considers unreachable (cluster_slots_pfail)."));
            }
        }

        // K010: every node should report the same slot owners as the seed.
        var reference = SlotOwners(nodes);
        var disagree = snapshot.Replies.Where(r => r.Value.View is not null && SlotOwners(r.Value.View) != reference).Select(r => r.Key).ToList();
        if (disagree.Count > 0)
        {
            findings.Add(Make("K010", seed, $"{string.Join(", ", disagree)} report different slot owners than {seed}."));
        }

        if (timeouts.Values.Distinct().Count() > 1)
        {
            findings.Add(Make("K013", seed, $"cluster-node-timeout differs: {string.Join(", ", timeouts.Select(t => $"{t.Key}={t.Value}"))}."));
        }

        foreach (var r in snapshot.Shards)
        {
            if (r.Health == "loading" && r.PrimaryOffset > 0)
            {
                findings.Add(Make("K018", r.Endpoint, $"Replica {r.Endpoint} is still loading its dataset."));
            }
            else if (r.Health == "online" && r.PrimaryOffset >= 0 && r.PrimaryOffset - r.Offset > options.MaxReplicationLagBytes)
            {
                findings.Add(Make("K018", r.Endpoint, $"Replica {r.Endpoint} is {r.PrimaryOffset - r.Offset} bytes behind its master."));
            }
        }

        return new DoctorReport(findings, [], unusableInput: false);
    }

    private static void CheckLayout(List<ClusterNode> nodes, List<Finding> findings, string seed)
    {
        foreach (var n in nodes)
        {
            if (n.IsFailed)
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

    private static void CheckConfig(string ep, Dictionary<string, string>? config, List<Finding> findings, Dictionary<string, long> timeouts)
    {
        if (config is null)
        {
            return; // CONFIG renamed or not allowed
        }

        var timeout = Long(config, "cluster-node-timeout", -1);
        if (timeout >= 0)
        {
            timeouts[ep] = timeout;
            if (timeout < 5000 || timeout > 60000)
            {
                findings.Add(Make("K014", ep, $"Node {ep}: cluster-node-timeout {timeout} ms is outside 5000–60000."));
            }
        }

        if (Str(config, "cluster-require-full-coverage") == "no")
        {
            findings.Add(Make("K016", ep, $"Node {ep}: cluster-require-full-coverage no."));
        }

        if (Str(config, "cluster-allow-reads-when-down") == "yes")
        {
            findings.Add(Make("K016", ep, $"Node {ep}: cluster-allow-reads-when-down yes."));
        }
    }

    private static async Task<ClusterNodeReply> QueryNodeAsync(IServer server, LiveCheckOptions options, CancellationToken ct)
    {
        try
        {
            if (!server.IsConnected)
            {
                throw new TimeoutException("no connection (unreachable, no answer within the timeout, or authentication refused)");
            }

            var info = ParseInfo((string?)await Bounded(() => server.ExecuteAsync("CLUSTER", "INFO"), options, ct).ConfigureAwait(false));
            var view = ClusterNode.ParseAll((string?)await Bounded(() => server.ExecuteAsync("CLUSTER", "NODES"), options, ct).ConfigureAwait(false));
            Dictionary<string, string>? config = null;
            try
            {
                config = (await Bounded(() => server.ConfigGetAsync("cluster-*"), options, ct).ConfigureAwait(false))
                    .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            }
            catch (RedisServerException)
            {
                // CONFIG renamed or not allowed for this user: skip the config rules for this node.
            }

            return new ClusterNodeReply { Info = info, View = view, Config = config };
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return new ClusterNodeReply { Error = Describe(e, options) };
        }
    }

    /// <summary>CLUSTER SHARDS (7.0+): replicas with their health and offsets.</summary>
    private static async Task ReadShardsAsync(IServer server, ClusterSnapshot snapshot, LiveCheckOptions options, CancellationToken ct)
    {
        RedisResult shards;
        try
        {
            shards = await Bounded(() => server.ExecuteAsync("CLUSTER", "SHARDS"), options, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return; // before Redis 7.0, or the node stopped answering
        }

        foreach (var shard in (RedisResult[]?)shards ?? [])
        {
            if (!Pairs(shard).TryGetValue("nodes", out var nodesResult))
            {
                continue;
            }

            var members = ((RedisResult[]?)nodesResult ?? []).Select(Pairs).ToList();
            var primary = members.FirstOrDefault(m => (string?)m.GetValueOrDefault("role") == "master");
            var primaryOffset = primary is null ? -1 : (long)primary["replication-offset"];
            foreach (var m in members.Where(m => (string?)m.GetValueOrDefault("role") == "replica"))
            {
                snapshot.Shards.Add(new ShardReplica(
                    $"{(string?)m.GetValueOrDefault("ip")}:{(string?)m.GetValueOrDefault("port")}",
                    (string?)m.GetValueOrDefault("health") ?? string.Empty,
                    (long)m["replication-offset"],
                    primaryOffset));
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
}
