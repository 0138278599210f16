using Levee.Doctor.Config;
using Levee.Doctor.Lint;

namespace Levee.Doctor;

public static partial class DoctorLinter
{
    /// <summary>P002 unknown directives, P003 include, P004 argument counts.</summary>
    private static void CheckDirectives(ConfigDocument doc, RedisVersion? version, List<Finding> findings)
    {
        foreach (var d in doc.Directives)
        {
            if (d.Name == "sentinel")
            {
                if (doc.Kind != ConfigKind.Sentinel)
                {
                    continue;
                }

                var sub = d.SubName;
                if (!KnownDirectives.SentinelArity.TryGetValue(sub, out var counts) || !Knows(version, sub, sentinel: true))
                {
                    findings.Add(Make("P002", doc, d.Line, Unknown($"sentinel {d.Arg(0)}", sub, version, sentinel: true)));
                }
                else if (Array.IndexOf(counts, d.Args.Count) < 0)
                {
                    findings.Add(Make("P004", doc, d.Line, $"'sentinel {sub}' takes {string.Join(" or ", counts.Select(c => c - 1))} argument(s), found {d.Args.Count - 1}."));
                }

                continue;
            }

            if (!Knows(version, d.Name, sentinel: false))
            {
                findings.Add(Make("P002", doc, d.Line, Unknown(d.Name, d.Name, version, sentinel: false)));
            }
            else if (KnownDirectives.RedisArity.TryGetValue(d.Name, out var arity) ? d.Args.Count != arity
                : !KnownDirectives.RedisMultiArgument.Contains(d.Name) && d.Args.Count != 1)
            {
                var expected = KnownDirectives.RedisArity.TryGetValue(d.Name, out var n) ? n : 1;
                var hint = d.Args.Count > expected && d.Args.Skip(expected).Any(a => a.StartsWith('#'))
                    ? " A '#' in the middle of a line does not start a comment: Redis sees extra arguments."
                    : string.Empty;
                findings.Add(Make("P004", doc, d.Line, $"'{d.Name}' takes {expected} argument(s), found {d.Args.Count}.{hint}"));
            }

            if (d.Name == "include")
            {
                findings.Add(Make("P003", doc, d.Line, $"'include {d.Arg(0)}' is not followed; settings in that file are not checked."));
            }
        }
    }

    private static bool Knows(RedisVersion? version, string name, bool sentinel) =>
        version is null
            ? (sentinel ? RedisVersions.AnySentinelDirective : RedisVersions.AnyDirective).Contains(name)
            : (sentinel ? version.SentinelDirectives : version.Directives).Contains(name);

    /// <summary>
    /// P002's message: what is known, and no more. Every version refuses to start on a directive it does not know
    /// ("Bad directive or wrong number of arguments"; Sentinel: "Unrecognized sentinel configuration statement").
    /// </summary>
    private static string Unknown(string shown, string name, RedisVersion? version, bool sentinel)
    {
        var refusal = sentinel ? "\"Unrecognized sentinel configuration statement\"" : "\"Bad directive or wrong number of arguments\"";
        var having = RedisVersions.Having(name, sentinel).Select(v => v.Display).ToList();
        if (version is null || having.Count == 0)
        {
            return $"Unknown directive '{shown}': no version the doctor knows ({RedisVersions.Range}) has it, and a server refuses to start on a directive it does not know ({refusal}).";
        }

        return $"'{shown}' is unknown to {version.Display} (known to {string.Join(", ", having)}): a server that does not know a directive refuses to start ({refusal}).";
    }

    /// <summary>
    /// Builds the Sentinel model. Like redis-sentinel 7.0, every 'sentinel monitor' line is applied before the
    /// per-master lines, whatever their order in the file; a per-master line naming a master that no monitor line
    /// declares is P006.
    /// </summary>
    private static SentinelModel BuildSentinel(ConfigDocument doc, List<Finding> findings)
    {
        var model = new SentinelModel(doc);
        var lines = doc.Directives.Where(d => d.Name == "sentinel" && KnownDirectives.SentinelArity.TryGetValue(d.SubName, out var counts) && Array.IndexOf(counts, d.Args.Count) >= 0).ToList();
        foreach (var d in lines.Where(d => d.SubName == "monitor"))
        {
            if (model.Masters.ContainsKey(d.Arg(1)))
            {
                findings.Add(Make("S002", doc, d.Line, $"Master '{d.Arg(1)}' is monitored twice in this file (\"Duplicate master name.\")."));
                continue;
            }

            model.Masters[d.Arg(1)] = new MasterDecl(model, d);
        }

        foreach (var d in lines.Where(d => d.SubName != "monitor"))
        {
            var sub = d.SubName;
            if (KnownDirectives.SentinelPerMaster.Contains(sub))
            {
                if (!model.Masters.TryGetValue(d.Arg(1), out var decl) && doc.ConfigMap?.Startup.Contains("sentinel monitor", StringComparison.OrdinalIgnoreCase) == true)
                {
                    // the chart's init script writes the monitor line at start-up (P009, reported with the master)
                    decl = model.Masters[d.Arg(1)] = new MasterDecl(model, new ConfigDirective("sentinel", ["monitor", d.Arg(1), string.Empty, string.Empty, string.Empty], d.Line)) { AtStartup = true };
                }

                if (decl is null)
                {
                    findings.Add(Make("P006", doc, d.Line, $"'sentinel {sub}' names master '{d.Arg(1)}', which no 'sentinel monitor' line declares (\"No such master with specified name.\")."));
                    continue;
                }

                switch (sub)
                {
                    case "known-sentinel":
                        decl.KnownSentinels.Add(d);
                        break;
                    case "known-replica" or "known-slave":
                        decl.KnownReplicas.Add(d);
                        break;
                    case "rename-command":
                        decl.Renames.Add(d);
                        break;
                    default:
                        decl.Settings[sub] = d;
                        break;
                }
            }
            else
            {
                model.Globals[sub] = d;
            }
        }

        return model;
    }
}
