using Levee.Drill.Topology;
using Levee.PostgreSql;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.PostgreSql.Tests;

/// <summary>A throw-away PostgreSQL (initdb + postgres on a free loopback port, as a non-root user when root), stopped after the class.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync(new PostgresOptions { PgStatStatements = false });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Tests with real processes run one class at a time (a 2-core machine).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealProcesses
{
    public const string Name = "real processes";
}

internal static class Instances
{
    public static readonly LeveeEntryOptions Minute = new() { Expiration = TimeSpan.FromMinutes(1) };

    /// <summary>One application instance: its own container, cache and (when <paramref name="channel"/> is set) PostgreSQL channel.</summary>
    public static ServiceProvider Start(string? redis, string? postgres, string? channel) =>
        Start(redis, postgres, channel, null);

    public static ServiceProvider Start(string? redis, string? postgres, string? channel, Action<LeveePostgreSqlOptions>? configure)
    {
        var services = new ServiceCollection().AddLevee(o =>
        {
            o.Redis = redis;
            o.L2Timeout = TimeSpan.FromSeconds(1);
        });
        if (channel is not null)
        {
            services.AddPostgreSqlBackplane(postgres!, o =>
            {
                o.Channel = channel;
                configure?.Invoke(o);
            });
        }

        return services.BuildServiceProvider();
    }

    /// <summary>The cache, once its Redis is connected (if any) and its channel listens (if any).</summary>
    public static async Task<LeveeCache> ReadyAsync(ServiceProvider app)
    {
        var cache = app.GetRequiredService<LeveeCache>();
        var channel = app.GetService<PostgreSqlInvalidationChannel>();
        await Until(() => (!cache.HasL2 || cache.IsL2Available) && (channel is null || channel.IsListening), "cache not ready (Redis connected, channel listening)");
        return cache;
    }

    public static async Task Until(Func<bool> condition, string what, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out: " + what);
            await Task.Delay(20);
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out: " + what);
            await Task.Delay(20);
        }
    }

    public static string NewChannel() => "t_" + Guid.NewGuid().ToString("N")[..12];
}
