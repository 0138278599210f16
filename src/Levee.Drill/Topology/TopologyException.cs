namespace Levee.Drill.Topology;

/// <summary>
/// A real process (redis-server, redis-sentinel, PostgreSQL) could not be started, did not become
/// ready, or a topology did not reach the expected state in time. The message names the ports and
/// log files involved and, for a missing binary, the command that installs it.
/// </summary>
public sealed class TopologyException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TopologyException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public TopologyException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public TopologyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
