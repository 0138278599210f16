namespace Levee.Doctor.Config;

/// <summary>A parsed sentinel.conf or redis.conf (from a file, or embedded in a Kubernetes ConfigMap).</summary>
internal sealed class ConfigDocument
{
    public ConfigDocument(string file, string name, ConfigKind kind, IReadOnlyList<ConfigDirective> directives, int processes)
    {
        File = file;
        Name = name;
        Kind = kind;
        Directives = directives;
        Processes = processes;
    }

    /// <summary>The file findings point at (the YAML file for embedded configs).</summary>
    public string File { get; }

    /// <summary>Human name: the file, or <c>file.yaml[configmap/key]</c>.</summary>
    public string Name { get; }

    public ConfigKind Kind { get; }

    public IReadOnlyList<ConfigDirective> Directives { get; }

    /// <summary>How many processes run with this config (1 for a file; a workload's replicas for a ConfigMap).</summary>
    public int Processes { get; }

    /// <summary>True when <see cref="Processes"/> was learned from a workload, not assumed.</summary>
    public bool ProcessesKnown { get; init; }

    /// <summary>Rules silenced by <c># levee-doctor: disable-file=...</c> comments in this config (for an embedded config: the whole YAML file).</summary>
    public HashSet<string> DisabledInFile { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Rules silenced on one reported line by a <c># levee-doctor: disable=...</c> comment on the line before it.</summary>
    public Dictionary<int, HashSet<string>> DisabledOnLine { get; } = [];

    /// <summary>Set when the config is embedded in a Kubernetes ConfigMap.</summary>
    public ConfigMapOrigin? ConfigMap { get; set; }

    /// <summary>The last directive named <paramref name="name"/> (last wins, as in Redis), or null.</summary>
    public ConfigDirective? Last(string name)
    {
        for (var i = Directives.Count - 1; i >= 0; i--)
        {
            if (Directives[i].Name == name)
            {
                return Directives[i];
            }
        }

        return null;
    }

    /// <summary>The value (first argument) of the last directive named by any of <paramref name="names"/>.</summary>
    public ConfigDirective? LastOf(params string[] names)
    {
        for (var i = Directives.Count - 1; i >= 0; i--)
        {
            if (Array.IndexOf(names, Directives[i].Name) >= 0)
            {
                return Directives[i];
            }
        }

        return null;
    }
}

/// <summary>
/// Where an embedded config came from: the ConfigMap, its data key and that key's line, whether a workload in the same
/// file mounts it, whether every such workload has init containers (which can copy it to a writable volume), and what
/// runs at start-up around it: the command and args of the containers that mount it and the scripts (non-config values)
/// of the file's ConfigMaps. Charts complete their configs there (a 'sentinel monitor' line, --requirepass from a Secret).
/// </summary>
internal sealed record ConfigMapOrigin(string Name, int KeyLine, bool Mounted, bool InitContainers, string Key = "", string Startup = "")
{
    /// <summary>True when the start-up text writes <paramref name="directive"/> into a config or passes it as <c>--directive</c>.</summary>
    public bool SuppliesAtStartup(string directive) =>
        Startup.Contains("--" + directive, StringComparison.OrdinalIgnoreCase)
        || Startup.Split('\n').Any(l => l.Contains(directive, StringComparison.OrdinalIgnoreCase)
            && (l.Contains("echo", StringComparison.Ordinal) || l.Contains("printf", StringComparison.Ordinal) || l.Contains("sed ", StringComparison.Ordinal)));

    /// <summary>True when the start-up text copies this key's file (<c>cp .../sentinel.conf ...</c>) before the server reads it.</summary>
    public bool CopiedAtStartup =>
        Key.Length > 0 && Startup.Split('\n').Any(l => (l.Contains("cp ", StringComparison.Ordinal) || l.Contains("cat ", StringComparison.Ordinal)) && l.Contains(Key, StringComparison.Ordinal));
}
