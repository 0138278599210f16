namespace Levee.Doctor;

/// <summary>Checks a live Sentinel deployment.</summary>
public static class SentinelLiveChecker
{
    /// <summary>Asks every Sentinel and the nodes they report; see docs/doctor.md for the rules (L001–L016, T001–T006).</summary>
    /// <param name="sentinels">Sentinel endpoints (HOST:PORT).</param>
    /// <param name="service">Master name.</param>
    /// <param name="options">Connection options.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <returns>The report.</returns>
    public static Task<DoctorReport> CheckAsync(IReadOnlyList<string> sentinels, string service, LiveCheckOptions options, CancellationToken cancellationToken = default)
        => throw new NotImplementedException();
}
