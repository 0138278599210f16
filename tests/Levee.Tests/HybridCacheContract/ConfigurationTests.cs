using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Levee.Tests.HybridCacheContract;

/// <summary>Options from configuration, as .NET's hosting conventions bind them.</summary>
public class ConfigurationTests
{
    private static IConfigurationRoot Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();

    [Fact]
    public async Task AddLevee_FromAConfigurationSection_BindsTheOptions_AndTakesRedisFromConnectionStrings()
    {
        var config = Config(
            ("ConnectionStrings:redis", "127.0.0.1:1,abortConnect=false"),
            ("Levee:ConnectionName", "redis"),
            ("Levee:DefaultExpiration", "00:10:00"),
            ("Levee:MaximumKeyLength", "200"),
            ("Levee:Gate:MaxLimit", "8"),
            ("Levee:Gate:InitialLimit", "4"));
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(config); // what every .NET host registers
        services.AddLevee(config.GetSection("Levee"), o => o.KeyPrefix = "app:");
        services.Configure<LeveeOptions>(o => o.L1MaxEntries = 500); // honoured too
        await using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<LeveeOptions>>().Value;

        Assert.Equal("127.0.0.1:1,abortConnect=false", options.Redis);
        Assert.Equal(TimeSpan.FromMinutes(10), options.DefaultExpiration);
        Assert.Equal(200, options.MaximumKeyLength);
        Assert.Equal(8, options.Gate.MaxLimit);
        Assert.Equal("app:", options.KeyPrefix);
        Assert.Equal(500, options.L1MaxEntries);
    }

    [Fact]
    public async Task AKeyedCache_TakesRedisFromItsConnectionName()
    {
        var config = Config(("ConnectionStrings:sessions", "127.0.0.1:2,abortConnect=false"));
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(config);
        services.AddKeyedLevee("sessions", o => o.ConnectionName = "sessions");
        await using var provider = services.BuildServiceProvider();
        Assert.Equal("127.0.0.1:2,abortConnect=false", provider.GetRequiredService<IOptionsMonitor<LeveeOptions>>().Get("sessions").Redis);
    }

    [Fact]
    public async Task AConnectionNameWithoutSuchAConnectionString_IsAClearValidationError()
    {
        var config = Config(("Levee:ConnectionName", "missing"));
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(config);
        services.AddLevee(config.GetSection("Levee"));
        await using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<LeveeOptions>>().Value);
        Assert.Contains("ConnectionStrings:missing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidValuesFromConfiguration_AreValidatedAsTheOthers()
    {
        var config = Config(("Levee:JitterFraction", "0.9"));
        var services = new ServiceCollection();
        services.AddLevee(config.GetSection("Levee"));
        await using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<LeveeOptions>>().Value);
        Assert.Contains("JitterFraction", ex.Message, StringComparison.Ordinal);
    }
}
