using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Levee.Doctor.Config;

/// <summary>
/// Extracts sentinel.conf / redis.conf files embedded in Kubernetes ConfigMaps (<c>data:</c> keys, usually
/// <c>|</c> block scalars), keeping line numbers relative to the YAML file. When a StatefulSet or Deployment in
/// the same file mounts the ConfigMap, its <c>replicas</c> tell how many processes run with that config.
/// </summary>
internal static class KubernetesConfigReader
{
    public static bool Read(string file, string text, List<ConfigDocument> documents, List<Finding> findings, bool skipWhenEmpty = false)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            if (ConfigSourceReader.IsTemplate(text))
            {
                // an unrendered Helm chart template: nothing to lint until it is rendered; not unusable input by itself
                findings.Add(ConfigSourceReader.Template(file, $"'{file}' is not valid YAML (line {e.Start.Line}) and holds '{{{{ ... }}}}': an unrendered template, skipped."));
                return true;
            }

            findings.Add(ConfigSourceReader.Unusable(file, $"'{file}' is not valid YAML at line {e.Start.Line}: {e.Message}"));
            return false;
        }

        var replicasByConfigMap = WorkloadReplicas(stream);
        var scripts = string.Join('\n', Objects(stream).Where(o => Scalar(o, "kind") == "ConfigMap").Select(o => Map(o, "data"))
            .SelectMany(d => d is null ? [] : d.Children.AsEnumerable())
            .Where(kv => kv.Key is YamlScalarNode k && kv.Value is YamlScalarNode { Value: not null } v && !LooksLikeRedisConfig(k.Value ?? string.Empty, v.Value!))
            .Select(kv => ((YamlScalarNode)kv.Value).Value));
        var found = 0;
        var templates = 0;
        foreach (var root in Objects(stream))
        {
            if (Scalar(root, "kind") != "ConfigMap")
            {
                continue;
            }

            var mapName = root.Children.TryGetValue(new YamlScalarNode("metadata"), out var meta) && meta is YamlMappingNode m
                ? Scalar(m, "name") ?? "configmap"
                : "configmap";
            if (!root.Children.TryGetValue(new YamlScalarNode("data"), out var dataNode) || dataNode is not YamlMappingNode data)
            {
                continue;
            }

            foreach (var (keyNode, valueNode) in data.Children)
            {
                if (keyNode is not YamlScalarNode key || valueNode is not YamlScalarNode value || value.Value is null)
                {
                    continue;
                }

                if (!LooksLikeRedisConfig(key.Value ?? string.Empty, value.Value))
                {
                    continue;
                }

                if (ConfigSourceReader.IsTemplate(value.Value))
                {
                    // a Helm template that happens to parse, or a config that envsubst/sed fills at start-up
                    findings.Add(new Finding("P008", Severity.Info, file, (int)key.Start.Line,
                        $"{file}[{mapName}/{key.Value}] is a template ({{{{ }}}} expressions or ${{VAR}}-style placeholders that Redis would read literally): skipped.",
                        Rules.Get("P008").Fix));
                    templates++;
                    continue;
                }

                // a literal block (|) keeps its lines: line l of the config is line l after the key's. Folding (>) joins
                // lines and quoted scalars may span several: their findings point at the key's line
                var startLine = (int)value.Start.Line;
                Func<int, int> map = value.Style is ScalarStyle.Literal
                    ? l => startLine + l
                    : _ => startLine;
                var known = replicasByConfigMap.TryGetValue((mapName, key.Value ?? string.Empty), out var workload);
                var name = $"{file}[{mapName}/{key.Value}]";
                var parsed = ConfigParser.Parse(file, name, value.Value, findings, map, known ? workload.Replicas : 1, known);
                parsed.ConfigMap = new ConfigMapOrigin(mapName, (int)key.Start.Line, known, known && workload.InitContainers, key.Value ?? string.Empty,
                    known ? workload.Startup + "\n" + scripts : scripts);
                documents.Add(parsed);
                found++;
            }
        }

        if (found == 0 && (skipWhenEmpty || templates > 0))
        {
            return true; // other manifests in a linted folder (Namespace, Service, ...) are not Redis configs
        }

        if (found == 0)
        {
            findings.Add(ConfigSourceReader.Unusable(file, $"'{file}' holds no ConfigMap with a *.conf key (sentinel.conf or redis.conf) under data:."));
            return false;
        }

        return true;
    }

    /// <summary>
    /// The objects of every YAML document, the items of a list (<c>kind: List</c>, <c>ConfigMapList</c>, ...: what
    /// <c>kubectl get ... -o yaml</c> prints for several objects) in their place.
    /// </summary>
    private static IEnumerable<YamlMappingNode> Objects(YamlStream stream)
    {
        foreach (var doc in stream.Documents)
        {
            if (doc.RootNode is not YamlMappingNode root)
            {
                continue;
            }

            if (Scalar(root, "kind") is { } kind && kind.EndsWith("List", StringComparison.Ordinal)
                && root.Children.TryGetValue(new YamlScalarNode("items"), out var items) && items is YamlSequenceNode list)
            {
                foreach (var item in list.Children.OfType<YamlMappingNode>())
                {
                    yield return item;
                }
            }
            else
            {
                yield return root;
            }
        }
    }

    private static readonly string[] ContainerLists = ["initContainers", "containers"];

    private static readonly string[] CommandKeys = ["command", "args"];

    private static readonly string[] ContainerText = ["image", "command", "args"];

    private static readonly string[] RunsRedis = ["redis", "valkey", "sentinel", ".conf"];

    private static readonly string[] NotConfigExtensions = [".sh", ".bash", ".py", ".lua", ".js", ".rb", ".pl", ".json", ".yaml", ".yml", ".cfg", ".ini", ".toml", ".txt", ".tpl"];

    /// <summary>
    /// A data key holds a Redis or Sentinel config when its name ends in <c>.conf</c>, or when it is not named like a
    /// script or another format and its text reads as a config: it mentions <c>sentinel monitor</c>, has no shebang, and
    /// at least 80% of its non-comment lines start with a directive some Redis or Valkey version knows. A chart's init
    /// or split-brain script (<c>sed ... "sentinel monitor ..."</c>) is not linted as a config.
    /// </summary>
    internal static bool LooksLikeRedisConfig(string key, string value)
    {
        if (key.EndsWith(".conf", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (NotConfigExtensions.Any(e => key.EndsWith(e, StringComparison.OrdinalIgnoreCase))
            || !value.Contains("sentinel monitor", StringComparison.OrdinalIgnoreCase)
            || value.TrimStart().StartsWith("#!", StringComparison.Ordinal))
        {
            return false;
        }

        var lines = value.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').ToList();
        var known = lines.Count(l => RedisVersions.AnyDirective.Contains(l.Split(' ', '\t')[0].ToLowerInvariant()));
        return lines.Count > 0 && known * 10 >= lines.Count * 8;
    }

    /// <summary>
    /// (ConfigMap name, key) → total replicas of the StatefulSets/Deployments whose pod template mounts that key (a
    /// configMap volume without <c>items</c> mounts every key; with <c>items</c>, the keys it lists), and whether they all
    /// have init containers. A workload counts once per key, however many volumes mount it: one ConfigMap holding both
    /// redis.conf and sentinel.conf, mounted by a Redis and a Sentinel StatefulSet with items, is 3 Sentinels, not 6.
    /// </summary>
    private static Dictionary<(string ConfigMap, string Key), (int Replicas, bool InitContainers, string Startup)> WorkloadReplicas(YamlStream stream)
    {
        var keysByConfigMap = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var root in Objects(stream))
        {
            if (Scalar(root, "kind") == "ConfigMap"
                && Scalar(Map(root, "metadata"), "name") is { } mapName && Map(root, "data") is { } data)
            {
                keysByConfigMap[mapName] = [.. data.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? string.Empty)];
            }
        }

        var result = new Dictionary<(string, string), (int Replicas, bool InitContainers, string Startup)>();
        foreach (var root in Objects(stream))
        {
            if (Scalar(root, "kind") is not ("StatefulSet" or "Deployment"))
            {
                continue;
            }

            var spec = Map(root, "spec");
            var replicas = spec is not null && int.TryParse(Scalar(spec, "replicas"), out var r) ? r : 1;
            var podSpec = Map(Map(spec, "template"), "spec");
            var volumes = podSpec is not null && podSpec.Children.TryGetValue(new YamlScalarNode("volumes"), out var v) ? v as YamlSequenceNode : null;
            var init = podSpec is not null && podSpec.Children.TryGetValue(new YamlScalarNode("initContainers"), out var ic) && ic is YamlSequenceNode { Children.Count: > 0 };
            var startup = string.Join('\n', ContainerLists
                .Select(c => podSpec is not null && podSpec.Children.TryGetValue(new YamlScalarNode(c), out var list) ? list as YamlSequenceNode : null)
                .SelectMany(list => list?.Children.OfType<YamlMappingNode>() ?? [])
                .SelectMany(container => CommandKeys
                    .Select(k => container.Children.TryGetValue(new YamlScalarNode(k), out var v) ? v as YamlSequenceNode : null)
                    .SelectMany(seq => seq?.Children.OfType<YamlScalarNode>().Select(a => a.Value ?? string.Empty) ?? [])));
            // a workload whose containers run something else (an HAProxy in front of the Sentinels mounting the same
            // ConfigMap for its haproxy.cfg) does not run the configs it mounts: judged by the containers' image, command, args
            var commands = string.Join('\n', (podSpec is not null && podSpec.Children.TryGetValue(new YamlScalarNode("containers"), out var cl) ? cl as YamlSequenceNode : null)?.Children
                .OfType<YamlMappingNode>().SelectMany(c => ContainerText.Select(k => c.Children.TryGetValue(new YamlScalarNode(k), out var v) ? v : null))
                .SelectMany(v => v switch
                {
                    YamlSequenceNode seq => seq.Children.OfType<YamlScalarNode>().Select(a => a.Value ?? string.Empty),
                    YamlScalarNode one => [one.Value ?? string.Empty],
                    _ => [],
                }) ?? []);
            if (commands.Length > 0 && !RunsRedis.Any(r => commands.Contains(r, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var mounted = new HashSet<(string, string)>();
            foreach (var volume in volumes?.Children.OfType<YamlMappingNode>() ?? [])
            {
                var configMap = Map(volume, "configMap");
                if (Scalar(configMap, "name") is not { } name)
                {
                    continue;
                }

                IEnumerable<string> keys = configMap!.Children.TryGetValue(new YamlScalarNode("items"), out var items) && items is YamlSequenceNode list
                    ? list.Children.OfType<YamlMappingNode>().Select(i => Scalar(i, "key")).OfType<string>()
                    : keysByConfigMap.GetValueOrDefault(name) ?? [];
                foreach (var key in keys)
                {
                    mounted.Add((name, key));
                }
            }

            foreach (var mount in mounted)
            {
                var (count, allInit, text) = result.GetValueOrDefault(mount, (0, true, string.Empty));
                result[mount] = (count + replicas, allInit && init, text + "\n" + startup);
            }
        }

        return result;
    }

    private static YamlMappingNode? Map(YamlMappingNode? node, string key) =>
        node is not null && node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child as YamlMappingNode : null;

    private static string? Scalar(YamlMappingNode? node, string key) =>
        node is not null && node.Children.TryGetValue(new YamlScalarNode(key), out var child) && child is YamlScalarNode s ? s.Value : null;
}
