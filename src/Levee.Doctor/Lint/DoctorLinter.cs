using Levee.Doctor.Config;
using Levee.Doctor.Lint;

namespace Levee.Doctor;

/// <summary>
/// Static lint of Redis Sentinel / Redis / Redis Cluster config files: parses every file (sentinel.conf,
/// redis.conf, or Kubernetes manifests embedding them), learns the topology and applies the rules in <see cref="Rules"/>.
/// </summary>
public static partial class DoctorLinter
{
    /// <summary>Lints the files (or directories of files) at <paramref name="paths"/> as one deployment.</summary>
    /// <param name="paths">Config files, Kubernetes YAML files, or directories holding them.</param>
    /// <param name="options">Options; null for defaults.</param>
    /// <returns>The report (findings sorted by file and line, and the per-master topology).</returns>
    public static DoctorReport Lint(IEnumerable<string> paths, LintOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var findings = new List<Finding>();
        var docs = ConfigSourceReader.Read(paths, findings, out var unusable);
        return Lint(docs, findings, unusable, options ?? new LintOptions());
    }

    /// <summary>Lints in-memory files; the name decides YAML (by extension) and is used in findings.</summary>
    internal static DoctorReport LintTexts(IEnumerable<(string Name, string Text)> files, LintOptions? options = null)
    {
        var findings = new List<Finding>();
        var docs = new List<ConfigDocument>();
        var unusable = false;
        var names = new List<string>();
        foreach (var (name, text) in files)
        {
            names.Add(name);
            unusable |= !ConfigSourceReader.ReadText(name, text, docs, findings);
        }

        unusable |= ConfigSourceReader.OnlyTemplates(string.Join(", ", names), docs, findings, unusable);
        return Lint(docs, findings, unusable, options ?? new LintOptions());
    }

    private static DoctorReport Lint(List<ConfigDocument> docs, List<Finding> findings, bool unusable, LintOptions options)
    {
        if (options.Sentinels is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Sentinels, "--sentinels must be 1 or more.");
        }

        if (options.Disabled.FirstOrDefault(id => !Rules.All.Any(r => r.Id.Equals(id, StringComparison.OrdinalIgnoreCase))) is { } unknown)
        {
            throw new ArgumentOutOfRangeException(nameof(options), unknown, $"--disable: no rule '{unknown}' (see 'levee doctor rules').");
        }

        RedisVersion? version = null;
        if (options.RedisVersion is { } v && (version = RedisVersions.Find(v)) is null)
        {
            throw new ArgumentOutOfRangeException(nameof(options), v, $"--redis-version must be one of {string.Join(", ", RedisVersions.Labels)}.");
        }

        var sentinels = new List<SentinelModel>();
        var nodes = new List<RedisModel>();
        foreach (var doc in docs)
        {
            CheckDirectives(doc, version, findings);
            if (doc.Kind == ConfigKind.Sentinel)
            {
                sentinels.Add(BuildSentinel(doc, findings));
            }
            else
            {
                nodes.Add(new RedisModel(doc));
            }
        }

        var masters = new List<MasterTopology>();
        var groups = GroupNodes(sentinels, nodes);
        foreach (var name in sentinels.SelectMany(s => s.Masters.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var decls = sentinels.Where(s => s.Masters.ContainsKey(name)).Select(s => s.Masters[name]).ToList();
            var group = groups.TryGetValue(name, out var g) ? g : [];
            if (CheckMaster(name, decls, group, options, findings) is { } topology)
            {
                masters.Add(topology);
            }
        }

        CheckSentinelGlobals(sentinels, version, findings);
        CheckNodes(nodes, groups, sentinels, findings);
        CheckCluster(nodes.Where(n => n.ClusterEnabled).ToList(), findings);
        return new DoctorReport(Unsuppressed(findings, docs, options), masters, unusable);
    }

    /// <summary>
    /// Drops the findings silenced by <see cref="LintOptions.Disabled"/> (<c>--disable</c>) and by
    /// <c># levee-doctor: disable=...</c> / <c>disable-file=...</c> comments in the configs.
    /// </summary>
    private static IEnumerable<Finding> Unsuppressed(List<Finding> findings, List<ConfigDocument> docs, LintOptions options)
    {
        var disabled = new HashSet<string>(options.Disabled, StringComparer.OrdinalIgnoreCase);
        return findings.Where(f => !disabled.Contains(f.RuleId)
            && !docs.Any(d => d.File == f.File
                && (d.DisabledInFile.Contains(f.RuleId) || (d.DisabledOnLine.TryGetValue(f.Line, out var ids) && ids.Contains(f.RuleId)))));
    }

    private static Finding Make(string ruleId, ConfigDocument doc, int line, string message, string? fix = null) =>
        Make(ruleId, Rules.Get(ruleId).Severity, doc, line, message, fix);

    private static Finding Make(string ruleId, Severity severity, ConfigDocument doc, int line, string message, string? fix = null) =>
        new(ruleId, severity, doc.File, line, message, fix ?? Rules.Get(ruleId).Fix);
}
