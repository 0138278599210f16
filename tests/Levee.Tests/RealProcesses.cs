namespace Levee.Tests;

/// <summary>
/// The tests that start real redis-server, redis-sentinel and PostgreSQL processes run one class at a time and alone:
/// on a 2-core machine, several deployments starting at once (initdb, 6 Cluster nodes, Sentinels) stalled the process
/// for seconds, and the tests that measure behaviour against a time budget (the adaptive gate, the fake-clock engine
/// tests waiting for a background refresh) then failed for the machine's sake, not Levee's. The engine tests with fakes
/// still run in parallel with each other.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealProcesses
{
    public const string Name = "real processes";
}
