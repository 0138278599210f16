using System.Net;

namespace Levee.Redis;

/// <summary>What one Sentinel answered: the master it names (<c>GET-MASTER-ADDR-BY-NAME</c>) and its config epoch (<c>SENTINEL MASTER</c>).</summary>
internal readonly record struct SentinelAnswer(EndPoint Master, long Epoch);

/// <summary>A distinct address the Sentinels named: the highest epoch it was named with, and by how many Sentinels.</summary>
internal readonly record struct SentinelCandidate(EndPoint Address, long Epoch, int Votes);

/// <summary>What <see cref="SentinelWatch"/> does after a survey of the Sentinels.</summary>
internal enum SentinelVerdict
{
    /// <summary>No Sentinel named a master and there is no hint: keep what is there (settled only when there is a master).</summary>
    NoMaster,

    /// <summary>
    /// The Sentinels' top answer is the current master: keep it while it works (connected, ROLE "master"); when it does not,
    /// try <see cref="SentinelDecision.ToTry"/> (when empty: nothing to switch to, keep it).
    /// </summary>
    VerifyCurrent,

    /// <summary>Try <see cref="SentinelDecision.ToTry"/> in order; the first whose ROLE is "master" becomes the master.</summary>
    Switch,
}

/// <summary>The election's outcome: what to do and which addresses to try, in order.</summary>
internal sealed record SentinelDecision(SentinelVerdict Verdict, IReadOnlyList<EndPoint> ToTry, IReadOnlyList<SentinelCandidate> Ranked);

/// <summary>
/// Decides, from what the Sentinels answered, which node should be the master and whether to switch to it. No I/O: the
/// Sentinels name candidates, <c>ROLE</c> on the node confirms (<see cref="IsMaster"/>), and <see cref="SentinelWatch"/>
/// asks both. The rules:
/// <list type="bullet">
/// <item>The answers are ranked by config epoch, then by how many Sentinels named the address, so a stale minority
/// Sentinel (a partitioned one that missed the latest failover) cannot win.</item>
/// <item>A <c>+switch-master</c> hint is tried first (unless it is the current master).</item>
/// <item>Otherwise the top answer is tried when it is not the current master, followed by every other address named with
/// the same epoch.</item>
/// <item>When the top answer is the current master, it is verified; only when it is not working is every other address
/// named with the same epoch tried: during a failover the leader names the promoted replica before the others and before
/// its epoch shows in every answer.</item>
/// <item>An address named with an older epoch than the top answer is never tried: its Sentinel has not seen the latest
/// failover, and the node may be a demoted master still answering ROLE "master" (split brain).</item>
/// </list>
/// </summary>
internal static class SentinelElection
{
    /// <summary>Decides what to do given the <paramref name="hint"/> from <c>+switch-master</c> (or null), the current master (or null) and the answers.</summary>
    public static SentinelDecision Decide(EndPoint? hint, EndPoint? current, IReadOnlyList<SentinelAnswer> answers)
    {
        var ranked = Rank(answers);
        var toTry = new List<EndPoint>();
        if (hint is not null && !hint.Equals(current))
        {
            toTry.Add(hint);
        }

        if (ranked.Count == 0 && toTry.Count == 0)
        {
            return new SentinelDecision(SentinelVerdict.NoMaster, toTry, ranked);
        }

        var top = ranked.Count > 0 ? ranked[0].Address : null;
        var topEpoch = ranked.Count > 0 ? ranked[0].Epoch : 0;
        var verify = current is not null && current.Equals(top) && toTry.Count == 0;
        foreach (var candidate in ranked)
        {
            if (candidate.Epoch >= topEpoch && !candidate.Address.Equals(current) && !toTry.Contains(candidate.Address))
            {
                toTry.Add(candidate.Address);
            }
        }

        return new SentinelDecision(verify ? SentinelVerdict.VerifyCurrent : SentinelVerdict.Switch, toTry, ranked);
    }

    /// <summary>Distinct addresses, highest epoch first, then named by the most Sentinels; ties keep the order of the answers.</summary>
    public static List<SentinelCandidate> Rank(IReadOnlyList<SentinelAnswer> answers)
    {
        var ranked = new List<SentinelCandidate>();
        foreach (var answer in answers)
        {
            var i = ranked.FindIndex(c => c.Address.Equals(answer.Master));
            if (i < 0)
            {
                ranked.Add(new SentinelCandidate(answer.Master, answer.Epoch, 1));
            }
            else
            {
                ranked[i] = ranked[i] with { Epoch = Math.Max(ranked[i].Epoch, answer.Epoch), Votes = ranked[i].Votes + 1 };
            }
        }

        // a stable sort (OrderBy), as the survey's LINQ ranking was: equal candidates keep the order they were first named in
        return [.. ranked.OrderByDescending(c => c.Epoch).ThenByDescending(c => c.Votes)];
    }

    /// <summary>Whether a node's <c>ROLE</c> (first field) makes it a master to use: only "master"; a replica ("slave"), a Sentinel or no answer is not.</summary>
    public static bool IsMaster(string? role) => string.Equals(role, "master", StringComparison.Ordinal);
}
