namespace Levee.Doctor.Tests.Lint;

/// <summary>A small, clean Sentinel deployment as in-memory files; tests change one thing and lint it.</summary>
internal sealed record Deployment(
    string Sentinel,
    int Sentinels,
    string Master,
    string[] Replicas)
{
    public const string SentinelBody = """
        port 26379
        sentinel monitor mymaster 10.0.1.10 6379 2
        sentinel auth-pass mymaster s3cret
        sentinel down-after-milliseconds mymaster 5000
        sentinel failover-timeout mymaster 60000
        sentinel parallel-syncs mymaster 1
        """;

    public const string MasterBody = """
        bind 10.0.1.10
        port 6379
        requirepass s3cret
        masterauth s3cret
        appendonly yes
        repl-backlog-size 64mb
        min-replicas-to-write 1
        """;

    public static string ReplicaBody(int i) => $"""
        bind 10.0.2.1{i}
        port 6379
        replicaof 10.0.1.10 6379
        requirepass s3cret
        masterauth s3cret
        appendonly yes
        repl-backlog-size 64mb
        min-replicas-to-write 1
        """;

    public static Deployment Clean => new(SentinelBody, 3, MasterBody, [ReplicaBody(1), ReplicaBody(2)]);

    /// <summary>Extra per-file overrides: file name → text (replaces or adds a file).</summary>
    public Dictionary<string, string> Overrides { get; init; } = [];

    public IEnumerable<(string Name, string Text)> Files()
    {
        var files = new List<(string, string)>();
        for (var i = 1; i <= Sentinels; i++)
        {
            files.Add(($"sentinel-{i}.conf", Sentinel));
        }

        files.Add(("redis-master.conf", Master));
        for (var i = 0; i < Replicas.Length; i++)
        {
            files.Add(($"redis-replica-{i + 1}.conf", Replicas[i]));
        }

        foreach (var (name, text) in Overrides)
        {
            var at = files.FindIndex(f => f.Item1 == name);
            if (at >= 0)
            {
                files[at] = (name, text);
            }
            else
            {
                files.Add((name, text));
            }
        }

        return files;
    }

    public DoctorReport Lint(LintOptions? options = null) => DoctorLinter.LintTexts(Files(), options);
}
