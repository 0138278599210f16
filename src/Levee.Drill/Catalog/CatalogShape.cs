using System.Globalization;

namespace Levee.Drill.Catalog;

/// <summary>
/// The seeded catalog: products, categories, users and the site settings row, and the key universe the
/// load draws from. Rank 0 is the hottest key under Zipf: the site settings, then categories, then a
/// seeded shuffle of products and users.
/// </summary>
internal sealed class CatalogShape
{
    public CatalogShape(int products, int categories, int users, ulong seed)
    {
        Products = products;
        Categories = categories;
        Users = users;
        var keys = new List<string>(1 + categories + products + users) { "settings:site" };
        for (var i = 1; i <= categories; i++)
        {
            keys.Add(Key("category", i));
        }

        var rest = new List<string>(products + users);
        for (var i = 1; i <= products; i++)
        {
            rest.Add(Key("product", i));
        }

        for (var i = 1; i <= users; i++)
        {
            rest.Add(Key("user", i));
        }

        // seeded Fisher-Yates so popularity is not tied to ids
        for (var i = rest.Count - 1; i > 0; i--)
        {
            var j = (int)(Load.DeterministicRandom.Hash(seed, 0x5EED, (ulong)i) % (ulong)(i + 1));
            (rest[i], rest[j]) = (rest[j], rest[i]);
        }

        keys.AddRange(rest);
        KeysByPopularity = keys;
    }

    public int Products { get; }

    public int Categories { get; }

    public int Users { get; }

    public IReadOnlyList<string> KeysByPopularity { get; }

    public static string Key(string kind, int id) => string.Create(CultureInfo.InvariantCulture, $"{kind}:{id}");

    /// <summary>Splits a key into its table and id; only the four known kinds are accepted.</summary>
    public static (string Table, int Id) Parse(string key)
    {
        var colon = key.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? key : key[..colon];
        var table = kind switch
        {
            "product" => "products",
            "category" => "categories",
            "user" => "users",
            "settings" => "site_settings",
            _ => throw new ArgumentException($"unknown catalog key '{key}'", nameof(key)),
        };
        if (table == "site_settings")
        {
            return (table, 1);
        }

        return (table, int.Parse(key.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture));
    }
}
