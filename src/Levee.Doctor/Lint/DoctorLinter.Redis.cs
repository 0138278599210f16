using Levee.Doctor.Lint;

namespace Levee.Doctor;

public static partial class DoctorLinter
{
    private const long DefaultBacklog = 1L << 20;

    /// <summary>R001, R003–R007, R009, R011–R013 for redis.conf nodes.</summary>
    private static void CheckNodes(List<RedisModel> nodes, Dictionary<string, List<RedisModel>> groups, List<SentinelModel> sentinels, List<Finding> findings)
    {
        var decls = sentinels.SelectMany(s => s.Masters.Values).ToList();
        var data = nodes.Where(n => !n.ClusterEnabled).ToList();

        // Groups of nodes replicating together: per monitored master, or all data nodes when no Sentinel config was given.
        var replicated = groups.Count > 0
            ? groups.Select(g => (Name: (string?)g.Key, Nodes: g.Value)).ToList()
            : [(Name: null, Nodes: data)];

        var addresses = decls.Select(d => d.Host).Concat(data.Where(n => n.IsReplica).Select(n => n.ReplicaOf!.Arg(0))).ToList();
        var networked = addresses.Any(a => !Net.IsLoopback(a));

        foreach (var (name, group) in replicated)
        {
            var replicas = group.Where(n => n.IsReplica).ToList();
            if (replicas.Count == 0 && !group.Any(n => n.Doc.ProcessesKnown && n.Doc.Processes > 1))
            {
                continue; // no replica in sight (a config shared by a workload's pods is the master's and its replicas')
            }

            var label = name is null ? "the replicas" : $"master '{name}'";
            if (replicas.Count > 0 && replicas.All(r => r.Priority == 0))
            {
                var r = replicas[0];
                findings.Add(Make("R001", r.Doc, r.PriorityLine?.Line ?? 0, $"Every replica of {label} has replica-priority 0 ({replicas.Count} replica config(s)): no failover can promote anything."));
            }

            var rebootGuard = decls.Where(d => name is null || d.Name == name)
                .Any(d => (d.Settings.GetValueOrDefault("master-reboot-down-after-period") ?? d.Settings.GetValueOrDefault("primary-reboot-down-after-period")) is { } p && long.TryParse(p.Arg(2), out var ms) && ms > 0);
            foreach (var node in group)
            {
                if (!node.IsReplica)
                {
                    var min = node.Doc.LastOf("min-replicas-to-write", "min-slaves-to-write");
                    if (min is null || !int.TryParse(min.Arg(0), out var m) || m < 1)
                    {
                        findings.Add(Make("R003", node.Doc, min?.Line ?? 0, $"{node.Doc.Name}: the master of {label} accepts writes with no replica attached (min-replicas-to-write {(min is null ? "not set" : min.Arg(0))})."));
                    }
                }

                if (node.PersistenceOff && !rebootGuard)
                {
                    findings.Add(Make("R004", node.Doc, node.Doc.Last("save")!.Line, $"{node.Doc.Name}: no RDB (save \"\") and no AOF, and no Sentinel sets master-reboot-down-after-period: if this node restarts as master it comes back empty and its replicas copy the empty dataset."));
                }

                var backlog = node.Doc.Last("repl-backlog-size");
                var size = backlog is null ? DefaultBacklog : Net.ParseMemory(backlog.Arg(0)) ?? DefaultBacklog;
                if (size <= DefaultBacklog)
                {
                    findings.Add(Make("R009", node.Doc, backlog?.Line ?? 0, $"{node.Doc.Name}: repl-backlog-size {(backlog is null ? "1mb (default)" : backlog.Arg(0))}: a short disconnection can force a full resync."));
                }
            }

            if (name is not null && decls.FirstOrDefault(d => d.Name == name && !d.AtStartup) is { } decl)
            {
                foreach (var r in replicas.Where(r => !string.Equals(r.ReplicaOfAddress, decl.Address, StringComparison.OrdinalIgnoreCase)))
                {
                    findings.Add(Make("R013", r.Doc, r.ReplicaOf!.Line, $"{r.Doc.Name} replicates from {r.ReplicaOfAddress}, but the Sentinels monitor '{name}' at {decl.Address}."));
                }
            }

            // R005: every data node needs the same requirepass and masterauth (roles swap on failover).
            var password = group.Select(n => n.RequirePass).FirstOrDefault(p => p is not null);
            if (password is not null)
            {
                foreach (var node in group)
                {
                    if (node.PasswordAtStartup)
                    {
                        continue; // its value is not in the file (P009)
                    }

                    if (node.RequirePass is null)
                    {
                        findings.Add(Make("R005", node.Doc, 0, $"{node.Doc.Name} sets no requirepass while other nodes of {label} do."));
                    }
                    else if (node.RequirePass != password)
                    {
                        findings.Add(Make("R005", node.Doc, node.Doc.Last("requirepass")!.Line, $"{node.Doc.Name}: requirepass differs from the other nodes of {label} (values not shown)."));
                    }

                    if (node.MasterAuth is null && !node.MasterAuthAtStartup)
                    {
                        findings.Add(Make("R005", node.Doc, node.Doc.Last("requirepass")?.Line ?? 0, $"{node.Doc.Name}: requirepass is set in the group but masterauth is not: after a failover this node cannot replicate from the new master."));
                    }
                    else if (node.MasterAuth is not null && node.MasterAuth != password)
                    {
                        findings.Add(Make("R005", node.Doc, node.Doc.Last("masterauth")!.Line, $"{node.Doc.Name}: masterauth differs from the requirepass of {label} (values not shown)."));
                    }
                }
            }
        }

        foreach (var node in nodes)
        {
            var doc = node.Doc;
            if (node.PasswordAtStartup)
            {
                findings.Add(Make("P009", doc, doc.ConfigMap!.KeyLine, $"{doc.Name}: requirepass is not in the file; the container's args or a start-up script supply it: its value is not linted."));
            }

            if (networked && !node.ClusterEnabled)
            {
                if (node.ProtectedMode && !node.HasPassword && node.ProtectedModeSet)
                {
                    findings.Add(Make("R006", doc, doc.Last("protected-mode")!.Line, $"{doc.Name}: protected-mode yes and no password, so only loopback clients are accepted, but the deployment uses non-loopback addresses."));
                }
                else if (!node.HasPassword && !node.ProtectedModeSet && !node.BindsLoopbackOnly)
                {
                    findings.Add(Make("R006", doc, 0, $"{doc.Name}: no password and protected-mode not set, in a deployment that uses non-loopback addresses: with the default of redis.io and distribution builds (yes) only loopback clients are accepted; the official Docker image builds it off, and then anyone who reaches the port owns the node.",
                        "Set requirepass (and masterauth, and 'sentinel auth-pass' on the Sentinels); then protected mode no longer matters."));
                }
                else if (node.BindsLoopbackOnly)
                {
                    findings.Add(Make("R006", doc, doc.Last("bind")!.Line, $"{doc.Name}: binds only {string.Join(' ', node.Bind)}, but the deployment uses non-loopback addresses."));
                }
            }

            if (!node.ProtectedMode && !node.HasPassword && !node.BindsLoopbackOnly)
            {
                findings.Add(Make("R012", doc, doc.Last("protected-mode")!.Line, $"{doc.Name}: protected-mode no, no password, and bound to {string.Join(' ', node.Bind)}: anyone who reaches the port owns the node."));
            }

            if (node.IsReplica && doc.LastOf("replica-read-only", "slave-read-only") is { } ro && ro.Arg(0).Equals("no", StringComparison.OrdinalIgnoreCase))
            {
                findings.Add(Make("R007", doc, ro.Line, $"{doc.Name}: replica-read-only no: writes to this replica are lost at the next resync."));
            }

            if (doc.Last("replica-announced") is { } ann && ann.Arg(0).Equals("no", StringComparison.OrdinalIgnoreCase) && node.Priority > 0)
            {
                findings.Add(Make("R011", doc, ann.Line, $"{doc.Name}: replica-announced no with replica-priority {node.Priority}: hidden from SENTINEL REPLICAS yet promotable."));
            }
        }
    }

