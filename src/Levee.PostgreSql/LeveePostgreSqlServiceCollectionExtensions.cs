using System.Diagnostics.Metrics;
using Levee;
using Levee.PostgreSql;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the PostgreSQL invalidation channel (<see cref="PostgreSqlInvalidationChannel"/>).</summary>
public static class LeveePostgreSqlServiceCollectionExtensions
{
    /// <summary>
    /// Sends and receives the invalidations of <c>AddLevee</c>'s cache through PostgreSQL LISTEN/NOTIFY too, so that
    /// instances keep each other's L1 coherent when no Redis node answers. Register it before the cache is first resolved.
    /// </summary>
    /// <example><code>
    /// services.AddLevee(o =&gt; o.Redis = "s1:26379,s2:26379,s3:26379,serviceName=mymaster")
    ///         .AddPostgreSqlBackplane(builder.Configuration.GetConnectionString("app")!);
    /// services.AddHealthChecks().AddLevee().AddLeveePostgreSql();
    /// </code></example>
    public static IServiceCollection AddPostgreSqlBackplane(this IServiceCollection services, string connectionString, Action<LeveePostgreSqlOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = CreateOptions(connectionString, LeveePostgreSqlOptions.DefaultChannel, configure);
        services.TryAddSingleton(sp => CreateChannel(sp, options));
        services.TryAddSingleton<ILeveeInvalidationChannel>(static sp => sp.GetRequiredService<PostgreSqlInvalidationChannel>());
        return services;
    }

    /// <summary>
    /// The same for the cache added with <c>AddKeyedLevee(name, ...)</c>: its own listening connection and channel
    /// (<c>levee_{name}</c> unless configured), resolved as the <see cref="ILeveeInvalidationChannel"/> keyed <paramref name="name"/>.
    /// </summary>
    public static IServiceCollection AddKeyedPostgreSqlBackplane(this IServiceCollection services, string name, string connectionString, Action<LeveePostgreSqlOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var options = CreateOptions(connectionString, "levee_" + name, configure);
        services.AddKeyedSingleton(name, (sp, _) => CreateChannel(sp, options));
        services.AddKeyedSingleton<ILeveeInvalidationChannel>(name, static (sp, key) => sp.GetRequiredKeyedService<PostgreSqlInvalidationChannel>(key));
        return services;
    }

    /// <summary>
    /// Adds a health check of the unkeyed PostgreSQL channel: Healthy while its listening connection is open, else
    /// <paramref name="failureStatus"/> (default Degraded: the cache works, other instances' invalidations reach it
    /// through Redis only).
    /// </summary>
    public static IHealthChecksBuilder AddLeveePostgreSql(this IHealthChecksBuilder builder, string name = "levee-postgresql", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(name,
            static sp => new ListeningHealthCheck(sp.GetRequiredService<PostgreSqlInvalidationChannel>()),
            failureStatus ?? HealthStatus.Degraded, tags));
    }

    private static LeveePostgreSqlOptions CreateOptions(string connectionString, string channel, Action<LeveePostgreSqlOptions>? configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var options = new LeveePostgreSqlOptions { ConnectionString = connectionString, Channel = channel };
        configure?.Invoke(options);
        options.Validate();
        return options;
    }

    private static PostgreSqlInvalidationChannel CreateChannel(IServiceProvider sp, LeveePostgreSqlOptions options) =>
        new(options, sp.GetService<ILoggerFactory>()?.CreateLogger("Levee.PostgreSql"), sp.GetService<IMeterFactory>());

    private sealed class ListeningHealthCheck(PostgreSqlInvalidationChannel channel) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(channel.IsListening
                ? HealthCheckResult.Healthy($"listening on '{channel.Channel}'")
                : new HealthCheckResult(context.Registration.FailureStatus, $"not listening on '{channel.Channel}': {channel.LastError ?? "starting"}"));
    }
}
