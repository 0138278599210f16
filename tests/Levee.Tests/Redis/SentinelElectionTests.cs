using System.Net;
using Levee.Redis;

namespace Levee.Tests.Redis;

/// <summary>
/// The Sentinel election on what the Sentinels answered (no I/O); the real topologies run in SentinelFailoverTests.
/// Addresses are written a, b, c (10.0.0.1-3:6379); answers "a@5" = a Sentinel names a with config epoch 5.
/// </summary>
public sealed class SentinelElectionTests
{
    private static IPEndPoint? Node(string? name) => string.IsNullOrEmpty(name)
        ? null
        : new IPEndPoint(IPAddress.Parse("10.0.0." + (name[0] - 'a' + 1)), 6379);

    private static List<SentinelAnswer> Answers(string answers) =>
        [.. answers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(a => a.Split('@'))
            .Select(a => new SentinelAnswer(Node(a[0])!, long.Parse(a[1], System.Globalization.CultureInfo.InvariantCulture)))];

    private static string Names(IEnumerable<EndPoint> endpoints) =>
        string.Join(",", endpoints.Select(e => (char)('a' + ((IPEndPoint)e).Address.GetAddressBytes()[3] - 1)));

    [Theory]
    // hint, current, answers => verdict, addresses to try in order
    [InlineData(null, null, "", "NoMaster", "")] // every Sentinel down at start
    [InlineData(null, "a", "", "NoMaster", "")] // every Sentinel partitioned away: keep the master
    [InlineData(null, null, "a@0,a@0,a@0", "Switch", "a")] // first connection
    [InlineData(null, "a", "a@0,a@0,a@0", "VerifyCurrent", "")] // quorum names the current master: verify it, nothing else to try
    [InlineData(null, "a", "b@1,b@1,b@1", "Switch", "b")] // a failover every Sentinel agrees on
    [InlineData(null, "a", "b@1,b@1", "Switch", "b")] // a partitioned Sentinel does not answer: the others decide
    [InlineData(null, "a", "a@0,b@1,b@1", "Switch", "b")] // a stale Sentinel (missed the failover) still names a: loses on epoch
    [InlineData(null, "b", "a@0,b@1,b@1", "VerifyCurrent", "")] // ... and is never tried while b fails
    [InlineData(null, "a", "c@0,b@1,b@1", "Switch", "b")] // a stale Sentinel's other address is never tried either
    [InlineData(null, "a", "a@0,a@0,b@1", "Switch", "b")] // a minority with a newer epoch beats an older majority
    [InlineData(null, "a", "a@1,b@1,b@1", "Switch", "b")] // same epoch, disagreeing Sentinels: the most votes rank first; the current a is never switched to
    [InlineData(null, "a", "b@1,a@1,a@1", "VerifyCurrent", "b")] // mid-failover: the leader names b first; a tried only if it fails
    [InlineData(null, "a", "b@1,c@1,a@1", "Switch", "b,c")] // three-way tie: order of the answers, current left out
    [InlineData("b", "a", "a@0,a@0,a@0", "Switch", "b")] // +switch-master before any Sentinel's survey shows it: the hint, not the older a
    [InlineData("b", "a", "c@2,c@2", "Switch", "b,c")] // the hint first, then the top answer
    [InlineData("b", "a", "b@1,b@1", "Switch", "b")] // hint and survey agree: tried once
    [InlineData("a", "a", "a@1,a@1", "VerifyCurrent", "")] // a hint for the current master changes nothing
    [InlineData("b", null, "", "Switch", "b")] // a hint while no Sentinel answers the survey
    public void Decide(string? hint, string? current, string answers, string verdict, string toTry)
    {
        var decision = SentinelElection.Decide(Node(hint), Node(current), Answers(answers));
        Assert.Equal(verdict, decision.Verdict.ToString());
        Assert.Equal(toTry, Names(decision.ToTry));
    }

    [Theory]
    [InlineData("a@5,b@3,b@3,b@3", "a:5:1,b:3:3")] // epoch before votes
    [InlineData("b@3,a@3,a@3", "a:3:2,b:3:1")] // same epoch: votes
    [InlineData("a@2,a@4,b@3", "a:4:2,b:3:1")] // an address takes the highest epoch it was named with
    [InlineData("c@1,b@1,a@1", "c:1:1,b:1:1,a:1:1")] // full tie: the order the answers came in
    [InlineData("", "")]
    public void Rank(string answers, string expected)
    {
        var ranked = SentinelElection.Rank(Answers(answers));
        Assert.Equal(expected, string.Join(",", ranked.Select(c => $"{Names([c.Address])}:{c.Epoch}:{c.Votes}")));
    }

    [Theory]
    [InlineData("master", true)]
    [InlineData("slave", false)] // a node the Sentinels name but that answers as a replica (not promoted yet, or demoted)
    [InlineData("replica", false)]
    [InlineData("sentinel", false)]
    [InlineData("MASTER", false)] // ROLE answers in lower case; anything else is not that answer
    [InlineData("", false)]
    [InlineData(null, false)] // no answer
    public void IsMaster(string? role, bool expected) => Assert.Equal(expected, SentinelElection.IsMaster(role));
}
