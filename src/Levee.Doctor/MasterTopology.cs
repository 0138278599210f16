namespace Levee.Doctor;

/// <summary>The failover arithmetic for one monitored master (a Sentinel "service").</summary>
/// <param name="Name">The master name used in <c>sentinel monitor</c>.</param>
/// <param name="Sentinels">How many Sentinels really monitor it (files, <c>--sentinels</c>, or live answers).</param>
/// <param name="Voters">How many Sentinels the Sentinels believe exist (<c>known-sentinel</c> lines + 1, or <c>num-other-sentinels</c> + 1); the majority is taken over this, so stale entries raise it.</param>
/// <param name="Quorum">The quorum: Sentinels that must agree the master is down (ODOWN).</param>
/// <param name="Majority">⌊Voters/2⌋+1: votes needed to authorize a failover (<c>sentinelGetLeader</c> in sentinel.c).</param>
/// <param name="ToleratedSentinelFailures">How many Sentinels can be lost while a failover can still happen: max(0, Sentinels − max(Quorum, Majority)).</param>
/// <param name="MasterAddress">The <c>host:port</c> the Sentinels monitor (first seen), if known.</param>
public sealed record MasterTopology(
    string Name,
    int Sentinels,
    int Voters,
    int Quorum,
    int Majority,
    int ToleratedSentinelFailures,
    string? MasterAddress)
{
    /// <summary>
    /// <c>true</c> when the Sentinel count could not be seen (one shared sentinel.conf, no <c>known-sentinel</c> lines, no
    /// <c>--sentinels</c>): <see cref="Sentinels"/> is then an assumption (the count for which the quorum is the majority),
    /// and no rule that depends on it is reported.
    /// </summary>
    public bool SentinelsAssumed { get; init; }

    /// <summary>Sentinels that can be lost before the master can no longer be marked objectively down: max(0, Sentinels − Quorum).</summary>
    public int ToleratedFailuresForDetection => Math.Max(0, Sentinels - Quorum);

    /// <summary>Sentinels that can be lost before a failover can no longer be authorized: max(0, Sentinels − Majority).</summary>
    public int ToleratedFailuresForAuthorization => Math.Max(0, Sentinels - Majority);

    /// <summary><c>true</c> when the quorum exceeds the number of Sentinels: no failover can ever happen.</summary>
    public bool FailoverImpossible => Quorum > Sentinels || Majority > Sentinels;

    /// <summary>Computes the arithmetic for <paramref name="sentinels"/> real Sentinels, <paramref name="voters"/> believed Sentinels and <paramref name="quorum"/>.</summary>
    /// <param name="name">Master name.</param>
    /// <param name="sentinels">Real Sentinel count (≥ 0).</param>
    /// <param name="voters">Believed Sentinel count; values below <paramref name="sentinels"/> are raised to it.</param>
    /// <param name="quorum">Configured quorum.</param>
    /// <param name="masterAddress">Monitored address, if known.</param>
    /// <returns>The topology record.</returns>
    public static MasterTopology Compute(string name, int sentinels, int voters, int quorum, string? masterAddress = null)
    {
        voters = Math.Max(voters, sentinels);
        var majority = voters / 2 + 1;
        var tolerated = Math.Max(0, sentinels - Math.Max(quorum, majority));
        return new MasterTopology(name, sentinels, voters, quorum, majority, tolerated, masterAddress);
    }
}
