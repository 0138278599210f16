using System.Globalization;
using Levee.Doctor.Config;
using Levee.Doctor.Lint;

namespace Levee.Doctor;

public static partial class DoctorLinter
{
    private static readonly string[] CompareSettings = ["down-after-milliseconds", "failover-timeout", "parallel-syncs", "auth-pass", "auth-user"];

    private static readonly string[] FailoverCommands = ["config", "slaveof", "replicaof", "info", "ping", "client", "script", "multi", "exec", "role", "publish", "subscribe"];

    /// <summary>
    /// T001–T008, T010, T011, S001–S006, S010, S013, S014 for one monitored master. Returns null for a master whose
    /// 'sentinel monitor' line is added at start-up (P009): its address and quorum are not known, so there is no arithmetic.
    /// </summary>
    private static MasterTopology? CheckMaster(string name, List<MasterDecl> decls, List<RedisModel> group, LintOptions options, List<Finding> findings)
    {
        var first = decls[0];
        MasterTopology? topology = null;
        if (decls.All(d => d.AtStartup))
        {
            findings.Add(Make("P009", first.Owner.Doc, first.Monitor.Line, $"No 'sentinel monitor' line declares '{name}' in {first.Owner.Doc.Name}; a start-up script of the manifest writes one: the master's address and quorum are not linted."));
            foreach (var decl in decls)
            {
                CheckSettings(decl, findings);
            }
        }
        else
        {
            topology = CheckArithmetic(name, decls.Where(d => !d.AtStartup).ToList(), options, findings);
        }

        CheckAgreement(name, decls, group, findings);
        return topology;
    }

    /// <summary>T001–T007, S001–S005, S014: the Sentinel count, the quorum and each monitor line.</summary>
    private static MasterTopology CheckArithmetic(string name, List<MasterDecl> decls, LintOptions options, List<Finding> findings)
    {
        var first = decls[0];
        var doc = first.Owner.Doc;
        var line = first.Monitor.Line;

        // --- how many Sentinels run, and how many each believes exist
        var fileCount = decls.Sum(d => d.Owner.Doc.Processes);
        var maxKnown = decls.Max(d => d.KnownSentinelCount);
        int real;
        var countIndependent = true;
        var assumed = false;
        if (options.Sentinels is { } n)
        {
            real = n;
        }
        else if (fileCount > 1 || decls.Any(d => d.Owner.Doc.ProcessesKnown))
        {
            real = fileCount;
        }
        else if (maxKnown > 0)
        {
            real = maxKnown + 1;
            countIndependent = false;
        }
        else
        {
            // one shared sentinel.conf (the stock file, most charts and operators): every Sentinel runs it, and how many
            // there are cannot be seen. Assume the count for which the quorum is the majority, say so, and judge nothing
            // that depends on the count.
            real = Math.Max(1, 2 * first.Quorum - 1);
            assumed = true;
            findings.Add(Make("P007", doc, line, $"Only one Sentinel config monitors '{name}' and it has no known-sentinel lines, so how many Sentinels share it is unknown: assuming {real} (quorum {first.QuorumText} is their majority); the Sentinel-count rules (T001–T006) are not judged. Pass every Sentinel's config or --sentinels N."));
        }

        var voters = Math.Max(real, maxKnown + 1);
        var quorum = first.Quorum;
        var topology = MasterTopology.Compute(name, real, voters, quorum, first.Address) with { SentinelsAssumed = assumed };

        // --- per declaration (each Sentinel file)
        foreach (var decl in decls)
        {
            CheckMonitorLine(decl, findings);
            CheckSettings(decl, findings);
            if (countIndependent && decl.KnownSentinelCount + 1 > real)
            {
                var known = decl.KnownSentinels[^1];
                findings.Add(Make("S014", decl.Owner.Doc, known.Line,
                    $"This Sentinel knows {decl.KnownSentinelCount} other Sentinels for '{name}' ({decl.KnownSentinelCount + 1} voters) but {real} Sentinels run: the majority needed becomes {voters / 2 + 1}."));
            }
        }

        // --- the arithmetic (T001–T006; nothing when the count is assumed)
        foreach (var f in SentinelCountRules.Evaluate(topology, q => $"'sentinel monitor {name} {first.Host} {first.PortText} {q}'"))
        {
            findings.Add(Make(f.RuleId, doc, line, f.Message, f.Fix));
        }

        CheckHosts(name, decls, topology, findings);
        return topology;
    }

