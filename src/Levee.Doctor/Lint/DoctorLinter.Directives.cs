using Levee.Doctor.Config;
using Levee.Doctor.Lint;

namespace Levee.Doctor;

public static partial class DoctorLinter
{
    /// <summary>P002 unknown directives, P003 include, P004 argument counts.</summary>
    private static void CheckDirectives(ConfigDocument doc, List<Finding> findings)
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
                if (!KnownDirectives.SentinelArity.TryGetValue(sub, out var counts))
                {
                    findings.Add(Make("P002", doc, d.Line, $"Unknown Sentinel directive 'sentinel {d.Arg(0)}' (redis-sentinel 7.0 refuses to start: \"Unrecognized sentinel configuration statement\")."));
                }
                else if (Array.IndexOf(counts, d.Args.Count) < 0)
                {
                    findings.Add(Make("P004", doc, d.Line, $"'sentinel {sub}' takes {string.Join(" or ", counts.Select(c => c - 1))} argument(s), found {d.Args.Count - 1}."));
                }

                continue;
            }

            if (!KnownDirectives.Redis.Contains(d.Name))
            {
                findings.Add(Make("P002", doc, d.Line, $"Unknown directive '{d.Name}' (redis 7.0 refuses to start: \"Bad directive or wrong number of arguments\")."));
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
                if (!model.Masters.TryGetValue(d.Arg(1), out var decl))
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
