using Levee.Doctor.Live;

namespace Levee.Doctor.Tests.Live;

/// <summary>
/// Every live rule on synthetic replies: a healthy snapshot (no finding) and the same snapshot with one
/// thing broken. The replies have the shape Redis 7.0 sends (field names of SENTINEL MASTER/REPLICAS/SENTINELS,
/// INFO, CLUSTER NODES/INFO); the real-process tests next to this file check that shape end to end.
/// </summary>
public class LiveRuleTests
{
    private static readonly LiveCheckOptions Options = new();

    private static Dictionary<string, string> D(params (string K, string V)[] pairs) => pairs.ToDictionary(p => p.K, p => p.V, StringComparer.Ordinal);

    internal static SentinelSnapshot HealthySentinel()
    {
        string[] sentinels = ["10.0.0.11:26379", "10.0.0.12:26379", "10.0.0.13:26379"];
        var s = new SentinelSnapshot { Service = "mymaster", Endpoints = [.. sentinels], MasterAddress = "10.0.0.1:6379" };
        foreach (var ep in sentinels)
        {
            s.Views.Add(new SentinelView(ep)
            {
                Master = D(("name", "mymaster"), ("ip", "10.0.0.1"), ("port", "6379"), ("flags", "master"), ("quorum", "2"), ("num-other-sentinels", "2"), ("num-slaves", "2"), ("config-epoch", "0")),
                MasterAddress = "10.0.0.1:6379",
                Replicas = [Replica("10.0.0.2"), Replica("10.0.0.3")],
                Peers = [.. sentinels.Where(p => p != ep).Select(p => (IReadOnlyDictionary<string, string>)D(("ip", p.Split(':')[0]), ("port", "26379"), ("flags", "sentinel")))],
            });
        }

        s.Master = new NodeReply { Replication = D(("role", "master"), ("master_repl_offset", "5000")), Persistence = D(("rdb_last_bgsave_status", "ok"), ("aof_last_write_status", "ok")), Config = Config() };
        s.Replicas["10.0.0.2:6379"] = new NodeReply { Replication = D(("role", "slave"), ("master_link_status", "up")), Config = Config() };
        s.Replicas["10.0.0.3:6379"] = new NodeReply { Replication = D(("role", "slave"), ("master_link_status", "up")), Config = Config() };
        return s;
    }

    private static Dictionary<string, string> Config() =>
        D(("min-replicas-to-write", "1"), ("save", "3600 1"), ("appendonly", "yes"), ("replica-read-only", "yes"), ("repl-backlog-size", "67108864"), ("requirepass", "s3cret"), ("masterauth", "s3cret"));

    private static Dictionary<string, string> Replica(string ip) =>
        D(("ip", ip), ("port", "6379"), ("flags", "slave"), ("master-link-status", "ok"), ("master-host", "10.0.0.1"), ("master-port", "6379"), ("slave-priority", "100"), ("slave-repl-offset", "5000"));

    private static void EachView(SentinelSnapshot s, Action<SentinelView> change)
    {
        foreach (var v in s.Views)
        {
            change(v);
        }
    }

