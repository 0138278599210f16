using System.Globalization;

namespace Levee.Drill.Topology;

/// <summary>
/// A real Redis Sentinel deployment on loopback: one master, N replicas, M Sentinels monitoring it.
/// Start with <see cref="StartAsync(SentinelTopologyOptions?, CancellationToken)"/>; disposing stops every process.
/// Faults are the nodes' own (<see cref="RedisNode.Kill"/>, <see cref="RedisNode.Freeze"/>, ...).
/// </summary>
public sealed class SentinelTopology : IAsyncDisposable
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromMilliseconds(500);
    private readonly ProcessHost _host;
    private readonly bool _ownsHost;

    private SentinelTopology(ProcessHost host, bool ownsHost, SentinelTopologyOptions options, RedisNode master, IReadOnlyList<RedisNode> replicas, IReadOnlyList<RedisNode> sentinels)
    {
        _host = host;
        _ownsHost = ownsHost;
        Options = options;
        Master = master;
        Replicas = replicas;
        Sentinels = sentinels;
        RedisNodes = [master, .. replicas];
    }

    /// <summary>The options it was started with.</summary>
    public SentinelTopologyOptions Options { get; }

    /// <summary>The node started as master (it may have been demoted since; see <see cref="FindCurrentMasterAsync"/>).</summary>
    public RedisNode Master { get; }

    /// <summary>The nodes started as replicas.</summary>
    public IReadOnlyList<RedisNode> Replicas { get; }

    /// <summary>The Sentinels.</summary>
    public IReadOnlyList<RedisNode> Sentinels { get; }

    /// <summary>Master and replicas (the data nodes).</summary>
    public IReadOnlyList<RedisNode> RedisNodes { get; }

    /// <summary>Wall time from the first process start until the topology was ready.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>The monitored service name.</summary>
    public string ServiceName => Options.ServiceName;

    /// <summary>The process host (temp folder) holding the nodes.</summary>
    public ProcessHost Host => _host;

    /// <summary>
    /// StackExchange.Redis connection string for Sentinel mode:
    /// <c>127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3,serviceName=mymaster</c>.
    /// </summary>
    public string ConnectionString =>
        string.Join(',', Sentinels.Select(s => s.Endpoint)) + ",serviceName=" + ServiceName;

    /// <summary>Starts the topology in its own <see cref="ProcessHost"/> (disposed with it).</summary>
    public static async Task<SentinelTopology> StartAsync(SentinelTopologyOptions? options = null, CancellationToken cancellationToken = default)
    {
        (options ??= new SentinelTopologyOptions()).Validate();
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

    /// <summary>Starts the topology in <paramref name="host"/>; the host stops the processes when disposed.</summary>
    public static Task<SentinelTopology> StartAsync(ProcessHost host, SentinelTopologyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        return StartCoreAsync(host, ownsHost: false, options, cancellationToken);
    }

    /// <summary>
    /// Asks every answering Sentinel (500 ms each) for the master address; returns the address most of them
    /// report (<c>127.0.0.1:port</c>), or null when none answers.
    /// </summary>
    public async Task<string?> GetMasterEndpointAsync(CancellationToken cancellationToken = default)
    {
        var answers = await AskSentinelsAsync(cancellationToken).ConfigureAwait(false);
        return answers.Values.OfType<string>()
            .GroupBy(a => a, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count())
            .Select(g => g.Key)
            .FirstOrDefault();
    }

    /// <summary>What each Sentinel reports as master (null for one that did not answer within 500 ms).</summary>
    public async Task<IReadOnlyDictionary<RedisNode, string?>> AskSentinelsAsync(CancellationToken cancellationToken = default)
    {
        var tasks = Sentinels.Select(async s =>
        {
            if (!s.IsRunning || s.IsFrozen)
            {
                return (s, (string?)null);
            }

            try
            {
                var reply = await s.ExecuteAsync(ProbeTimeout, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", ServiceName], cancellationToken).ConfigureAwait(false);
                return reply.Items.Count == 2 ? (s, $"{reply.Items[0].Text}:{reply.Items[1].Text}") : (s, null);
            }
            catch (Exception ex) when (ex is TimeoutException or IOException)
            {
                return (s, (string?)null);
            }
        });
        var results = await Task.WhenAll(tasks).ConfigureAwait(false);
        return results.ToDictionary(r => r.Item1, r => r.Item2);
    }

    /// <summary>
    /// Polls the Sentinels until one reports a master other than <paramref name="previousMasterEndpoint"/>;
    /// returns the new address, or null when <paramref name="timeout"/> passed without a change.
    /// </summary>
    public async Task<string?> WaitForMasterChangeAsync(string previousMasterEndpoint, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var result = await Poll.TryUntilAsync($"a master other than {previousMasterEndpoint}", async ct =>
        {
            var answers = await AskSentinelsAsync(ct).ConfigureAwait(false);
            var changed = answers.Values.FirstOrDefault(a => a is not null && a != previousMasterEndpoint);
            return changed is not null ? Probe<string>.Ready(changed) : Probe<string>.NotYet("every Sentinel answers the old master or nothing");
        }, timeout, TimeProvider.System, cancellationToken).ConfigureAwait(false);
        return result.IsReady ? result.Value : null;
    }

    /// <summary>
    /// Like <see cref="WaitForMasterChangeAsync"/> but throws a <see cref="TopologyException"/> naming the
    /// Sentinels' ports and log tails when no failover happened within <paramref name="timeout"/>.
    /// Returns the node that is the new master.
    /// </summary>
    public async Task<RedisNode> WaitForFailoverAsync(string previousMasterEndpoint, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var endpoint = await WaitForMasterChangeAsync(previousMasterEndpoint, timeout, cancellationToken).ConfigureAwait(false);
        if (endpoint is null)
        {
            throw new TopologyException(
                $"no Sentinel reported a master other than {previousMasterEndpoint} within {timeout.TotalSeconds:0.#} s. "
                + string.Join("\n", Sentinels.Select(s => $"--- {s} ---\n{s.LogTail(12)}")));
        }

        return NodeByEndpoint(endpoint)
            ?? throw new TopologyException($"Sentinels report master {endpoint}, which is not a node of this topology");
    }

    /// <summary>
    /// The data node that currently says <c>ROLE master</c> (frozen or dead nodes are skipped). When several do
    /// (a restarted old master not yet demoted), the one the Sentinels report wins. Null when none.
    /// </summary>
    public async Task<RedisNode?> FindCurrentMasterAsync(CancellationToken cancellationToken = default)
    {
        var masters = new List<RedisNode>();
        foreach (var node in RedisNodes)
        {
            if (!node.IsRunning || node.IsFrozen)
            {
                continue;
            }

            try
            {
                if (await node.RoleAsync(cancellationToken).ConfigureAwait(false) == "master")
                {
                    masters.Add(node);
                }
            }
            catch (Exception ex) when (ex is TimeoutException or IOException)
            {
                // not answering: not a usable master
            }
        }

        if (masters.Count <= 1)
        {
            return masters.FirstOrDefault();
        }

        var reported = await GetMasterEndpointAsync(cancellationToken).ConfigureAwait(false);
        return masters.FirstOrDefault(m => m.Endpoint == reported) ?? masters[0];
    }

    /// <summary>The data node or Sentinel listening on <paramref name="endpoint"/> (<c>127.0.0.1:port</c>), or null.</summary>
    public RedisNode? NodeByEndpoint(string endpoint) =>
        RedisNodes.Concat(Sentinels).FirstOrDefault(n => string.Equals(n.Endpoint, endpoint, StringComparison.Ordinal));

    /// <summary>
    /// Polls until every replica reports <c>master_link_status:up</c> towards the current master and every
    /// answering Sentinel reports that master, the replicas and the other Sentinels. Used at start; call it
    /// again after a fault to wait for the topology to settle.
    /// </summary>
    public Task WaitUntilReadyAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Poll.UntilAsync("the Sentinel topology to be ready", NotReadyProbeAsync, timeout, TimeProvider.System, cancellationToken,
            details: () => "Nodes: " + string.Join("; ", RedisNodes.Concat(Sentinels).Select(n => n.ToString())));

    private async Task<Probe<bool>> NotReadyProbeAsync(CancellationToken cancellationToken) =>
        await NotReadyReasonAsync(cancellationToken).ConfigureAwait(false) is { Length: > 0 } why ? Probe<bool>.NotYet(why) : Probe<bool>.Ready(true);

    /// <summary>Stops every process of the topology (and its host when it created one).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsHost)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
            return;
        }

        foreach (var node in RedisNodes.Concat(Sentinels))
        {
            node.Kill();
        }
    }

    private static async Task<SentinelTopology> StartCoreAsync(ProcessHost host, bool ownsHost, SentinelTopologyOptions? options, CancellationToken cancellationToken)
    {
        options ??= new SentinelTopologyOptions();
        options.Validate();
        var started = System.Diagnostics.Stopwatch.StartNew();
        if (options.Tls)
        {
            await host.UseTlsAsync(cancellationToken).ConfigureAwait(false);
        }

        var extra = options.RedisConfig.ToArray();
        var master = await RedisNode.StartAsync(host, host.UniqueName("master"), RedisNodeKind.Server, (dir, port) => ConfigTemplates.RedisServer(dir, port, extra), cancellationToken).ConfigureAwait(false);
        var replicaTasks = Enumerable.Range(0, options.Replicas).Select(_ =>
            RedisNode.StartAsync(host, host.UniqueName("replica"), RedisNodeKind.Server, (dir, port) => ConfigTemplates.Replica(dir, port, master.Port, extra), cancellationToken));
        var sentinelTasks = Enumerable.Range(0, options.Sentinels).Select(_ =>
            RedisNode.StartAsync(
                host,
                host.UniqueName("sentinel"),
                RedisNodeKind.Sentinel,
                (dir, port) => ConfigTemplates.Sentinel(dir, port, options.ServiceName, master.Port, options.Quorum, options.DownAfterMilliseconds, options.FailoverTimeoutMilliseconds),
                cancellationToken));
        var replicas = await Task.WhenAll(replicaTasks).ConfigureAwait(false);
        var sentinels = await Task.WhenAll(sentinelTasks).ConfigureAwait(false);
        var topology = new SentinelTopology(host, ownsHost, options, master, replicas, sentinels);
        await topology.WaitUntilReadyAsync(options.ReadyTimeout, cancellationToken).ConfigureAwait(false);
        topology.StartupTime = started.Elapsed;
        return topology;
    }

    private async Task<string?> NotReadyReasonAsync(CancellationToken cancellationToken)
    {
        try
        {
            var master = await FindCurrentMasterAsync(cancellationToken).ConfigureAwait(false);
            if (master is null)
            {
                return "no data node reports ROLE master";
            }

            var liveReplicas = RedisNodes.Where(n => n != master && n.IsRunning && !n.IsFrozen).ToList();
            foreach (var replica in liveReplicas)
            {
                var info = await replica.InfoAsync("replication", cancellationToken).ConfigureAwait(false);
                if (!info.TryGetValue("master_port", out var mp) || mp != master.Port.ToString(CultureInfo.InvariantCulture)
                    || !info.TryGetValue("master_link_status", out var link) || link != "up")
                {
                    return $"replica {replica.Endpoint} not linked to master {master.Endpoint} (master_port {info.GetValueOrDefault("master_port", "-")}, link {info.GetValueOrDefault("master_link_status", "-")})";
                }
            }

            var liveSentinels = Sentinels.Where(s => s.IsRunning && !s.IsFrozen).ToList();
            foreach (var sentinel in liveSentinels)
            {
                var reply = await sentinel.ExecuteAsync(ProbeTimeout, ["SENTINEL", "MASTER", ServiceName], cancellationToken).ConfigureAwait(false);
                if (reply.IsError)
                {
                    return $"sentinel {sentinel.Endpoint}: {reply.Text}";
                }

                var m = reply.ToPairs();
                var port = m.GetValueOrDefault("port");
                var slaves = int.Parse(m.GetValueOrDefault("num-slaves", "0"), CultureInfo.InvariantCulture);
                var others = int.Parse(m.GetValueOrDefault("num-other-sentinels", "0"), CultureInfo.InvariantCulture);
                var flags = m.GetValueOrDefault("flags", string.Empty);
                if (port != master.Port.ToString(CultureInfo.InvariantCulture) || flags != "master"
                    || slaves < RedisNodes.Count - 1 || others < Sentinels.Count - 1)
                {
                    return $"sentinel {sentinel.Endpoint} reports master port {port}, flags {flags}, {slaves}/{RedisNodes.Count - 1} replicas, {others}/{Sentinels.Count - 1} other sentinels";
                }
            }

            return null;
        }
        catch (Exception ex) when (ex is TimeoutException or IOException)
        {
            return ex.Message;
        }
    }
}