    /// <summary>K013, K014, K016 for cluster-enabled nodes.</summary>
    private static void CheckCluster(List<RedisModel> nodes, List<Finding> findings)
    {
        long? firstTimeout = null;
        string? firstName = null;
        foreach (var node in nodes)
        {
            var doc = node.Doc;
            var line = doc.Last("cluster-node-timeout");
            var timeout = line is not null && long.TryParse(line.Arg(0), out var t) ? t : 15000;
            if (timeout < 5000 || timeout > 60000)
            {
                findings.Add(Make("K014", doc, line?.Line ?? 0, $"{doc.Name}: cluster-node-timeout {timeout} ms is outside 5000–60000."));
            }

            if (firstTimeout is null)
            {
                firstTimeout = timeout;
                firstName = doc.Name;
            }
            else if (timeout != firstTimeout)
            {
                findings.Add(Make("K013", doc, line?.Line ?? 0, $"{doc.Name}: cluster-node-timeout {timeout} ms, {firstTimeout} ms in {firstName}."));
            }

            if (doc.Last("cluster-require-full-coverage") is { } cov && cov.Arg(0).Equals("no", StringComparison.OrdinalIgnoreCase))
            {
                findings.Add(Make("K016", doc, cov.Line, $"{doc.Name}: cluster-require-full-coverage no: the cluster keeps serving the covered slots while some are down."));
            }

            if (doc.Last("cluster-allow-reads-when-down") is { } reads && reads.Arg(0).Equals("yes", StringComparison.OrdinalIgnoreCase))
            {
                findings.Add(Make("K016", doc, reads.Line, $"{doc.Name}: cluster-allow-reads-when-down yes: reads may be served while the cluster is down."));
            }
        }
    }
}