    /// <summary>T008, T010 (Sentinels agree), T011, S006 (replicas), S010, S013 (auth, renamed commands).</summary>
    private static void CheckAgreement(string name, List<MasterDecl> decls, List<RedisModel> group, List<Finding> findings)
    {
        var first = decls[0];

        // --- Sentinels must agree
        foreach (var decl in decls.Skip(1))
        {
            if (decl.AtStartup || first.AtStartup)
            {
                // the monitor line is written at start-up: quorum and address unknown, the other settings still compare
            }
            else if (decl.Quorum != first.Quorum)
            {
                findings.Add(Make("T008", decl.Owner.Doc, decl.Monitor.Line, $"Master '{name}': quorum {decl.QuorumText} here, {first.QuorumText} in {first.Owner.Doc.Name}."));
            }

            if (!decl.AtStartup && !first.AtStartup && !string.Equals(decl.Address, first.Address, StringComparison.OrdinalIgnoreCase))
            {
                findings.Add(Make("T010", decl.Owner.Doc, decl.Monitor.Line, $"Master '{name}': monitored at {decl.Address} here, at {first.Address} in {first.Owner.Doc.Name}."));
            }

            foreach (var setting in CompareSettings)
            {
                var mine = decl.Setting(setting);
                var theirs = first.Setting(setting);
                if (!string.Equals(mine, theirs, StringComparison.Ordinal))
                {
                    var at = decl.Settings.TryGetValue(setting, out var d) ? d.Line : decl.Monitor.Line;
                    var show = setting is "auth-pass" ? (mine is null ? "not set" : "set") + " here, " + (theirs is null ? "not set" : mine is null ? "set" : "a different value") : $"{mine ?? "default"} here, {theirs ?? "default"}";
                    findings.Add(Make("T008", decl.Owner.Doc, at, $"Master '{name}': {setting} {show} in {first.Owner.Doc.Name}."));
                }
            }
        }

        // --- replicas: promotable count (T011), all priority 0 is R001 (reported with the nodes)
        // A config file is one process; a ConfigMap's config runs in every pod of the workload mounting it. A shared
        // config without replicaof (the chart adds it at start-up) is the master's and the replicas': its pods less one.
        var replicas = group.Where(r => r.IsReplica).ToList();
        var shared = group.Where(r => !r.IsReplica && r.Doc.ProcessesKnown && r.Doc.Processes > 1).ToList();
        var replicaCount = replicas.Sum(r => r.Doc.Processes) + shared.Sum(r => r.Doc.Processes - 1);
        var promotable = replicas.Where(r => r.Priority > 0).Sum(r => r.Doc.Processes) + shared.Where(r => r.Priority > 0).Sum(r => r.Doc.Processes - 1);
        if (replicaCount > 0 && promotable == 1)
        {
            var r = replicas.Concat(shared).First(x => x.Priority > 0);
            findings.Add(Make("T011", r.Doc, r.ReplicaOf?.Line ?? r.Doc.ConfigMap?.KeyLine ?? 0, $"Master '{name}' has {replicaCount} replica(s) and only one can be promoted ({r.Doc.Name}); losing it leaves no failover target."));
        }

        // --- auth: Sentinel must authenticate as the data nodes require (S010)
        var passwords = group.Select(r => r.RequirePass).Where(p => p is not null).Distinct(StringComparer.Ordinal).ToList();
        foreach (var decl in decls)
        {
            var authPass = decl.Setting("auth-pass");
            if (decl.Settings.TryGetValue("auth-user", out var user) && authPass is null)
            {
                findings.Add(Make("S010", decl.Owner.Doc, user.Line, $"Master '{name}': auth-user without auth-pass is ignored; Sentinel connects unauthenticated."));
            }

            var authAtStartup = authPass is null && decl.Owner.Doc.ConfigMap?.SuppliesAtStartup("auth-pass") == true;
            if (passwords.Count > 0 && authPass is null && !authAtStartup)
            {
                findings.Add(Make("S010", decl.Owner.Doc, decl.Monitor.Line, $"Master '{name}': the Redis nodes set requirepass but this Sentinel has no 'sentinel auth-pass {name} ...': every PING gets -NOAUTH and the master looks down."));
            }
            else if (authPass is not null && passwords.Count > 0 && !passwords.Contains(authPass))
            {
                findings.Add(Make("S010", decl.Owner.Doc, decl.Settings["auth-pass"].Line, $"Master '{name}': auth-pass differs from the requirepass of the Redis nodes (values not shown)."));
            }

            // S013: renamed commands that Sentinel needs
            foreach (var node in group)
            {
                foreach (var rename in node.Doc.Directives.Where(d => d.Name == "rename-command" && Array.IndexOf(FailoverCommands, d.Arg(0).ToLowerInvariant()) >= 0))
                {
                    var mirrored = decl.Renames.Any(x => string.Equals(x.Arg(2), rename.Arg(0), StringComparison.OrdinalIgnoreCase) && x.Arg(3) == rename.Arg(1));
                    if (!mirrored)
                    {
                        findings.Add(Make("S013", decl.Owner.Doc, decl.Monitor.Line, $"Master '{name}': {node.Doc.Name}:{rename.Line} renames {rename.Arg(0).ToUpperInvariant()} but this Sentinel has no matching 'sentinel rename-command {name} {rename.Arg(0)} ...'."));
                    }
                }
            }
        }

        // S006: parallel-syncs vs number of replicas, once per master (T008 reports Sentinels that disagree)
        var replicasSeen = Math.Max(replicaCount, decls.Max(d => d.KnownReplicas.Count));
        var withSyncs = decls.FirstOrDefault(d => d.Settings.ContainsKey("parallel-syncs"));
        if (replicasSeen >= 2 && withSyncs is not null && int.TryParse(withSyncs.Settings["parallel-syncs"].Arg(2), out var psv) && psv >= replicasSeen)
        {
            findings.Add(Make("S006", withSyncs.Owner.Doc, withSyncs.Settings["parallel-syncs"].Line, $"Master '{name}': parallel-syncs {psv} with {replicasSeen} replicas resyncs every replica at once after a failover."));
        }
    }

