using System.Net;
using System.Net.Sockets;
using Levee.Drill.Topology;
using Levee.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.Redis;

/// <summary>
/// Levee over TLS against real redis-server and redis-sentinel processes with certificates made by openssl at test
/// time: a private CA, a server certificate, and mutual TLS (the servers require a client certificate). The private CA
/// and the client certificate can only be given through <see cref="LeveeOptions.ConfigureRedis"/>.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class TlsTests : IAsyncLifetime
{
    private readonly ProcessHost _host = new();
    private TlsCertificates _certs = null!;

    public async Task InitializeAsync() => _certs = await TlsCertificates.CreateAsync(_host.CreateDirectory("certs"));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Standalone_MutualTls_PrivateCa_ThroughConfigureRedis()
    {
        var tlsPort = FreePort();
        var redis = await _host.StartRedisAsync(extraConfig: _certs.ServerConfig(tlsPort));

        await using var app = NewApp($"127.0.0.1:{tlsPort},ssl=true", c => Configure(_certs, c));
        var cache = await RealRedisTests.ConnectedCache(app);
        await cache.SetAsync("k", "over-tls", new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) });
        Assert.Equal(1L, (await redis.ExecuteAsync("EXISTS", "levee:d:0:k")).Number); // written through the TLS port, the only one Levee knows (SetAsync awaited it)
    }

    [Fact]
    public async Task Standalone_WithoutTheClientCertificateAndCa_IsRefused()
    {
        var tlsPort = FreePort();
        var redis = await _host.StartRedisAsync(extraConfig: _certs.ServerConfig(tlsPort));

        // what a connection string alone can say: ssl=true, no private CA, no client certificate; the server logs the
        // handshakes it refused (Levee retries, its connection never becomes available)
        await using var app = NewApp($"127.0.0.1:{tlsPort},ssl=true", configure: null);
        var cache = app.GetRequiredService<LeveeCache>();
        await Eventually.TrueAsync(
            () => File.ReadAllText(redis.LogFile).Contains("Error accepting a client connection", StringComparison.Ordinal),
            TimeSpan.FromSeconds(15),
            "the server never refused a handshake");
        Assert.False(cache.IsL2Available);
    }

    [Fact]
    public async Task Sentinel_MutualTls_TheSentinelConnectionsCarryTheCaAndClientCertificate()
    {
        // the master and the Sentinel speak TLS only to clients that present a certificate of the private CA; the
        // Sentinel monitors the master's TLS port (tls-replication yes), so it names that port to Levee
        var masterTls = FreePort();
        var master = await _host.StartRedisAsync(extraConfig: [.. _certs.ServerConfig(masterTls), "tls-replication yes"]);
        var replicaTls = FreePort();
        var replica = await _host.StartRedisAsync(extraConfig: [.. _certs.ServerConfig(replicaTls), "tls-replication yes", $"replicaof 127.0.0.1 {masterTls}"]);
        await Eventually.TrueAsync(
            async () => (await replica.ExecuteAsync("INFO", "replication")).Text?.Contains("master_link_status:up", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(15), "the replica never synced over TLS");
        var sentinelTls = FreePort();
        await _host.StartSentinelAsync("tlsmaster", masterTls, extraConfig: [.. _certs.ServerConfig(sentinelTls), "tls-replication yes"]);

        await using var app = NewApp($"127.0.0.1:{sentinelTls},serviceName=tlsmaster,ssl=true", c => Configure(_certs, c));
        var cache = await RealRedisTests.ConnectedCache(app);
        await cache.SetAsync("k", "via-sentinel-over-tls", new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) });
        Assert.Equal(1L, (await master.ExecuteAsync("EXISTS", "levee:d:0:k")).Number); // SetAsync awaited its write

        // the replica (named by the Sentinel at its TLS port) gets the replicas' connection, over TLS too
        var store = (Levee.Redis.RedisL2Store)cache.L2Store!;
        await Eventually.TrueAsync(() => store.IsReplicaConnected && store.Current?.Replicas is not null, TimeSpan.FromSeconds(20), "no TLS connection to the replica");
        Assert.Contains(store.Current!.ReplicaEndpoints, e => Levee.Redis.RedisNodes.Format(e) == $"127.0.0.1:{replicaTls}");
    }

    [Fact]
    public async Task Cluster_TlsOnly_EveryMasterIsReadAndWrittenOverTls_TheOthersFoundThroughTheFirst()
    {
        // three masters (and a replica each) listening on TLS only: port 0, tls-cluster yes (the bus, and the ports the
        // nodes announce in CLUSTER NODES and MOVED are the TLS ones), tls-replication yes
        await using var host = new ProcessHost();
        await using var cluster = await ClusterTopology.StartAsync(host, new ClusterTopologyOptions { Tls = true });
        var certs = host.Tls!;
        Assert.Equal(3, cluster.Masters.Count);

        // Levee is told one master only: it reaches the others at the ports the Cluster announces, with the same TLS
        // settings (ConfigureRedis), or not at all (no plain port to fall back on)
        var seed = cluster.Masters[0].Endpoint + ",ssl=true";
        await using var app = NewApp(seed, c => Configure(certs, c));
        var cache = await RealRedisTests.ConnectedCache(app);
        const int keys = 30;
        for (var i = 0; i < keys; i++)
        {
            await cache.SetAsync("k" + i, "v" + i, new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) }); // awaits its SET
        }

        var perMaster = new List<int>();
        foreach (var master in cluster.Masters)
        {
            perMaster.Add((await master.ExecuteAsync("KEYS", "levee:d:0:k*")).Items.Count);
        }

        Assert.True(perMaster.All(n => n > 0), "every master holds some of the keys: " + string.Join(", ", perMaster));
        Assert.Equal(keys, perMaster.Sum());

        // a second instance, which never saw the keys, reads every one from Redis (L1 empty), so from every master
        await using var readerApp = NewApp(seed, c => Configure(certs, c));
        var reader = await RealRedisTests.ConnectedCache(readerApp);
        for (var i = 0; i < keys; i++)
        {
            Assert.Equal("v" + i, await reader.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult("factory"), new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) }));
        }
    }

    [Fact]
    public async Task Cluster_TlsOnly_AClientWithoutThePrivateCa_IsServedByTheFactory_AndTheLogSaysWhy()
    {
        await using var host = new ProcessHost();
        await using var cluster = await ClusterTopology.StartAsync(host, new ClusterTopologyOptions { Tls = true, ReplicasPerMaster = 0 });
        var certs = host.Tls!;

        // the client certificate is presented, but the server's certificate (of the private CA) is not trusted
        var logger = new CollectingLogger();
        await using var app = NewApp(cluster.Masters[0].Endpoint + ",ssl=true", c => c.SetUserPemCertificate(certs.ClientCert, certs.ClientKey), logger);
        var cache = app.GetRequiredService<LeveeCache>();
        Assert.Equal("db", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) }));

        // what the log says depends on where the handshake failed: a failed connect attempt logs StackExchange.Redis's
        // exception ("The remote certificate was rejected ..."); a connection lost before that says only
        // "AuthenticationFailure" (the failure type of a refused TLS handshake)
        await Eventually.TrueAsync(
            () => logger.Rendered.Any(e => e.Contains("certificate", StringComparison.OrdinalIgnoreCase) || e.Contains("AuthenticationFailure", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(20),
            "nothing logged says the TLS handshake was refused");
        Assert.False(cache.IsL2Available);
        Assert.Equal(0L, (await cluster.Masters[0].ExecuteAsync("DBSIZE")).Number); // nothing reached Redis
    }

    private static ServiceProvider NewApp(string redis, Action<StackExchange.Redis.ConfigurationOptions>? configure, CollectingLogger? logger = null)
    {
        var services = new ServiceCollection();
        if (logger is not null)
        {
            services.AddLogging(b => b.AddProvider(new CollectingLoggerProvider(logger)).SetMinimumLevel(LogLevel.Debug));
        }

        services.AddLevee(o =>
        {
            o.Redis = redis;
            o.ConfigureRedis = configure;
        });
        return services.BuildServiceProvider();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Configure(TlsCertificates certs, StackExchange.Redis.ConfigurationOptions options)
    {
        options.TrustIssuer(certs.Ca);
        options.SetUserPemCertificate(certs.ClientCert, certs.ClientKey);
    }
}
