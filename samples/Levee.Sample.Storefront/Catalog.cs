using System.Diagnostics.Metrics;
using Npgsql;

namespace Levee.Sample.Storefront;

public sealed record Product(int Id, string Name, decimal Price, int Version);

public sealed record Category(int Id, string Name);

public sealed record User(int Id, string Name, string Email);

/// <summary>The storefront's database access (PostgreSQL through Npgsql). Every query is counted.</summary>
public sealed class Catalog(NpgsqlDataSource db, IMeterFactory meters)
{
    private readonly Counter<long> _queries = meters.Create("Storefront").CreateCounter<long>("storefront.db.queries", "{query}", "Database queries run by the storefront.");

    /// <summary>The schema and seed rows (<c>catalog.sql</c> next to this file, embedded): idempotent, run once against the database.</summary>
    public static string Sql { get; } = ReadSql();

    public long Queries { get; private set; }

    private NpgsqlCommand Command(string sql)
    {
        _queries.Add(1);
        Queries++;
        return db.CreateCommand(sql);
    }

    public async ValueTask<List<Product>> FeaturedProductsAsync(CancellationToken ct)
    {
        await using var cmd = Command("SELECT id, name, price, version FROM products WHERE featured ORDER BY id");
        return await ReadAsync(cmd, r => new Product(r.GetInt32(0), r.GetString(1), r.GetDecimal(2), r.GetInt32(3)), ct);
    }

    public async ValueTask<List<Category>> ActiveCategoriesAsync(CancellationToken ct)
    {
        await using var cmd = Command("SELECT id, name FROM categories WHERE active ORDER BY id");
        return await ReadAsync(cmd, r => new Category(r.GetInt32(0), r.GetString(1)), ct);
    }

    public async ValueTask<Dictionary<string, string>> SiteSettingsAsync(CancellationToken ct)
    {
        await using var cmd = Command("SELECT key, value FROM site_settings");
        var rows = await ReadAsync(cmd, r => KeyValuePair.Create(r.GetString(0), r.GetString(1)), ct);
        return new Dictionary<string, string>(rows);
    }

    public async ValueTask<User?> UserAsync(int id, CancellationToken ct)
    {
        await using var cmd = Command("SELECT id, name, email FROM users WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        var rows = await ReadAsync(cmd, r => new User(r.GetInt32(0), r.GetString(1), r.GetString(2)), ct);
        return rows.Count == 0 ? null : rows[0];
    }

    public async ValueTask<bool> SetPriceAsync(int id, decimal price, CancellationToken ct)
    {
        await using var cmd = Command("UPDATE products SET price = $2, version = version + 1 WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(price);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    private static string ReadSql()
    {
        using var stream = typeof(Catalog).Assembly.GetManifestResourceStream("catalog.sql")
            ?? throw new InvalidOperationException("catalog.sql is not embedded in " + typeof(Catalog).Assembly.GetName().Name);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static async ValueTask<List<T>> ReadAsync<T>(NpgsqlCommand cmd, Func<NpgsqlDataReader, T> map, CancellationToken ct)
    {
        var list = new List<T>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            list.Add(map(reader));
        }

        return list;
    }
}
