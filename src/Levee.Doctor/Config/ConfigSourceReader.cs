using System.Text;

namespace Levee.Doctor.Config;

/// <summary>Turns command-line paths into parsed config documents, reporting unusable input as <c>P005</c>.</summary>
internal static partial class ConfigSourceReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads every path; directories are expanded to their *.conf, *.yaml and *.yml files (recursively, sorted).</summary>
    /// <remarks>
    /// Each file is read once however it is reached (named twice, inside a directory also named, through a symbolic link):
    /// every config counts as one Redis or Sentinel process. Symbolic links to directories are not followed (a link back
    /// to a parent would be read again and again). Of the names of one file, the one without a hidden (".") folder is
    /// reported: a Kubernetes ConfigMap volume holds <c>sentinel.conf</c> as a link to <c>..data/sentinel.conf</c>, itself in
    /// a timestamped <c>..2024_...</c> folder.
    /// </remarks>
    public static List<ConfigDocument> Read(IEnumerable<string> paths, List<Finding> findings, out bool unusable)
    {
        unusable = false;
        var documents = new List<ConfigDocument>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var files = FilesUnder(path)
                    .Where(f => f.EndsWith(".conf", StringComparison.OrdinalIgnoreCase) || IsYaml(f))
                    .GroupBy(RealPath, StringComparer.Ordinal)
                    .Select(g => g.OrderBy(f => HiddenSegments(f, path)).ThenBy(f => f.Length).ThenBy(f => f, StringComparer.Ordinal).First())
                    .Where(f => seen.Add(RealPath(f)))
                    .Order(StringComparer.Ordinal)
                    .ToList();
                if (files.Count == 0)
                {
                    findings.Add(Unusable(path, $"Directory '{path}' contains no *.conf, *.yaml or *.yml file."));
                    unusable = true;
                }

                var before = documents.Count;
                foreach (var file in files)
                {
                    unusable |= !ReadFile(file, documents, findings, inDirectory: true);
                }

                if (files.Count > 0 && documents.Count == before)
                {
                    findings.Add(Unusable(path, $"Directory '{path}' holds no Redis or Sentinel config (no *.conf file, no ConfigMap embedding one)."));
                    unusable = true;
                }
            }
            else if (!File.Exists(path) || seen.Add(RealPath(path)))
            {
                unusable |= !ReadFile(path, documents, findings);
            }
        }

        unusable |= OnlyTemplates(string.Join(", ", paths), documents, findings, unusable);
        return documents;
    }

    /// <summary>True (and a P005 added) when nothing was read and nothing was unusable either: only templates (each reported as P008) were given.</summary>
    internal static bool OnlyTemplates(string what, List<ConfigDocument> documents, List<Finding> findings, bool unusable)
    {
        if (documents.Count > 0 || unusable)
        {
            return false;
        }

        findings.Add(Unusable(what, "No Redis or Sentinel config could be read: everything given is an unrendered template (P008). Lint the rendered files (helm template ..., the files Ansible or envsubst write)."));
        return true;
    }

    /// <summary>The files under <paramref name="root"/>, recursively, not following symbolic links to directories.</summary>
    private static IEnumerable<string> FilesUnder(string root)
    {
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.TryPop(out var directory))
        {
            IEnumerable<string> files, directories;
            try
            {
                files = Directory.EnumerateFiles(directory).ToList();
                directories = Directory.EnumerateDirectories(directory).ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // an unreadable folder: its files are not reachable (a file named on the command line is reported)
            }

            foreach (var file in files)
            {
                yield return file;
            }

            foreach (var sub in directories)
            {
                if ((File.GetAttributes(sub) & FileAttributes.ReparsePoint) == 0)
                {
                    pending.Push(sub);
                }
            }
        }
    }

    /// <summary>The file a path finally names, as a full path with every symbolic link in it resolved (folders too).</summary>
    private static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        try
        {
            for (var hops = 0; hops < 40; hops++) // a cycle of links: give up, reading the path reports it
            {
                var root = Path.GetPathRoot(full) ?? "";
                var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
                var current = root;
                var resolved = false;
                for (var i = 0; i < parts.Length && !resolved; i++)
                {
                    current = Path.Combine(current, parts[i]);
                    FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
                    if (info.LinkTarget is { } target)
                    {
                        full = Path.GetFullPath(Path.Combine([Path.GetFullPath(target, Path.GetDirectoryName(current) ?? root), .. parts[(i + 1)..]]));
                        resolved = true;
                    }
                }

                if (!resolved)
                {
                    return full;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a link that cannot be read: the path as given; reading it reports the problem
        }

        return full;
    }

    private static int HiddenSegments(string file, string root) =>
        Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar).Count(segment => segment.StartsWith('.'));

    /// <summary>Parses in-memory text as if it were the file <paramref name="name"/> (used by tests and by callers that already hold the text).</summary>
    public static bool ReadText(string name, string text, List<ConfigDocument> documents, List<Finding> findings, bool inDirectory = false)
    {
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            findings.Add(Unusable(name, $"'{name}' looks like a binary file (it contains NUL bytes), not a Redis config."));
            return false;
        }

        if (IsYaml(name))
        {
            return KubernetesConfigReader.Read(name, text, documents, findings, skipWhenEmpty: inDirectory);
        }

        if (IsTemplate(text))
        {
            // an Ansible (Jinja) or Helm template of a config: its lines are not what the server reads until rendered
            findings.Add(Template(name, $"'{name}' is a template (it holds {{{{ }}}} or {{% %}} expressions, or ${{VAR}}-style placeholders that Redis would read literally): skipped. Lint the rendered file."));
            return true;
        }

        documents.Add(ConfigParser.Parse(name, name, text, findings));
        return true;
    }

    private static bool ReadFile(string path, List<ConfigDocument> documents, List<Finding> findings, bool inDirectory = false)
    {
        if (!File.Exists(path))
        {
            findings.Add(Unusable(path, $"File '{path}' does not exist."));
            return false;
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            findings.Add(Unusable(path, $"File '{path}' cannot be read: {e.Message}"));
            return false;
        }

        if (Array.IndexOf(bytes, (byte)0) >= 0)
        {
            findings.Add(Unusable(path, $"'{path}' looks like a binary file (it contains NUL bytes), not a Redis config."));
            return false;
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            findings.Add(Unusable(path, $"'{path}' is not UTF-8 text; it looks like a binary file, not a Redis config."));
            return false;
        }

        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            if (!IsYaml(path))
            {
                // redis-server and redis-sentinel read the mark as part of the first directive and refuse to start
                findings.Add(new Finding("P001", Severity.Error, path, 1,
                    "The file starts with a UTF-8 byte order mark (EF BB BF, as some Windows editors write it); Redis reads it as part of the first line's directive and refuses to start.",
                    "Save the file as UTF-8 without a byte order mark."));
            }

            text = text[1..];
        }

        return ReadText(path, text, documents, findings, inDirectory);
    }

    internal static Finding Unusable(string file, string message) => new("P005", Severity.Error, file, 0, message, Rules.Get("P005").Fix);

    internal static Finding Template(string file, string message) => new("P008", Severity.Info, file, 0, message, Rules.Get("P008").Fix);

    /// <summary>
    /// Text with template expressions: Helm/Go and Jinja (<c>{{ ... }}</c>, <c>{% ... %}</c>), or a directive argument that
    /// is a whole placeholder for envsubst/sed (<c>${REDIS_PASSWORD}</c>, <c>$SENTINEL_QUORUM</c>, <c>{HOST_IP}</c>): Redis
    /// reads those literally, so the file is meant to be rendered before use.
    /// </summary>
    internal static bool IsTemplate(string text) =>
        (text.Contains("{{", StringComparison.Ordinal) && text.Contains("}}", StringComparison.Ordinal))
        || (text.Contains("{%", StringComparison.Ordinal) && text.Contains("%}", StringComparison.Ordinal))
        || text.Split('\n').Any(l => !l.TrimStart().StartsWith('#') && Placeholder().IsMatch(l));

    [System.Text.RegularExpressions.GeneratedRegex(@"^\s*[A-Za-z-]+\s(.*\s)?(\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Z_][A-Z0-9_]*|\{[A-Z_][A-Z0-9_]*\})(\s|$)")]
    private static partial System.Text.RegularExpressions.Regex Placeholder();

    private static bool IsYaml(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);
}
