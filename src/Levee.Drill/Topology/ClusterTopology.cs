using System.Globalization;

namespace Levee.Drill.Topology;

/// <summary>
/// A real Redis Cluster on loopback (default 6 nodes: 3 masters, 3 replicas), created with
/// <c>redis-cli --cluster create</c>. Disposing stops every process. Faults are the nodes' own.
/// </summary>
public sealed class ClusterTopology : IAsyncDisposable
{
    private readonly ProcessHost _host;
    private readonly bool _ownsHost;
    private readonly Dictionary<string, RedisNode> _byId;

    private ClusterTopology(ProcessHost host, bool ownsHost, ClusterTopologyOptions options, IReadOnlyList<RedisNode> nodes, Dictionary<string, RedisNode> byId)
    {
        _host = host;
        _ownsHost = ownsHost;
        _byId = byId;
        Options = options;
        Nodes = nodes;
        Masters = [];
        ReplicaOf = new Dictionary<RedisNode, RedisNode>();
    }

    /// <summary>The options it was started with.</summary>
    public ClusterTopologyOptions Options { get; }

    /// <summary>Every node.</summary>
    public IReadOnlyList<RedisNode> Nodes { get; }

    /// <summary>The masters as created (see <see cref="GetLayoutAsync"/> for the current ones).</summary>
    public IReadOnlyList<RedisNode> Masters { get; private set; }

    /// <summary>Replica to master, as created.</summary>
    public IReadOnlyDictionary<RedisNode, RedisNode> ReplicaOf { get; private set; }

    /// <summary>The replicas as created.</summary>
    public IReadOnlyList<RedisNode> Replicas => [.. ReplicaOf.Keys];

    /// <summary>Wall time from the first process start until the cluster was ready.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>The process host (temp folder) holding the nodes.</summary>
    public ProcessHost Host => _host;

    /// <summary>StackExchange.Redis connection string listing every node (<c>127.0.0.1:p1,127.0.0.1:p2,...</c>).</summary>
    public string ConnectionString => string.Join(',', Nodes.Select(n => n.Endpoint));

