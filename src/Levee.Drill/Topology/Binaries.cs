namespace Levee.Drill.Topology;

/// <summary>Finds the redis / PostgreSQL executables; a missing one is an error with the install command.</summary>
public static class Binaries
{
    /// <summary>The command that installs every binary the launcher needs (Debian/Ubuntu).</summary>
    public const string InstallCommand = "sudo apt-get install -y redis-server redis-sentinel redis-tools postgresql";

    /// <summary>Path of <c>redis-server</c>.</summary>
    public static string RedisServer => Require("redis-server", "redis-server");

    /// <summary>Path of <c>redis-sentinel</c> (the Debian package of that name).</summary>
    public static string RedisSentinel => Require("redis-sentinel", "redis-sentinel");

    /// <summary>Path of <c>redis-cli</c> (package redis-tools).</summary>
    public static string RedisCli => Require("redis-cli", "redis-tools");

    /// <summary>
    /// Path of a PostgreSQL server binary (<c>initdb</c>, <c>postgres</c>, <c>pg_ctl</c>): on PATH, else the
    /// highest version under <c>/usr/lib/postgresql/*/bin</c>. Symbolic links are resolved.
    /// </summary>
    public static string Postgres(string name)
    {
        var onPath = FindOnPath(name);
        if (onPath is not null)
        {
            // resolve /usr/local/bin/postgres -> /usr/lib/postgresql/15/bin/postgres: its lib folder is next to it
            return new FileInfo(onPath).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? onPath;
        }

        if (Directory.Exists("/usr/lib/postgresql"))
        {
            var best = Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: d, Version: double.TryParse(Path.GetFileName(d), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : 0))
                .OrderByDescending(x => x.Version)
                .Select(x => Path.Combine(x.Dir, "bin", name))
                .FirstOrDefault(File.Exists);
            if (best is not null)
            {
                return best;
            }
        }

        throw Missing(name, "postgresql");
    }

    internal static string Require(string name, string package) => FindOnPath(name) ?? throw Missing(name, package);

    private static TopologyException Missing(string name, string package) =>
        new($"'{name}' was not found on PATH (package {package}). Install the test dependencies with: {InstallCommand}");

    private static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"]))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