    /// <summary>
    /// T007: Sentinels per host, when every Sentinel's host is known (<c>sentinel announce-ip</c>, else the first
    /// non-loopback IP in <c>bind</c>). Loopback-only deployments (a test rig on one machine) are not judged.
    /// </summary>
    private static void CheckHosts(string name, List<MasterDecl> decls, MasterTopology topology, List<Finding> findings)
    {
        var hosts = decls.Select(d => (Decl: d, Host: SentinelHost(d.Owner))).ToList();
        if (hosts.Any(h => h.Host is null) || decls.Any(d => d.Owner.Doc.Processes > 1) || decls.Count != topology.Sentinels)
        {
            return;
        }

        var masterHost = decls[0].Host;
        foreach (var group in hosts.GroupBy(h => h.Host!, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > topology.ToleratedSentinelFailures))
        {
            var first = group.First().Decl;
            var onMaster = string.Equals(group.Key, masterHost, StringComparison.OrdinalIgnoreCase);
            var left = topology.Sentinels - group.Count();
            var need = Math.Max(topology.Quorum, topology.Majority);
            findings.Add(Make("T007", onMaster ? Severity.Error : Severity.Warning, first.Owner.Doc, first.Monitor.Line,
                $"Master '{name}': host {group.Key}{(onMaster ? " (the master's host)" : string.Empty)} runs {group.Count()} of {topology.Sentinels} Sentinels ({string.Join(", ", group.Select(g => g.Decl.Owner.Doc.Name))}); when it fails {left} remain and a failover needs {need}."));
        }
    }

    private static string? SentinelHost(SentinelModel s)
    {
        if (s.Global("announce-ip") is { Length: > 0 } announced)
        {
            return announced;
        }

        var bind = s.Doc.Last("bind");
        return bind?.Args.Select(a => a.TrimStart('-')).FirstOrDefault(a => Net.IsIp(a) && !Net.IsLoopback(a) && a is not ("0.0.0.0" or "::" or "*"));
    }

    /// <summary>S001, S002 on the monitor line.</summary>
    private static void CheckMonitorLine(MasterDecl decl, List<Finding> findings)
    {
        var doc = decl.Owner.Doc;
        var m = decl.Monitor;
        if (!int.TryParse(decl.PortText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            findings.Add(Make("S002", doc, m.Line, $"Port '{decl.PortText}' is not a number in 0..65535 (\"Invalid port number\")."));
        }

        if (!int.TryParse(decl.QuorumText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var q) || q <= 0)
        {
            findings.Add(Make("S002", doc, m.Line, $"Quorum '{decl.QuorumText}' must be 1 or greater (\"Quorum must be 1 or greater.\")."));
        }

        if (!Net.IsIp(decl.Host))
        {
            var resolve = decl.Owner.Globals.GetValueOrDefault("resolve-hostnames");
            if (resolve is null || !resolve.Arg(1).Equals("yes", StringComparison.OrdinalIgnoreCase))
            {
                findings.Add(Make("S001", doc, m.Line, $"Master '{decl.Name}' is monitored by hostname '{decl.Host}' but 'sentinel resolve-hostnames' is not yes: redis-sentinel refuses to start (\"Can't resolve instance hostname.\")."));
            }
        }
    }

    /// <summary>S002 (non-positive times), S003, S004, S005.</summary>
    private static void CheckSettings(MasterDecl decl, List<Finding> findings)
    {
        var doc = decl.Owner.Doc;
        if (decl.Settings.TryGetValue("down-after-milliseconds", out var da) && long.TryParse(da.Arg(2), out var down))
        {
            if (down <= 0)
            {
                findings.Add(Make("S002", doc, da.Line, $"down-after-milliseconds {down} is rejected (\"negative or zero time parameter.\")."));
            }
            else if (down < 1000 || down > 60000)
            {
                findings.Add(Make("S003", doc, da.Line, down < 1000
                    ? $"down-after-milliseconds {down} ms: a pause shorter than a second marks '{decl.Name}' down."
                    : $"down-after-milliseconds {down} ms: every real master failure is an outage of at least {down / 1000} s before failover starts."));
            }
        }

        if (decl.Settings.TryGetValue("failover-timeout", out var ft) && long.TryParse(ft.Arg(2), out var timeout))
        {
            if (timeout <= 0)
            {
                findings.Add(Make("S002", doc, ft.Line, $"failover-timeout {timeout} is rejected (\"negative or zero time parameter.\")."));
            }
            else if (timeout < 10000)
            {
                findings.Add(Make("S004", doc, ft.Line, $"failover-timeout {timeout} ms is below 10 s: elections and replica reconfiguration time out early."));
            }
        }

        if (decl.Settings.TryGetValue("parallel-syncs", out var ps) && (!int.TryParse(ps.Arg(2), out var syncs) || syncs <= 0))
        {
            findings.Add(Make("S005", doc, ps.Line, $"parallel-syncs '{ps.Arg(2)}': no replica is re-pointed to the new master until failover-timeout expires."));
        }

    }

    /// <summary>T009 shared myid, S007 deny-scripts-reconfig no, S009 read-only config, S011 differing Sentinel passwords, S015 protected mode.</summary>
    private static void CheckSentinelGlobals(List<SentinelModel> sentinels, RedisVersion? version, List<Finding> findings)
    {
        var seen = new Dictionary<string, SentinelModel>(StringComparer.OrdinalIgnoreCase);
        foreach (var s in sentinels)
        {
            if (s.Globals.TryGetValue("myid", out var myid))
            {
                if (myid.Arg(1).Length != 40)
                {
                    findings.Add(Make("S002", s.Doc, myid.Line, $"myid must be 40 characters, found {myid.Arg(1).Length} (\"Malformed Sentinel id in myid option.\")."));
                }

                if (seen.TryGetValue(myid.Arg(1), out var other))
                {
                    findings.Add(Make("T009", s.Doc, myid.Line, $"Same 'sentinel myid' as {other.Doc.Name}."));
                }
                else if (s.Doc.Processes > 1)
                {
                    findings.Add(Make("T009", s.Doc, myid.Line, $"This config with a fixed 'sentinel myid' is used by {s.Doc.Processes} Sentinels ({s.Doc.Name}): they all get the same id."));
                }

                seen.TryAdd(myid.Arg(1), s);
            }

            if (s.Doc.ConfigMap is { Mounted: true, InitContainers: false, CopiedAtStartup: false } origin)
            {
                findings.Add(Make("S009", s.Doc, origin.KeyLine, $"{s.Doc.Name}: the Sentinels mount ConfigMap '{origin.Name}' and have no init container to copy it: a ConfigMap volume is read-only, and Sentinel exits when it cannot rewrite its config."));
            }

            // S015: protected mode on a Sentinel. redis-sentinel defaults it to no; set to yes without a password, peers
            // and clients from other hosts get "-DENIED Redis is running in protected mode" (since 7.0 whatever bind says)
            var sentinelNode = new RedisModel(s.Doc);
            if (s.Doc.Last("protected-mode") is { } pm && pm.Arg(0).Equals("yes", StringComparison.OrdinalIgnoreCase)
                && !sentinelNode.HasPassword && !sentinelNode.BindsLoopbackOnly
                && (version?.Label != "6.2" || s.Doc.Last("bind") is null)
                && (sentinels.Sum(x => x.Doc.Processes) > 1 || s.Masters.Values.Any(m => m.AtStartup || !Net.IsLoopback(m.Host))))
            {
                findings.Add(Make("S015", s.Doc, pm.Line, $"{s.Doc.Name}: protected-mode yes, no requirepass, bound to {string.Join(' ', sentinelNode.Bind)}: the other Sentinels (and clients) connect from other addresses and are refused (\"DENIED Redis is running in protected mode\"), so no failover can be agreed."));
            }

            if (s.Globals.TryGetValue("deny-scripts-reconfig", out var deny) && deny.Arg(1).Equals("no", StringComparison.OrdinalIgnoreCase))
            {
                findings.Add(Make("S007", s.Doc, deny.Line, "'sentinel deny-scripts-reconfig no' lets clients set scripts that Sentinel executes."));
            }
        }

        if (sentinels.Count > 1)
        {
            var first = sentinels[0];
            foreach (var s in sentinels.Skip(1))
            {
                foreach (var (what, a, b, at) in new[]
                {
                    ("requirepass", first.Doc.Last("requirepass")?.Arg(0), s.Doc.Last("requirepass")?.Arg(0), s.Doc.Last("requirepass")?.Line),
                    ("sentinel-user", first.Global("sentinel-user"), s.Global("sentinel-user"), s.Globals.GetValueOrDefault("sentinel-user")?.Line),
                    ("sentinel-pass", first.Global("sentinel-pass"), s.Global("sentinel-pass"), s.Globals.GetValueOrDefault("sentinel-pass")?.Line),
                })
                {
                    if (!string.Equals(a, b, StringComparison.Ordinal))
                    {
                        findings.Add(Make("S011", s.Doc, at ?? 0, $"{what} differs from {first.Doc.Name} (values not shown)."));
                    }
                }
            }
        }
    }

    /// <summary>Assigns redis.conf nodes to the master they serve: all of them when one master is monitored, else by replicaof address.</summary>
    private static Dictionary<string, List<RedisModel>> GroupNodes(List<SentinelModel> sentinels, List<RedisModel> nodes)
    {
        var data = nodes.Where(n => !n.ClusterEnabled).ToList();
        var decls = sentinels.SelectMany(s => s.Masters.Values).ToList();
        var names = decls.Select(d => d.Name).Distinct(StringComparer.Ordinal).ToList();
        var groups = names.ToDictionary(n => n, _ => new List<RedisModel>(), StringComparer.Ordinal);
        if (names.Count == 1)
        {
            groups[names[0]].AddRange(data);
        }
        else
        {
            foreach (var node in data)
            {
                var target = node.ReplicaOfAddress is { } addr ? decls.FirstOrDefault(d => string.Equals(d.Address, addr, StringComparison.OrdinalIgnoreCase)) : null;
                if (target is not null)
                {
                    groups[target.Name].Add(node);
                }
            }
        }

        return groups;
    }
}
