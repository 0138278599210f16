namespace Levee.Doctor;

/// <summary>One of the Sentinel-count rules (T001–T006) that holds for a master: what is wrong, and what to change.</summary>
/// <param name="RuleId">T001 … T006.</param>
/// <param name="Message">What is wrong, with the values involved.</param>
/// <param name="Fix">What to change, or <c>null</c> for the rule's own fix.</param>
public sealed record SentinelCountFinding(string RuleId, string Message, string? Fix);

/// <summary>
/// The Sentinel-count rules T001–T006, computed once from a <see cref="MasterTopology"/> for both the static lint
/// (<c>Lint/DoctorLinter.Sentinel.cs</c>) and the live check (<c>Live/SentinelLiveChecker.cs</c>): the same
/// conditions and wording; only where a finding points and how the quorum is set differ between them.
/// </summary>
public static class SentinelCountRules
{
    /// <summary>
    /// The T001–T006 findings for <paramref name="topology"/>; none when its Sentinel count is only assumed (P007).
    /// </summary>
    /// <param name="topology">The master's failover arithmetic.</param>
    /// <param name="setQuorum">
    /// How to set the quorum to a value where the finding is read: a <c>sentinel monitor</c> line for a config
    /// file, <c>SENTINEL SET</c> for a live deployment.
    /// </param>
    public static IReadOnlyList<SentinelCountFinding> Evaluate(MasterTopology topology, Func<int, string> setQuorum)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(setQuorum);
        var findings = new List<SentinelCountFinding>();
        if (topology.SentinelsAssumed)
        {
            return findings;
        }

        var name = topology.Name;
        var real = topology.Sentinels;
        var quorum = topology.Quorum;
        var majority = topology.Majority;
        var majorityOfReal = real / 2 + 1;
        if (quorum > real)
        {
            findings.Add(new("T001", $"Master '{name}': quorum {quorum} is larger than the {real} Sentinels: it can never be marked objectively down, so it is never failed over.",
                real >= 3
                    ? $"Set the quorum to {majorityOfReal}, the majority of {real} Sentinels ({setQuorum(majorityOfReal)})."
                    : $"Run at least 3 Sentinels on independent hosts (quorum 2 for 3); {real} Sentinel{(real == 1 ? " cannot" : "s cannot")} reach quorum {quorum}."));
        }
        else if (topology.ToleratedSentinelFailures < 1)
        {
            var arithmetic = $"{real} Sentinels, quorum {quorum}, majority {majority}" + (topology.Voters > real ? $" of {topology.Voters} voters" : string.Empty);
            findings.Add(new("T002",
                $"Master '{name}': {arithmetic}: a failover needs {Math.Max(quorum, majority)} Sentinels, so it tolerates {topology.ToleratedSentinelFailures} Sentinel failures; losing any one Sentinel blocks failover (SENTINEL CKQUORUM does not report this while all are up).",
                real >= 3 ? $"Set the quorum to {majorityOfReal} ({setQuorum(majorityOfReal)})" + (real % 2 == 0 ? " and use an odd number of Sentinels." : ".") : null));
        }

        if (quorum > majority && quorum <= real)
        {
            findings.Add(new("T003", $"Master '{name}': quorum {quorum} is above the majority {majority} of {topology.Voters} Sentinels; the quorum, not the majority, limits failover.",
                $"Set the quorum to {majority} ({setQuorum(majority)})."));
        }

        if (quorum == 1 && real > 1)
        {
            findings.Add(new("T004", $"Master '{name}': quorum 1 with {real} Sentinels: one Sentinel's view is enough to declare the master down.",
                $"Set the quorum to {majorityOfReal} ({setQuorum(majorityOfReal)})."));
        }

        if (real > 0 && real % 2 == 0)
        {
            findings.Add(new("T005", $"Master '{name}': {real} Sentinels (even) tolerate no more failures than {real - 1}.", null));
        }

        if (real < 3)
        {
            findings.Add(new("T006", $"Master '{name}' is monitored by {real} Sentinel{(real == 1 ? string.Empty : "s")}; at least 3 are needed to survive the loss of one.", null));
        }

        return findings;
    }
}