    internal static readonly Dictionary<string, Action<SentinelSnapshot>> SentinelCases = new(StringComparer.Ordinal)
    {
        ["L000"] = s => s.Views[2].Error = "no connection within the timeout",
        ["L001"] = s => s.Views[0].CkQuorumError = "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master",
        ["L002"] = s => s.Views[0].Master!["num-other-sentinels"] = "4",
        ["L003"] = s => s.Views[1].MasterAddress = "10.0.0.2:6379",
        ["L004"] = s => s.Master = new NodeReply { Replication = D(("role", "slave")), Persistence = D(), Config = s.Master!.Config },
        ["L005"] = s => s.Views[0].Master!["flags"] = "s_down,master",
        ["L006"] = s => s.Views[0].Master!["flags"] = "master,failover_in_progress",
        ["L007"] = s => s.Views[1].Tilt = true,
        ["L008"] = s => EachView(s, v => v.Replicas = []),
        ["L009"] = s => EachView(s, v => v.Replicas = [.. v.Replicas.Select(r => (IReadOnlyDictionary<string, string>)new Dictionary<string, string>(r) { ["slave-priority"] = "0" })]),
        ["L010"] = s => s.Replicas["10.0.0.2:6379"] = new NodeReply { Replication = D(("role", "slave"), ("master_link_status", "down"), ("master_link_down_since_seconds", "42")) },
        ["L011"] = s => s.Master!.Replication!["master_repl_offset"] = "10000000", // replicas at 5000: ~10 MB behind
        ["L012"] = s => EachView(s, v => v.Replicas[0] = new Dictionary<string, string>(v.Replicas[0]) { ["master-host"] = "10.0.0.9" }),
        ["L014"] = s => s.Views[0].Peers[0] = new Dictionary<string, string>(s.Views[0].Peers[0]) { ["flags"] = "s_down,sentinel" },
        ["L016"] = s => s.Master = new NodeReply { Replication = D(("role", "master"), ("master_repl_offset", "5000")), Persistence = D(("rdb_last_bgsave_status", "err")), Config = s.Master!.Config },
        ["L017"] = s => s.Views[2].Error = "no connection within the timeout",
        ["L018"] = s => s.Replicas["10.0.0.3:6379"] = new NodeReply { Error = "connection failed (UnableToConnect)" },
        ["R003"] = s => s.Master!.Config!["min-replicas-to-write"] = "0",
        ["R004"] = s => { s.Master!.Config!["save"] = string.Empty; s.Master.Config["appendonly"] = "no"; },
        ["R005"] = s => s.Replicas["10.0.0.3:6379"].Config!["masterauth"] = string.Empty,
        ["R007"] = s => s.Replicas["10.0.0.3:6379"].Config!["replica-read-only"] = "no",
        ["R009"] = s => s.Master!.Config!["repl-backlog-size"] = "1048576",
        ["T001"] = s => EachView(s, v => v.Master!["quorum"] = "4"),
        ["T002"] = s => EachView(s, v => v.Master!["quorum"] = "3"),
        ["T003"] = s => EachView(s, v => v.Master!["quorum"] = "3"),
        ["T004"] = s => EachView(s, v => v.Master!["quorum"] = "1"),
        ["T005"] = s => s.Endpoints.Add("10.0.0.14:26379"),
        ["T006"] = s =>
        {
            s.Endpoints.RemoveAt(2);
            s.Views.RemoveAt(2);
            EachView(s, v => { v.Peers.RemoveAll(p => p["ip"] == "10.0.0.13"); v.Master!["num-other-sentinels"] = "1"; });
        },
        ["T007"] = s =>
        {
            s.Endpoints[1] = "10.0.0.1:26380"; // two Sentinels on the master's host 10.0.0.1
            s.Endpoints[2] = "10.0.0.1:26381";
            EachView(s, v => v.Peers.Clear());
        },
        ["T008"] = s => s.Views[2].Master!["quorum"] = "3",
    };

