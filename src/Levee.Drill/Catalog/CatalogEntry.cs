using System.Globalization;

namespace Levee.Drill.Catalog;

/// <summary>
/// A cached catalog row: the key, the row's version (incremented by every write, so a reader can tell
/// that it got a value older than a completed invalidation) and an opaque payload.
/// Public with settable properties because the <c>levee</c> client serializes it through the library.
/// </summary>
public sealed class CatalogEntry
{
    /// <summary>The cache key, e.g. <c>product:42</c>.</summary>
    public string Key { get; set; } = string.Empty;

    /// <summary>The row version at the time it was read from PostgreSQL.</summary>
    public long Version { get; set; }

    /// <summary>The row's data (about 256 characters).</summary>
    public string Payload { get; set; } = string.Empty;

    /// <summary>The compact string form the raw Redis clients store: <c>version|payload</c>.</summary>
    internal string ToRedisValue() => string.Create(CultureInfo.InvariantCulture, $"{Version}|{Payload}");

    internal static CatalogEntry FromRedisValue(string key, string value)
    {
        var bar = value.IndexOf('|', StringComparison.Ordinal);
        if (bar <= 0)
        {
            throw new FormatException($"cached value for '{key}' is not 'version|payload'");
        }

        return new CatalogEntry
        {
            Key = key,
            Version = long.Parse(value.AsSpan(0, bar), NumberStyles.None, CultureInfo.InvariantCulture),
            Payload = value[(bar + 1)..],
        };
    }
}
