namespace Levee.Doctor;

/// <summary>Checks a live Redis Cluster.</summary>
public static class ClusterLiveChecker
{
    /// <summary>Asks the seed node and every node it knows; see docs/doctor.md for the rules (K001–K019).</summary>
    /// <param name="seed">One cluster node HOST:PORT.</param>
    /// <param name="options">Connection options.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <returns>The report.</returns>
    public static Task<DoctorReport> CheckAsync(string seed, LiveCheckOptions options, CancellationToken cancellationToken = default)
        => throw new NotImplementedException();
}
