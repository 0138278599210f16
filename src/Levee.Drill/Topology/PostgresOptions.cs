namespace Levee.Drill.Topology;

/// <summary>Settings of a throw-away <see cref="PostgresServer"/>.</summary>
public sealed class PostgresOptions
{
    /// <summary><c>max_connections</c>. Default 100; 5 to 10000.</summary>
    public int MaxConnections { get; set; } = 100;

    /// <summary>
    /// Load <c>pg_stat_statements</c> (<c>shared_preload_libraries</c>) and create the extension when the
    /// server has it. Default true; see <see cref="PostgresServer.HasPgStatStatements"/>.
    /// </summary>
    public bool PgStatStatements { get; set; } = true;

    /// <summary>A database to create besides <c>postgres</c> (the connection string points at it). Default none.</summary>
    public string? Database { get; set; }

    /// <summary>
    /// The OS user that runs initdb and postgres when the current process is root (PostgreSQL refuses root).
    /// Default <c>nobody</c>. Ignored when not root.
    /// </summary>
    public string RunAsUser { get; set; } = "nobody";

    /// <summary>Extra <c>postgresql.conf</c> lines (e.g. <c>work_mem = '8MB'</c>).</summary>
    public IList<string> Config { get; } = [];

    /// <summary>How long initdb + start may take. Default 120 s.</summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromSeconds(120);

    internal void Validate()
    {
        var problems = new List<string>();
        if (MaxConnections is < 5 or > 10_000)
        {
            problems.Add($"MaxConnections={MaxConnections} must be 5..10000");
        }

        if (Database is not null && (Database.Length == 0 || !Database.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')))
        {
            problems.Add($"Database='{Database}' must be letters, digits and '_'");
        }

        if (string.IsNullOrWhiteSpace(RunAsUser))
        {
            problems.Add("RunAsUser must be set");
        }

        if (ReadyTimeout <= TimeSpan.Zero)
        {
            problems.Add($"ReadyTimeout={ReadyTimeout} must be positive");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid PostgresOptions: " + string.Join("; ", problems));
        }
    }
}
