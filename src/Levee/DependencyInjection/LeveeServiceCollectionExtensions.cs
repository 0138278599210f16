using System.Diagnostics.Metrics;
using Levee;
using Levee.Internal;
using Levee.Redis;
using Levee.Serialization;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Levee in a service collection.</summary>
public static class LeveeServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="LeveeCache"/> as a singleton and as the <see cref="HybridCache"/> implementation, so code
    /// written against HybridCache uses Levee with this one line. Options are validated when the cache is first created
    /// (and at host start when the host validates options on start).
    /// </summary>
    /// <example><code>
    /// services.AddLevee(o =&gt; o.Redis = "s1:26379,s2:26379,s3:26379,serviceName=mymaster");
    /// </code></example>
    public static IServiceCollection AddLevee(this IServiceCollection services, Action<LeveeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<LeveeOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        builder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeveeOptions>, LeveeOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(static sp => Create(sp, sp.GetRequiredService<IOptions<LeveeOptions>>().Value));
        services.TryAddSingleton<HybridCache>(static sp => sp.GetRequiredService<LeveeCache>());
        return services;
    }

    private static LeveeCache Create(IServiceProvider services, LeveeOptions options)
    {
        LeveeOptionsValidator.ThrowIfInvalid(options);
        var loggerFactory = services.GetService<ILoggerFactory>();
        var logger = loggerFactory?.CreateLogger("Levee") ?? Logging.Abstractions.NullLogger.Instance;
        var serializers = new SerializerRegistry(services, services.GetServices<IHybridCacheSerializerFactory>(), options.JsonSerializerOptions);
        IL2Store? l2 = string.IsNullOrWhiteSpace(options.Redis) ? null : new RedisL2Store(options.Redis, options.Name, options.TimeProvider, logger);
        return new LeveeCache(options, l2, serializers, logger, services.GetService<IMeterFactory>());
    }
}
