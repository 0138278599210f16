using Levee;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Caching.Hybrid;
using Npgsql;
using OpenTelemetry.Metrics;

namespace Levee.Sample.Storefront;

/// <summary>
/// The reference incident's storefront on Levee: featured products, active categories, site settings and users from
/// PostgreSQL, cached through <see cref="HybridCache"/> (Levee), critical keys warmed before ready, /metrics for Prometheus.
/// Configuration: <c>ConnectionStrings:Postgres</c>, <c>Redis</c> (StackExchange.Redis string; empty = L1 only).
/// </summary>
public static class StorefrontApp
{
    private static readonly HybridCacheEntryOptions FiveMinutes = new() { Expiration = TimeSpan.FromMinutes(5) };
    private static readonly string[] ProductTags = ["products"];

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var postgres = builder.Configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("Set ConnectionStrings:Postgres (e.g. --ConnectionStrings:Postgres=\"Host=127.0.0.1;Port=5432;Username=postgres\").");
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(postgres));
        builder.Services.AddSingleton<Catalog>();

        builder.Services.AddLevee(o => o.Redis = builder.Configuration["Redis"]);
        // the incident's hand-run cache warming, automated: loaded before ready, again after a failover or a data loss
        builder.Services.AddLeveeWarmUp("products:featured", (sp, ct) => sp.GetRequiredService<Catalog>().FeaturedProductsAsync(ct), tags: ProductTags);
        builder.Services.AddLeveeWarmUp("categories:active", (sp, ct) => sp.GetRequiredService<Catalog>().ActiveCategoriesAsync(ct));
        builder.Services.AddLeveeWarmUp("settings:site", (sp, ct) => sp.GetRequiredService<Catalog>().SiteSettingsAsync(ct));

        builder.Services.AddHealthChecks().AddLevee(tags: ["ready"]).AddLeveeWarmUp(tags: ["ready"]);
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(LeveeTelemetry.MeterName, "Storefront")
            .AddPrometheusExporter());

        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = r => r.Tags.Contains("ready") });

        app.MapGet("/products/featured", (HybridCache cache, Catalog db, CancellationToken ct) =>
            cache.GetOrCreateAsync("products:featured", db, static (db, ct) => db.FeaturedProductsAsync(ct), FiveMinutes, ProductTags, ct));
        app.MapGet("/categories/active", (HybridCache cache, Catalog db, CancellationToken ct) =>
            cache.GetOrCreateAsync("categories:active", db, static (db, ct) => db.ActiveCategoriesAsync(ct), FiveMinutes, cancellationToken: ct));
        app.MapGet("/settings/site", (HybridCache cache, Catalog db, CancellationToken ct) =>
            cache.GetOrCreateAsync("settings:site", db, static (db, ct) => db.SiteSettingsAsync(ct), FiveMinutes, cancellationToken: ct));
        app.MapGet("/users/{id:int}", async (int id, HybridCache cache, Catalog db, CancellationToken ct) =>
        {
            var user = await cache.GetOrCreateAsync($"user:{id}", (db, id), static (s, ct) => s.db.UserAsync(s.id, ct), FiveMinutes, cancellationToken: ct);
            return user is null ? Results.NotFound() : Results.Ok(user);
        });
        app.MapPut("/products/{id:int}/price", async (int id, decimal value, HybridCache cache, Catalog db, CancellationToken ct) =>
        {
            if (!await db.SetPriceAsync(id, value, ct))
            {
                return Results.NotFound();
            }

            await cache.RemoveByTagAsync("products", ct); // the featured list may hold it; journaled if Redis is away
            return Results.NoContent();
        });
        return app;
    }
}
