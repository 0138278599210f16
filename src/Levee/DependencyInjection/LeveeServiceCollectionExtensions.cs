using System.Diagnostics.Metrics;
using Levee;
using Levee.Internal;
using Levee.Redis;
using Levee.Serialization;
using Levee.WarmUp;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
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
    /// <returns>The service collection, to chain warm-up entries (<see cref="AddLeveeWarmUp{T}"/>, <see cref="AddLeveeWarmUpSource{TSource}"/>).</returns>
    /// <example><code>
    /// services.AddLevee(o =&gt;
    ///     {
    ///         o.Redis = "s1:26379,s2:26379,s3:26379,serviceName=mymaster";
    ///         o.Gate = new LeveeGateOptions { MaxLimit = 32 }; // at most 32 concurrent database loads per instance
    ///     })
    ///     .AddLeveeWarmUp("settings", (sp, ct) =&gt; sp.GetRequiredService&lt;SettingsStore&gt;().LoadAsync(ct))
    ///     .AddLeveeWarmUpSource&lt;FeaturedProductsWarmUp&gt;();
    /// services.AddHealthChecks().AddLevee().AddLeveeWarmUp();
    /// </code></example>
    public static IServiceCollection AddLevee(this IServiceCollection services, Action<LeveeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<LeveeOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        builder.PostConfigure<IServiceProvider>(static (o, sp) =>
        {
            ResolveConnectionName(o, sp, null);
            WithHybridCacheOptions(o, sp); // before the validator runs, so a value taken from HybridCacheOptions is checked too
        });
        builder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeveeOptions>, LeveeOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(static sp => Attach(Create(sp, sp.GetRequiredService<IOptions<LeveeOptions>>().Value), sp.GetService<ILeveeInvalidationChannel>()));
        // Levee is the HybridCache, also when AddHybridCache() ran first (it registers Microsoft's with TryAdd, as Levee did)
        services.RemoveAll<HybridCache>();
        services.AddSingleton<HybridCache>(static sp => sp.GetRequiredService<LeveeCache>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, Levee.Snapshot.LeveeSnapshotHostedService>()); // no-op without Snapshot.Path
        if (!services.Any(static d => d.ServiceType == typeof(LeveeStartMarker)))
        {
            services.AddSingleton<LeveeStartMarker>();
            services.AddSingleton<IHostedService>(static sp => new LeveeStartService(sp, null)); // connects at host start
        }

        return services;
    }

    /// <summary>
    /// Registers Levee as <see cref="AddLevee(IServiceCollection, Action{LeveeOptions}?)"/> does, with its options bound from
    /// <paramref name="configuration"/> (e.g. <c>builder.Configuration.GetSection("Levee")</c>; property names as in
    /// <see cref="LeveeOptions"/>), then <paramref name="configure"/>. With <c>"ConnectionName": "redis"</c> in the section
    /// and no <c>Redis</c>, the Redis connection is the application's <c>ConnectionStrings:redis</c>. Validated at start as
    /// the other overload is; <c>services.Configure&lt;LeveeOptions&gt;(...)</c> is honoured too.
    /// </summary>
    /// <example><code>
    /// // appsettings.json: { "ConnectionStrings": { "redis": "redis:6379" }, "Levee": { "ConnectionName": "redis", "DefaultExpiration": "00:10:00" } }
    /// builder.Services.AddLevee(builder.Configuration.GetSection("Levee"));
    /// </code></example>
    public static IServiceCollection AddLevee(this IServiceCollection services, IConfiguration configuration, Action<LeveeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<LeveeOptions>()
            .Bind(configuration)
            .PostConfigure<IServiceProvider>((o, sp) => ResolveConnectionName(o, sp, configuration));
        return services.AddLevee(configure);
    }

    /// <summary>
    /// <see cref="LeveeOptions.ConnectionName"/>: the connection string of that name from the application's configuration
    /// (registered in the container, as every .NET host does), else from the configuration Levee's options were bound from.
    /// </summary>
    private static void ResolveConnectionName(LeveeOptions options, IServiceProvider services, IConfiguration? bound)
    {
        if (string.IsNullOrWhiteSpace(options.ConnectionName) || !string.IsNullOrWhiteSpace(options.Redis))
        {
            return;
        }

        options.Redis = services.GetService<IConfiguration>()?.GetConnectionString(options.ConnectionName)
            ?? bound?.GetConnectionString(options.ConnectionName);
    }

    /// <summary>
    /// Registers one more cache, as a keyed service: <c>[FromKeyedServices("sessions")] HybridCache</c> or
    /// <c>[FromKeyedServices("sessions")] LeveeCache</c> (also <c>GetRequiredKeyedService</c>). It has its own options
    /// (named options <paramref name="name"/>, validated at start), L1, Redis connection, breaker, journal and backplane;
    /// its <see cref="LeveeOptions.Name"/> is <paramref name="name"/> (logs and the metrics' <c>cache</c> tag) and its
    /// <see cref="LeveeOptions.KeyPrefix"/> defaults to <c>levee:{name}:</c>, so its keys and backplane never mix with
    /// another cache's in the same Redis. Warm-up, the L1 snapshot and the health checks serve the cache of
    /// <see cref="AddLevee(IServiceCollection, Action{LeveeOptions}?)"/>.
    /// </summary>
    /// <example><code>
    /// services.AddLevee(o =&gt; o.Redis = "redis:6379");                      // HybridCache / LeveeCache
    /// services.AddKeyedLevee("sessions", o =&gt;                              // [FromKeyedServices("sessions")] HybridCache
    /// {
    ///     o.Redis = "redis:6379";
    ///     o.DefaultExpiration = TimeSpan.FromMinutes(20);
    /// });
    /// </code></example>
    public static IServiceCollection AddKeyedLevee(this IServiceCollection services, string name, Action<LeveeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var builder = services.AddOptions<LeveeOptions>(name).Configure(o =>
        {
            o.Name = name;
            o.KeyPrefix = "levee:" + name + ":";
        });
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        builder.PostConfigure<IServiceProvider>(static (o, sp) => ResolveConnectionName(o, sp, null));
        builder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeveeOptions>, LeveeOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddKeyedSingleton(name, static (sp, key) => Attach(Create(sp, sp.GetRequiredService<IOptionsMonitor<LeveeOptions>>().Get((string)key!)),
            sp.GetKeyedService<ILeveeInvalidationChannel>(key)));
        services.AddKeyedSingleton<HybridCache>(name, static (sp, key) => sp.GetRequiredKeyedService<LeveeCache>(key));
        services.AddSingleton<IHostedService>(sp => new LeveeStartService(sp, name)); // connects at host start
        return services;
    }

    /// <summary>
    /// Registers a critical entry loaded at start-up before the service reports ready (see
    /// <see cref="Microsoft.Extensions.DependencyInjection.LeveeHealthChecksBuilderExtensions.AddLeveeWarmUp"/>), and again
    /// after a Redis failover, reconnection or data loss. The factory runs through the entry's admission gate at warm-up priority.
    /// </summary>
    /// <param name="services">The service collection Levee was added to.</param>
    /// <param name="key">The cache key the application reads.</param>
    /// <param name="factory">Loads the value (a database query), with the application's services: a new service scope per load.</param>
    /// <param name="options">Entry options; use the same as the application's reads of this key.</param>
    /// <param name="tags">Tags of the entry.</param>
    public static IServiceCollection AddLeveeWarmUp<T>(this IServiceCollection services, string key, Func<IServiceProvider, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions? options = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(factory);
        var tagArray = tags is null ? null : tags.ToArray();
        services.AddSingleton<ILeveeWarmUpSource>(sp => new FixedWarmUpSource(LeveeWarmUpEntry.Create(key, ct => LoadInScopeAsync(sp, factory, ct), options, tagArray)));
        AddWarmUpServices(services);
        return services;
    }

    /// <summary>Each warm-up load gets its own service scope (scoped services such as a DbContext are not shared between loads).</summary>
    private static async ValueTask<T> LoadInScopeAsync<T>(IServiceProvider root, Func<IServiceProvider, CancellationToken, ValueTask<T>> factory, CancellationToken cancellationToken)
    {
        var scope = root.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            return await factory(scope.ServiceProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Registers a source that lists warm-up entries each time a warm-up runs (e.g. the currently featured products).
    /// Resolved as a singleton from the container.
    /// </summary>
    public static IServiceCollection AddLeveeWarmUpSource<TSource>(this IServiceCollection services)
        where TSource : class, ILeveeWarmUpSource
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<TSource>();
        services.AddSingleton<ILeveeWarmUpSource>(static sp => sp.GetRequiredService<TSource>());
        AddWarmUpServices(services);
        return services;
    }

    private static void AddWarmUpServices(IServiceCollection services)
    {
        services.TryAddSingleton(static sp => new LeveeWarmUp(
            sp.GetRequiredService<LeveeCache>(),
            sp.GetServices<ILeveeWarmUpSource>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger("Levee.WarmUp")));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, LeveeWarmUpHostedService>());
    }

    private sealed class FixedWarmUpSource(LeveeWarmUpEntry entry) : ILeveeWarmUpSource
    {
        public async IAsyncEnumerable<LeveeWarmUpEntry> GetEntriesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            yield return entry;
        }
    }

    /// <summary>The cache's second invalidation channel, if one is registered (unkeyed for AddLevee's cache, keyed by name for a keyed cache).</summary>
    private static LeveeCache Attach(LeveeCache cache, ILeveeInvalidationChannel? channel)
    {
        if (channel is not null)
        {
            cache.AttachChannel(channel);
        }

        return cache;
    }

    private static readonly HybridCacheOptions HybridCacheDefaults = new(); // its defaults are also Levee's

    /// <summary>
    /// The options an app gave <c>AddHybridCache(o =&gt; ...)</c> (or <c>Configure&lt;HybridCacheOptions&gt;</c>) still hold when
    /// Levee replaces that registration: <c>MaximumKeyLength</c>, <c>MaximumPayloadBytes</c> and <c>DefaultEntryOptions</c> are
    /// taken where <see cref="LeveeOptions"/> keep their defaults (a value set on LeveeOptions wins).
    /// </summary>
    private static void WithHybridCacheOptions(LeveeOptions options, IServiceProvider services)
    {
        if (services.GetService<IOptions<HybridCacheOptions>>()?.Value is not { } hybrid)
        {
            return;
        }

        if (hybrid.MaximumKeyLength != HybridCacheDefaults.MaximumKeyLength && options.MaximumKeyLength == LeveeOptionBounds.MaximumKeyLength.Default)
        {
            options.MaximumKeyLength = hybrid.MaximumKeyLength;
        }

        if (hybrid.MaximumPayloadBytes != HybridCacheDefaults.MaximumPayloadBytes && options.MaximumPayloadBytes == LeveeOptionBounds.MaximumPayloadBytes.Default)
        {
            options.MaximumPayloadBytes = (int)Math.Clamp(hybrid.MaximumPayloadBytes, 0, int.MaxValue); // out of range: the validator says so
        }

        options.DefaultEntryOptions ??= hybrid.DefaultEntryOptions;
    }

    /// <summary>
    /// Builds the cache. The options are validated once, by <see cref="LeveeOptionsValidator"/> when they are first read
    /// (<c>ValidateOnStart</c>: at host start), after every <c>Configure</c> and <c>PostConfigure</c> (the connection name
    /// and the <c>HybridCacheOptions</c> taken over are resolved there); the cache's constructor takes them as they are.
    /// </summary>
    private static LeveeCache Create(IServiceProvider services, LeveeOptions options)
    {
        if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && services.GetService<TimeProvider>() is { } registered)
        {
            options.TimeProvider = registered; // the container's clock, unless the options name one
        }

        var loggerFactory = services.GetService<ILoggerFactory>();
        var logger = loggerFactory?.CreateLogger("Levee") ?? Logging.Abstractions.NullLogger.Instance;
        var serializers = new SerializerRegistry(services, services.GetServices<IHybridCacheSerializerFactory>(), options.JsonSerializerOptions,
            jsonIsDefault: !options.JsonSerializerOptionsSet);
        IL2Store? l2 = string.IsNullOrWhiteSpace(options.Redis) ? null : new RedisL2Store(options.Redis, options.Name, options.TimeProvider, logger, options.ConfigureRedis);
        return new LeveeCache(options, l2, serializers, logger, services.GetService<IMeterFactory>());
    }

    /// <summary>Marks that <see cref="LeveeStartService"/> is registered for the unkeyed cache (AddLevee called twice registers it once).</summary>
    private sealed class LeveeStartMarker;
}
