namespace Levee.Drill;

/// <summary>
/// A live update while a drill runs: once per second per client, and for notable steps
/// (<see cref="Message"/> set: start-up, faults, repairs).
/// </summary>
/// <param name="Client">The client being measured.</param>
/// <param name="Phase">starting, baseline, fault, recovery or done.</param>
/// <param name="Second">Seconds since the load started.</param>
/// <param name="TotalSeconds">Length of the run's load.</param>
/// <param name="RequestsPerSec">Requests scheduled in the last second.</param>
/// <param name="ErrorsPerSec">Errors among them so far.</param>
/// <param name="P95Ms">p95 latency of the last second's completed requests.</param>
/// <param name="DbQueriesPerSec">Database queries in the last second (PostgreSQL's count).</param>
/// <param name="Message">A notable step, or null.</param>
/// <param name="InFlight">Requests in flight over all instances at the end of the second.</param>
public sealed record DrillProgress(
    string Client,
    string Phase,
    int Second,
    int TotalSeconds,
    long RequestsPerSec,
    long ErrorsPerSec,
    double P95Ms,
    long DbQueriesPerSec,
    string? Message,
    int InFlight = 0);
