using Levee.Drill.Catalog;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Levee.Drill.Clients;

/// <summary>
/// A built-in kind that needs its app instance's database and the load's key popularity when it creates a client
/// (<c>levee-warmup</c>: its warm-up entries are the hottest keys, loaded through the instance's database on a miss).
/// The drill calls this instead of <see cref="IDrillClientKind.CreateAsync"/> for kinds that implement it.
/// </summary>
internal interface IDatabaseClientKind
{
    Task<IDrillClient> CreateAsync(RedisTarget target, int instance, ICatalogLoader database, IReadOnlyList<string> keysByPopularity, CancellationToken cancellationToken);
}

/// <summary>
/// <c>levee-warmup</c>: the <c>levee</c> client plus Levee's warm-up and readiness, as a service that preloads on
/// deploy would wire it: <c>AddLevee(...)</c>, a warm-up source listing the <see cref="HotKeys"/> most requested
/// keys (the list form of <c>AddLeveeWarmUp</c>: <c>AddLeveeWarmUpSource&lt;T&gt;()</c>), its hosted service started
/// as a host starts it, and <c>AddHealthChecks().AddLeveeWarmUp()</c> as the readiness probe. A new instance takes
/// traffic only once that probe (polled every 100 ms) reports Healthy: <see cref="CreateAsync(RedisTarget, int, ICatalogLoader, IReadOnlyList{string}, CancellationToken)"/>
/// returns then.
/// </summary>
internal sealed class LeveeWarmUpClientKind : IDrillClientKind, IDatabaseClientKind
{
    /// <summary>Keys warmed at start-up: the most requested ones (Zipf 1 over the default 25,201 keys: about 70% of the reads).</summary>
    public const int HotKeys = 1000;

    private static readonly TimeSpan ProbePeriod = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    public string Name => "levee-warmup";

    public string Description =>
        $"the levee-redis-only client (Redis alone, no PostgreSQL channel) plus warm-up of the {HotKeys} hottest keys (AddLeveeWarmUpSource) and readiness (AddHealthChecks().AddLeveeWarmUp()): an instance takes traffic once ready";

    public string? UnavailableReason => null;

    public bool FollowsFailover => true;

    public Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("levee-warmup needs the app instance's database for its warm-up entries (IDatabaseClientKind)");

    public async Task<IDrillClient> CreateAsync(RedisTarget target, int instance, ICatalogLoader database, IReadOnlyList<string> keysByPopularity, CancellationToken cancellationToken)
    {
        var hot = keysByPopularity.Take(HotKeys).ToArray();
        var client = await LeveeClient.StartAsync(
            target,
            services =>
            {
                services.AddSingleton(new HotKeysSource(hot, database));
                services.AddLeveeWarmUpSource<HotKeysSource>();
                services.AddHealthChecks().AddLeveeWarmUp();
                services.TryAddSingleton(typeof(ILogger<>), typeof(NullLogger<>)); // the health check service logs; the drill keeps no logs
            },
            cancellationToken).ConfigureAwait(false);
        try
        {
            await WaitUntilReadyAsync(client.Services.GetRequiredService<HealthCheckService>(), cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken) =>
        LeveeClientKind.WarmThroughAsync((LeveeClient)firstInstance, entries, cancellationToken);

    /// <summary>The readiness probe: the checks tagged <c>ready</c>, until Healthy.</summary>
    private static async Task WaitUntilReadyAsync(HealthCheckService health, CancellationToken cancellationToken)
    {
        var result = await Topology.Poll.TryUntilAsync("levee-warmup to be ready", async ct =>
        {
            var report = await health.CheckHealthAsync(r => r.Tags.Contains("ready"), ct).ConfigureAwait(false);
            return report.Status == HealthStatus.Healthy ? Topology.Probe<bool>.Ready(true) : Topology.Probe<bool>.NotYet(report.Status.ToString());
        }, ReadyTimeout, TimeProvider.System, cancellationToken, Topology.PollInterval.Every(ProbePeriod)).ConfigureAwait(false);
        if (!result.IsReady)
        {
            throw new TimeoutException(result.Failure);
        }
    }

    /// <summary>The hottest keys, each loaded through the instance's database when L2 does not have it.</summary>
    private sealed class HotKeysSource(string[] keys, ICatalogLoader database) : ILeveeWarmUpSource
    {
        public async IAsyncEnumerable<LeveeWarmUpEntry> GetEntriesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            foreach (var key in keys)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return LeveeWarmUpEntry.Create(key, ct => LoadAsWarmUpAsync(database, key, ct));
            }
        }

        private static async ValueTask<CatalogEntry> LoadAsWarmUpAsync(ICatalogLoader database, string key, CancellationToken cancellationToken)
        {
            QueryOrigin.BeginWarmUp(); // counted as warm-up in the report's database load by origin
            return await database.LoadAsync(key, cancellationToken).ConfigureAwait(false);
        }
    }
}
