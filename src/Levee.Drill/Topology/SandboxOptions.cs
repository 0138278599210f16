namespace Levee.Drill.Topology;

/// <summary>What a <see cref="Sandbox"/> starts. Defaults: a PostgreSQL with database <c>levee</c>, and the drill's healthy Sentinel topology.</summary>
public sealed class SandboxOptions
{
    /// <summary>
    /// The PostgreSQL server. Default: database <c>levee</c> (the connection string points at it), no
    /// <c>pg_stat_statements</c>, 100 connections.
    /// </summary>
    public PostgresOptions Postgres { get; } = new() { Database = "levee", PgStatStatements = false };

    /// <summary>The Redis deployment. Default: 1 master, 2 replicas, 3 Sentinels, quorum 2, service <c>mymaster</c>, down-after 2000 ms.</summary>
    public SentinelTopologyOptions Redis { get; } = new();

    /// <summary>SQL files run, in order, against the database once PostgreSQL is up (a schema and its seed rows). Default none.</summary>
    public IList<string> SqlFiles { get; } = [];

    /// <summary>Every problem with these options (each naming the value); empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        try
        {
            Postgres.Validate();
        }
        catch (ArgumentException ex)
        {
            problems.Add(ex.Message);
        }

        try
        {
            Redis.Validate();
        }
        catch (ArgumentException ex)
        {
            problems.Add(ex.Message);
        }

        foreach (var file in SqlFiles)
        {
            if (!File.Exists(file))
            {
                problems.Add($"SQL file '{file}' not found");
            }
        }

        return problems;
    }
}