    public static TheoryData<string> SentinelRuleIds() => new(SentinelCases.Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void HealthySentinelSnapshot_HasNoFinding()
    {
        var report = SentinelLiveChecker.Evaluate(HealthySentinel(), Options);
        Assert.True(report.Findings.Count == 0, Lint.RuleTests.Describe(report));
        Assert.Equal((3, 3, 2, 2, 1), (report.Masters[0].Sentinels, report.Masters[0].Voters, report.Masters[0].Quorum, report.Masters[0].Majority, report.Masters[0].ToleratedSentinelFailures));
    }

    [Theory]
    [MemberData(nameof(SentinelRuleIds))]
    public void SentinelRule_TriggersOnItsFault(string ruleId)
    {
        var snapshot = HealthySentinel();
        SentinelCases[ruleId](snapshot);
        var report = SentinelLiveChecker.Evaluate(snapshot, Options);
        Assert.True(report.Findings.Any(f => f.RuleId == ruleId), $"{ruleId} not reported: {Lint.RuleTests.Describe(report)}");
    }

    [Fact]
    public void NoSentinelAnswers_IsUnusable()
    {
        var snapshot = HealthySentinel();
        EachView(snapshot, v => v.Error = "no connection within the timeout");
        var report = SentinelLiveChecker.Evaluate(snapshot, Options);
        Assert.True(report.UnusableInput);
        Assert.Equal(3, report.Findings.Count(f => f.RuleId == "L000"));
    }

    // ---- Cluster ----

    internal static ClusterSnapshot HealthyCluster()
    {
        var nodes = """
            m1 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460
            m2 10.0.0.2:6379@16379 master - 0 0 2 connected 5461-10922
            m3 10.0.0.3:6379@16379 master - 0 0 3 connected 10923-16383
            r1 10.0.0.4:6379@16379 slave m1 0 0 1 connected
            r2 10.0.0.5:6379@16379 slave m2 0 0 2 connected
            r3 10.0.0.6:6379@16379 slave m3 0 0 3 connected
            """;
        var s = new ClusterSnapshot { Seed = "10.0.0.1:6379", Nodes = ClusterNode.ParseAll(nodes) };
        foreach (var n in s.Nodes)
        {
            s.Replies[n.Endpoint] = new ClusterNodeReply
            {
                Info = D(("cluster_state", "ok"), ("cluster_slots_assigned", "16384"), ("cluster_slots_ok", "16384"), ("cluster_slots_pfail", "0"), ("cluster_slots_fail", "0"), ("cluster_size", "3")),
                View = ClusterNode.ParseAll(nodes),
                Config = D(("cluster-node-timeout", "15000"), ("cluster-require-full-coverage", "yes"), ("cluster-allow-reads-when-down", "no")),
            };
        }

        foreach (var r in new[] { "10.0.0.4:6379", "10.0.0.5:6379", "10.0.0.6:6379" })
        {
            s.Shards.Add(new ShardReplica(r, "online", 1000, 1000));
        }

        return s;
    }

    private static void Relist(ClusterSnapshot s, string from, string to)
    {
        var text = string.Join('\n', s.Nodes.Select(n => $"{n.Id} {n.Endpoint}@16379 {string.Join(',', n.Flags)} {n.MasterId ?? "-"} 0 0 1 {n.LinkState} {string.Join(' ', n.Slots)}"));
        s.Nodes = ClusterNode.ParseAll(text.Replace(from, to, StringComparison.Ordinal));
    }

    private static void Info(ClusterSnapshot s, string key, string value)
    {
        foreach (var r in s.Replies.Values)
        {
            r.Info![key] = value;
        }
    }

    internal static readonly Dictionary<string, Action<ClusterSnapshot>> ClusterCases = new(StringComparer.Ordinal)
    {
        ["K001"] = s => Info(s, "cluster_state", "fail"),
        ["K002"] = s => Info(s, "cluster_slots_assigned", "10923"),
        ["K003"] = s => Info(s, "cluster_slots_fail", "5461"),
        ["K004"] = s => Info(s, "cluster_slots_pfail", "5461"),
        ["K005"] = s => Relist(s, "m3 10.0.0.3:6379@16379 master - 0 0 1 connected 10923-16383", "m3 10.0.0.3:6379@16379 master,fail - 0 0 1 connected 10923-16383"),
        ["K006"] = s => Relist(s, "r1 10.0.0.4:6379@16379 slave m1", "r1 10.0.0.4:6379@16379 slave,fail m1"),
        ["K007"] = s => Relist(s, "r1 10.0.0.4:", "r1 10.0.0.1:"),
        ["K008"] = s => s.Replies["10.0.0.2:6379"] = new ClusterNodeReply { Error = "no answer within the timeout" },
        ["K009"] = s => Relist(s, "r3 10.0.0.6:6379@16379 slave m3", "r3 10.0.0.6:6379@16379 slave,handshake m3"),
        ["K010"] = s => s.Replies["10.0.0.5:6379"] = new ClusterNodeReply
        {
            Info = s.Replies["10.0.0.5:6379"].Info,
            Config = s.Replies["10.0.0.5:6379"].Config,
            View = ClusterNode.ParseAll("m1 10.0.0.1:6379@16379 master - 0 0 1 connected 0-5461\nm2 10.0.0.2:6379@16379 master - 0 0 2 connected 5462-10922\nm3 10.0.0.3:6379@16379 master - 0 0 3 connected 10923-16383"),
        },
        ["K011"] = s => Relist(s, "connected 0-5460", "connected 0-5460 [5461->-m2]"),
        ["K013"] = s => s.Replies["10.0.0.3:6379"].Config!["cluster-node-timeout"] = "20000",
        ["K014"] = s => s.Replies["10.0.0.3:6379"].Config!["cluster-node-timeout"] = "2000",
        ["K016"] = s => s.Replies["10.0.0.3:6379"].Config!["cluster-require-full-coverage"] = "no",
        ["K018"] = s => s.Shards[0] = s.Shards[0] with { Offset = 1, PrimaryOffset = 10_000_000 },
        ["K019"] = s => Relist(s, "r2 10.0.0.5:6379@16379 slave m2", "r2 10.0.0.5:6379@16379 slave,nofailover m2"),
    };

    public static TheoryData<string> ClusterRuleIds() => new(ClusterCases.Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void HealthyClusterSnapshot_HasNoFinding()
    {
        var report = ClusterLiveChecker.Evaluate(HealthyCluster(), Options);
        Assert.True(report.Findings.Count == 0, Lint.RuleTests.Describe(report));
    }

    [Theory]
    [MemberData(nameof(ClusterRuleIds))]
    public void ClusterRule_TriggersOnItsFault(string ruleId)
    {
        var snapshot = HealthyCluster();
        ClusterCases[ruleId](snapshot);
        var report = ClusterLiveChecker.Evaluate(snapshot, Options);
        Assert.True(report.Findings.Any(f => f.RuleId == ruleId), $"{ruleId} not reported: {Lint.RuleTests.Describe(report)}");
    }

    [Fact]
    public void EveryLiveRuleHasACase()
    {
        var live = Rules.All.Select(r => r.Id).Where(id => id[0] is 'L' or 'K').Except(["K012", "K015", "K017"]);
        Assert.Empty(live.Except(SentinelCases.Keys).Except(ClusterCases.Keys));
    }
}
