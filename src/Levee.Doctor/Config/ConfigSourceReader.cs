using System.Text;

namespace Levee.Doctor.Config;

/// <summary>Turns command-line paths into parsed config documents, reporting unusable input as <c>P005</c>.</summary>
internal static class ConfigSourceReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads every path; directories are expanded to their *.conf, *.yaml and *.yml files (recursively, sorted).</summary>
    public static List<ConfigDocument> Read(IEnumerable<string> paths, List<Finding> findings, out bool unusable)
    {
        unusable = false;
        var documents = new List<ConfigDocument>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(f => f.EndsWith(".conf", StringComparison.OrdinalIgnoreCase) || IsYaml(f))
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
            else
            {
                unusable |= !ReadFile(path, documents, findings);
            }
        }

        return documents;
    }

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
            text = text[1..];
        }

        return ReadText(path, text, documents, findings, inDirectory);
    }

    internal static Finding Unusable(string file, string message) => new("P005", Severity.Error, file, 0, message, Rules.Get("P005").Fix);

    private static bool IsYaml(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);
}