    /// <summary>Starts the cluster in its own <see cref="ProcessHost"/> (disposed with it).</summary>
    public static async Task<ClusterTopology> StartAsync(ClusterTopologyOptions? options = null, CancellationToken cancellationToken = default)
    {
        (options ??= new ClusterTopologyOptions()).Validate();
        var host = new ProcessHost();
        try
        {
            return await StartCoreAsync(host, ownsHost: true, options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the cluster in <paramref name="host"/>; the host stops the processes when disposed.</summary>
    public static Task<ClusterTopology> StartAsync(ProcessHost host, ClusterTopologyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        return StartCoreAsync(host, ownsHost: false, options, cancellationToken);
    }

    /// <summary>The node with cluster id <paramref name="nodeId"/>, or null.</summary>
    public RedisNode? NodeById(string nodeId) => _byId.GetValueOrDefault(nodeId);

    /// <summary>The node listening on <paramref name="endpoint"/>, or null.</summary>
    public RedisNode? NodeByEndpoint(string endpoint) => Nodes.FirstOrDefault(n => n.Endpoint == endpoint);

    /// <summary>The cluster id of <paramref name="node"/>.</summary>
    public string NodeId(RedisNode node) => _byId.First(kv => kv.Value == node).Key;

    /// <summary>Reads <c>CLUSTER NODES</c> from the first answering node (not frozen, not dead).</summary>
    public async Task<ClusterLayout> GetLayoutAsync(CancellationToken cancellationToken = default)
    {
        foreach (var node in Nodes.Where(n => n.IsRunning && !n.IsFrozen))
        {
            try
            {
                var reply = await node.ExecuteAsync(RedisNode.DefaultCommandTimeout, ["CLUSTER", "NODES"], cancellationToken).ConfigureAwait(false);
                if (!reply.IsError)
                {
                    return ParseLayout(reply.Text ?? string.Empty);
                }
            }
            catch (Exception ex) when (ex is TimeoutException or IOException)
            {
                // try the next node
            }
        }

        throw new TopologyException("no cluster node answered CLUSTER NODES: " + string.Join("; ", Nodes));
    }

    /// <summary>
    /// Waits until a replica of <paramref name="formerMaster"/> (as created) reports <c>ROLE master</c> and every
    /// live node reports <c>cluster_state:ok</c> again. Returns the promoted node; throws a
    /// <see cref="TopologyException"/> with the nodes' log tails on timeout.
    /// </summary>
    public async Task<RedisNode> WaitForPromotionAsync(RedisNode formerMaster, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(formerMaster);
        var candidates = ReplicaOf.Where(kv => kv.Value == formerMaster).Select(kv => kv.Key).ToList();
        if (candidates.Count == 0)
        {
            throw new ArgumentException($"{formerMaster.Endpoint} had no replica when the cluster was created", nameof(formerMaster));
        }

        return await Poll.UntilAsync($"a replica of {formerMaster.Endpoint} to be promoted", async ct =>
        {
            var why = "no replica of it is running";
            foreach (var candidate in candidates.Where(c => c.IsRunning && !c.IsFrozen))
            {
                try
                {
                    if (await candidate.RoleAsync(ct).ConfigureAwait(false) != "master")
                    {
                        why = $"{candidate.Endpoint} is still a replica";
                        continue;
                    }

                    why = await NotOkReasonAsync(ct).ConfigureAwait(false) ?? string.Empty;
                    if (why.Length == 0)
                    {
                        return Probe<RedisNode>.Ready(candidate);
                    }
                }
                catch (Exception ex) when (ex is TimeoutException or IOException)
                {
                    why = ex.Message;
                }
            }

            return Probe<RedisNode>.NotYet(why);
        }, timeout, TimeProvider.System, cancellationToken,
            details: () => string.Join("\n", candidates.Select(c => $"--- {c} ---\n{c.LogTail(12)}"))).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls until every live node reports <c>cluster_state:ok</c>, knows all nodes, and every live master has
    /// its live replicas connected (<c>master_link_status:up</c>).
    /// </summary>
    public Task WaitUntilReadyAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Poll.UntilAsync("the cluster to be ready", NotReadyProbeAsync, timeout, TimeProvider.System, cancellationToken,
            details: () => "Nodes: " + string.Join("; ", Nodes));

    private async Task<Probe<bool>> NotReadyProbeAsync(CancellationToken cancellationToken) =>
        await NotReadyReasonAsync(cancellationToken).ConfigureAwait(false) is { Length: > 0 } why ? Probe<bool>.NotYet(why) : Probe<bool>.Ready(true);

    /// <summary>Stops every node (and the host when it created one).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsHost)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
            return;
        }

        foreach (var node in Nodes)
        {
            node.Kill();
        }
    }

    private static async Task<ClusterTopology> StartCoreAsync(ProcessHost host, bool ownsHost, ClusterTopologyOptions? options, CancellationToken cancellationToken)
    {
        options ??= new ClusterTopologyOptions();
        options.Validate();
        var started = System.Diagnostics.Stopwatch.StartNew();
        if (options.Tls)
        {
            await host.UseTlsAsync(cancellationToken).ConfigureAwait(false);
        }

        var cli = Binaries.RedisCli;
        var extra = options.RedisConfig.ToArray();
        var count = options.Masters * (1 + options.ReplicasPerMaster);
        var nodes = await Task.WhenAll(Enumerable.Range(0, count).Select(_ =>
            RedisNode.StartAsync(
                host,
                host.UniqueName("cluster"),
                RedisNodeKind.ClusterNode,
                (dir, port) => ConfigTemplates.ClusterNode(dir, port, PortAllocator.Next(), options.NodeTimeoutMilliseconds, extra),
                cancellationToken))).ConfigureAwait(false);

        var byId = new Dictionary<string, RedisNode>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            var id = await node.ExecuteAsync("CLUSTER", "MYID").ConfigureAwait(false);
            byId[id.Text ?? throw new TopologyException($"{node}: CLUSTER MYID returned {id}")] = node;
        }

        var createName = host.UniqueName("cluster-create");
        var createDir = host.CreateDirectory(createName);
        var createLog = Path.Combine(createDir, createName + ".log");
        string[] args = ["--cluster", "create", .. nodes.Select(n => n.Endpoint), "--cluster-replicas", options.ReplicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes", .. host.Tls?.RedisCliArguments() ?? []];
        var create = host.Start(createName, cli, args, createDir, createLog);
        if (!await create.WaitForExitAsync(options.ReadyTimeout, cancellationToken).ConfigureAwait(false))
        {
            create.Kill();
            throw new TopologyException($"redis-cli --cluster create did not finish within {options.ReadyTimeout.TotalSeconds:0} s; log {createLog}:\n{RedisNode.ReadTail(createLog, 20)}");
        }

        if (create.ExitCode != 0)
        {
            throw new TopologyException($"redis-cli --cluster create failed (exit {create.ExitCode}) for {string.Join(',', nodes.Select(n => n.Endpoint))}; log {createLog}:\n{RedisNode.ReadTail(createLog, 20)}");
        }

        var topology = new ClusterTopology(host, ownsHost, options, nodes, byId);
        await topology.WaitUntilReadyAsync(options.ReadyTimeout, cancellationToken).ConfigureAwait(false);
        var layout = await topology.GetLayoutAsync(cancellationToken).ConfigureAwait(false);
        topology.Masters = layout.Masters;
        topology.ReplicaOf = layout.ReplicaOf;
        topology.StartupTime = started.Elapsed;
        return topology;
    }

    private ClusterLayout ParseLayout(string text)
    {
        var masters = new List<RedisNode>();
        var replicaOf = new Dictionary<RedisNode, RedisNode>();
        var failed = new List<RedisNode>();
        foreach (var raw in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // <id> <ip:port@cport> <flags> <master-id|-> <ping> <pong> <epoch> <link> <slots...>
            var f = raw.Trim().Split(' ');
            if (f.Length < 8 || !_byId.TryGetValue(f[0], out var node))
            {
                continue;
            }

            var flags = f[2].Split(',');
            if (flags.Contains("fail") || flags.Contains("fail?"))
            {
                failed.Add(node);
                continue;
            }

            if (flags.Contains("master") && f.Length > 8)
            {
                masters.Add(node);
            }
            else if (flags.Contains("slave") && _byId.TryGetValue(f[3], out var master))
            {
                replicaOf[node] = master;
            }
        }

        masters.Sort((a, b) => a.Port.CompareTo(b.Port));
        return new ClusterLayout(masters, replicaOf, failed);
    }

    private async Task<string?> NotOkReasonAsync(CancellationToken cancellationToken)
    {
        foreach (var node in Nodes.Where(n => n.IsRunning && !n.IsFrozen))
        {
            var info = RedisNode.ParseInfo(await node.ExecuteAsync(RedisNode.DefaultCommandTimeout, ["CLUSTER", "INFO"], cancellationToken).ConfigureAwait(false));
            if (info.GetValueOrDefault("cluster_state") != "ok" || info.GetValueOrDefault("cluster_slots_ok") != "16384")
            {
                return $"{node.Endpoint} reports cluster_state {info.GetValueOrDefault("cluster_state", "-")}, slots ok {info.GetValueOrDefault("cluster_slots_ok", "-")}";
            }

            if (info.GetValueOrDefault("cluster_known_nodes") != Nodes.Count.ToString(CultureInfo.InvariantCulture))
            {
                return $"{node.Endpoint} knows {info.GetValueOrDefault("cluster_known_nodes", "-")}/{Nodes.Count} nodes";
            }
        }

        return null;
    }

    private async Task<string?> NotReadyReasonAsync(CancellationToken cancellationToken)
    {
        try
        {
            var ok = await NotOkReasonAsync(cancellationToken).ConfigureAwait(false);
            if (ok is not null)
            {
                return ok;
            }

            var layout = await GetLayoutAsync(cancellationToken).ConfigureAwait(false);
            foreach (var (replica, master) in layout.ReplicaOf)
            {
                if (!replica.IsRunning || replica.IsFrozen)
                {
                    continue;
                }

                var info = await replica.InfoAsync("replication", cancellationToken).ConfigureAwait(false);
                if (info.GetValueOrDefault("master_port") != master.Port.ToString(CultureInfo.InvariantCulture) || info.GetValueOrDefault("master_link_status") != "up")
                {
                    return $"replica {replica.Endpoint} not linked to {master.Endpoint} (link {info.GetValueOrDefault("master_link_status", "-")})";
                }
            }

            var expectedReplicas = Nodes.Count(n => n.IsRunning && !n.IsFrozen) - layout.Masters.Count;
            if (layout.ReplicaOf.Count(kv => kv.Key.IsRunning && !kv.Key.IsFrozen) < expectedReplicas)
            {
                return $"{layout.ReplicaOf.Count} replicas attached, expected {expectedReplicas}";
            }

            return null;
        }
        catch (Exception ex) when (ex is TimeoutException or IOException)
        {
            return ex.Message;
        }
    }
}
