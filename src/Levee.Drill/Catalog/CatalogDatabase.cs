using System.Globalization;
using Npgsql;

namespace Levee.Drill.Catalog;

/// <summary>
/// Creates the seeded catalog once per drill as a template database, and a fresh copy of it for every
/// client run (<c>CREATE DATABASE ... TEMPLATE</c>), so each client starts from identical rows.
/// Admin work uses unpooled connections so no idle session blocks the template copy.
/// </summary>
internal static class CatalogDatabase
{
    public const string TemplateName = "levee_catalog_template";

    public static async Task CreateTemplateAsync(string adminConnectionString, CatalogShape shape, ulong seed, CancellationToken cancellationToken)
    {
        await ExecuteAsync(adminConnectionString, $"DROP DATABASE IF EXISTS {TemplateName}", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(adminConnectionString, $"CREATE DATABASE {TemplateName}", cancellationToken).ConfigureAwait(false);
        var salt = seed.ToString(CultureInfo.InvariantCulture);
        var sql = string.Create(CultureInfo.InvariantCulture, $"""
            CREATE TABLE categories (id int PRIMARY KEY, version bigint NOT NULL DEFAULT 1, name text NOT NULL, active boolean NOT NULL, payload text NOT NULL);
            CREATE TABLE products (id int PRIMARY KEY, version bigint NOT NULL DEFAULT 1, category_id int NOT NULL, name text NOT NULL,
                                   price numeric(10,2) NOT NULL, featured boolean NOT NULL, payload text NOT NULL);
            CREATE TABLE users (id int PRIMARY KEY, version bigint NOT NULL DEFAULT 1, name text NOT NULL, payload text NOT NULL);
            CREATE TABLE site_settings (id int PRIMARY KEY, version bigint NOT NULL DEFAULT 1, payload text NOT NULL);
            INSERT INTO categories SELECT g, 1, 'category ' || g, true, repeat(md5(g::text || 'c{salt}'), 8) FROM generate_series(1, {shape.Categories}) g;
            INSERT INTO products SELECT g, 1, 1 + g % {shape.Categories}, 'product ' || g, (g % 997) + 0.99, g % 50 = 0,
                                        repeat(md5(g::text || 'p{salt}'), 8) FROM generate_series(1, {shape.Products}) g;
            INSERT INTO users SELECT g, 1, 'user ' || g, repeat(md5(g::text || 'u{salt}'), 8) FROM generate_series(1, {shape.Users}) g;
            INSERT INTO site_settings VALUES (1, 1, repeat(md5('settings{salt}'), 8));
            ANALYZE;
            """);
        await ExecuteAsync(WithDatabase(adminConnectionString, TemplateName), sql, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates (or recreates) a run database copied from the template; returns its connection string.</summary>
    public static async Task<string> CreateRunDatabaseAsync(string adminConnectionString, string name, CancellationToken cancellationToken)
    {
        await ExecuteAsync(adminConnectionString, $"DROP DATABASE IF EXISTS {name}", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(adminConnectionString, $"CREATE DATABASE {name} TEMPLATE {TemplateName}", cancellationToken).ConfigureAwait(false);
        return WithDatabase(adminConnectionString, name);
    }

    /// <summary>Creates an empty database (dropped first if it exists) and returns its connection string.</summary>
    public static async Task<string> CreateEmptyDatabaseAsync(string adminConnectionString, string name, CancellationToken cancellationToken)
    {
        await ExecuteAsync(adminConnectionString, $"DROP DATABASE IF EXISTS {name}", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(adminConnectionString, $"CREATE DATABASE {name}", cancellationToken).ConfigureAwait(false);
        return WithDatabase(adminConnectionString, name);
    }

    /// <summary>Every row as a cache entry, in one query (used to warm the cache before the baseline).</summary>
    public static async Task<IReadOnlyList<CatalogEntry>> ReadAllAsync(string connectionString, CancellationToken cancellationToken)
    {
        var entries = new List<CatalogEntry>();
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            """
            SELECT 'settings:site', version, payload FROM site_settings
            UNION ALL SELECT 'category:' || id, version, payload FROM categories
            UNION ALL SELECT 'product:' || id, version, payload FROM products
            UNION ALL SELECT 'user:' || id, version, payload FROM users
            """,
            connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new CatalogEntry { Key = reader.GetString(0), Version = reader.GetInt64(1), Payload = reader.GetString(2) });
        }

        return entries;
    }

    public static string WithDatabase(string connectionString, string database) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Database = database }.ConnectionString;

    public static string Unpooled(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
#pragma warning disable CA2100 // SQL built from constants and validated identifiers only
        await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
