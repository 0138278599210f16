using Levee.Drill.Clients;
using Levee.Drill.Topology;
using StackExchange.Redis;

namespace Levee.Drill.Tests.Clients;

/// <summary><c>levee drill --tls</c>: what the run's Redis target tells its clients.</summary>
public sealed class RedisTargetTlsTests
{
    [Fact]
    public async Task WithTls_TheConfigurationAsksForTls_AndConfigureTlsConnectsToATlsOnlyServer()
    {
        // a redis-server listening on TLS only, client certificates required, as every process of a --tls run
        await using var host = new ProcessHost();
        var certs = await host.UseTlsAsync();
        var redis = await host.StartRedisAsync();
        Assert.Same(certs, redis.Tls);
        Assert.Equal("PONG", (await redis.ExecuteAsync("PING")).Text); // the launcher's own commands speak TLS too
        var target = new RedisTarget("sentinel", redis.Endpoint, [], "mymaster", [redis.Endpoint]) { Tls = certs };
        Assert.EndsWith(",ssl=true", target.Configuration, StringComparison.Ordinal);

        await using (var connected = await ConnectionMultiplexer.ConnectAsync(target.ConfigureTls(ConfigurationOptions.Parse(redis.Endpoint + ",abortConnect=false,connectTimeout=5000"))))
        {
            Assert.True(connected.IsConnected);
            var db = connected.GetDatabase();
            Assert.True(await db.StringSetAsync("k", "over-tls"));
            Assert.Equal("over-tls", (string?)await db.StringGetAsync("k"));
        }

        // the string alone (ssl=true, no private CA, no client certificate) does not connect: ConfigureTls is what does
        await using var refused = await ConnectionMultiplexer.ConnectAsync(ConfigurationOptions.Parse(redis.Endpoint + ",ssl=true,abortConnect=false,connectTimeout=1000"));
        Assert.False(refused.IsConnected);

        // the moved copy a fixed-endpoint client gets after a repair keeps TLS
        Assert.Same(certs, (target with { MasterEndpoint = "127.0.0.1:2" }).Tls);
    }

    [Fact]
    public void WithoutTls_TheConfigurationAndTheOptionsAreUnchanged()
    {
        var target = new RedisTarget("sentinel", "127.0.0.1:1", ["127.0.0.1:3", "127.0.0.1:4"], "mymaster", ["127.0.0.1:1"]);
        Assert.Equal("127.0.0.1:3,127.0.0.1:4,serviceName=mymaster", target.Configuration);
        Assert.False(target.ConfigureTls(ConfigurationOptions.Parse(target.Configuration)).Ssl);
    }

    [Fact]
    public void DrillOptions_TlsIsOffByDefault_AndValidEitherWay()
    {
        Assert.False(new DrillOptions().Tls);
        Assert.Empty(new DrillOptions { Tls = true }.Validate());
    }
}
