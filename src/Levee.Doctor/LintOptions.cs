namespace Levee.Doctor;

/// <summary>Options for <see cref="DoctorLinter"/>.</summary>
public sealed class LintOptions
{
    /// <summary>
    /// How many Sentinels run, when the files given do not show it (one shared sentinel.conf without
    /// known-sentinel lines). Default <c>null</c>: count the Sentinel configs given (a ConfigMap counts as the
    /// replicas of the workload that mounts it). Must be ≥ 1 when set.
    /// </summary>
    public int? Sentinels { get; init; }

    /// <summary>
    /// The server version the configs are for: <c>6.2</c>, <c>7.0</c>, <c>7.2</c>, <c>7.4</c>, <c>valkey-7.2</c>,
    /// <c>valkey-8.0</c> (a full version such as <c>7.2.4</c> is taken by its major.minor). Default <c>null</c>: a
    /// directive is unknown (P002) only when no known version has it; with a version, when that version lacks it.
    /// </summary>
    public string? RedisVersion { get; init; }

    /// <summary>The values <see cref="RedisVersion"/> accepts (full versions are taken by their major.minor).</summary>
    public static IEnumerable<string> RedisVersions => Config.RedisVersions.Labels;

    /// <summary>True when <paramref name="version"/> names a version the doctor knows.</summary>
    /// <param name="version">As given to <c>--redis-version</c>.</param>
    /// <returns>Whether <see cref="RedisVersion"/> may be set to it.</returns>
    public static bool IsKnownRedisVersion(string version) => Config.RedisVersions.Find(version) is not null;

    /// <summary>
    /// Rule ids not to report (<c>--disable S003,T011</c>). In a config, <c># levee-doctor: disable=S003</c> silences a rule
    /// on the next line and <c># levee-doctor: disable-file=S003</c> in the whole file. Unknown ids are refused.
    /// </summary>
    public IReadOnlyCollection<string> Disabled { get; init; } = [];
}
