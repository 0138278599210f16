using Levee.Drill.Catalog;
using StackExchange.Redis;

namespace Levee.Drill.Clients;

/// <summary>Warms Redis for the raw clients: pipelined SETs to the master(s), then waits for the replicas.</summary>
internal static class RawRedisWarmer
{
    public static readonly TimeSpan EntryTtl = TimeSpan.FromMinutes(30);

    public static async Task WarmAsync(RedisTarget target, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken)
    {
        var endpoints = target.IsCluster ? string.Join(',', target.DataEndpoints) : target.MasterEndpoint;
        await using var mux = await ConnectionMultiplexer.ConnectAsync(target.ConfigureTls(ConfigurationOptions.Parse($"{endpoints},connectTimeout=5000,syncTimeout=10000,asyncTimeout=10000"))).ConfigureAwait(false);
        var db = mux.GetDatabase();
        const int Batch = 1000;
        for (var i = 0; i < entries.Count; i += Batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tasks = new List<Task>(Batch);
            for (var j = i; j < Math.Min(entries.Count, i + Batch); j++)
            {
                tasks.Add(db.StringSetAsync(entries[j].Key, entries[j].ToRedisValue(), EntryTtl));
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
        }

        if (!target.IsCluster)
        {
            // replicas must hold the warm cache too before the fault (WAIT numreplicas timeout)
            await db.ExecuteAsync("WAIT", Math.Max(0, target.DataEndpoints.Count - 1), 5000).ConfigureAwait(false);
        }
    }
}
