using System.Diagnostics;
using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace Levee.Benchmarks;

/// <summary>
/// What one removal costs, piece by piece, on a real loopback redis-server: raw DEL; DEL and PUBLISH as two commands, as
/// a batch and as one script, to a channel nobody listens to and to the channel a Levee instance with the backplane
/// subscribes to (the message comes back to that process: the "echo"); then Levee's RemoveAsync with and without the
/// backplane and HybridCache's. Sequential calls, the contenders interleaved round by round, minimum and median of the
/// per-round averages. Usage: <c>Levee.Benchmarks remove-anatomy [ROUNDS] [out.md]</c>.
/// </summary>
internal static class RemoveAnatomy
{
    // A copy of RedisL2Store.RemoveAndPublishScript, which is private; src/Levee/Redis is being split (issue 18), and the
    // "Levee RemoveAsync" row measures the engine's own script anyway. Reference it once the split makes it internal.
    private const string Script = "redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1";
    private const string Message = "0123456789abcdef0123456789abcdef|R|1764150000000|"; // a Levee message's shape and size

    public static async Task<string> RunAsync(int rounds, int callsPerRound = 300)
    {
        await using var redis = await BenchRedis.StartAsync();
        var (levee, leveeOwner) = await Peers.LeveeAsync(redis.Configuration);
        var (single, singleOwner) = await Peers.LeveeAsync(redis.Configuration, backplane: false);
        var (hybrid, hybridOwner) = Peers.Hybrid(redis.Configuration);
        await using var mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var db = mux.GetDatabase();
        var quiet = RedisChannel.Literal("nobody-listens");
        var heard = RedisChannel.Literal(new LeveeOptions().KeyPrefix + "backplane"); // the Levee instance above subscribes to it (default prefix)
        try
        {
            var contenders = new (string Name, Func<string, Task> Call)[]
            {
                ("raw DEL", k => db.KeyDeleteAsync(k)),
                ("raw DEL + PUBLISH (two commands), no subscriber", k => Both(db.KeyDeleteAsync(k), db.PublishAsync(quiet, Message + k))),
                ("raw DEL + PUBLISH (two commands), a subscriber in this process", k => Both(db.KeyDeleteAsync(k), db.PublishAsync(heard, Message + k))),
                ("raw DEL + PUBLISH (one batch), a subscriber in this process", k =>
                {
                    var batch = db.CreateBatch();
                    var removing = batch.KeyDeleteAsync(k);
                    var publishing = batch.PublishAsync(heard, Message + k);
                    batch.Execute();
                    return Both(removing, publishing);
                }),
                ("raw EVAL del + publish (one script), a subscriber in this process", k => db.ScriptEvaluateAsync(Script, [k], [heard.ToString(), Message + k])),
                ("Levee RemoveAsync (backplane on: the script above)", k => levee.RemoveAsync(k).AsTask()),
                ("Levee RemoveAsync, Backplane = false (DEL)", k => single.RemoveAsync(k).AsTask()),
                ("HybridCache (Microsoft default) RemoveAsync (DEL)", k => hybrid.RemoveAsync(k).AsTask()),
            };
            var perRound = contenders.ToDictionary(c => c.Name, _ => new List<double>());
            var keys = Enumerable.Range(0, callsPerRound).Select(i => "remove:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
            for (var round = -1; round < rounds; round++) // round -1 warms up (JIT, script cache)
            {
                foreach (var (name, call) in contenders)
                {
                    var started = Stopwatch.GetTimestamp();
                    foreach (var key in keys)
                    {
                        await call(key);
                    }

                    if (round >= 0)
                    {
                        perRound[name].Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds / keys.Length);
                    }
                }
            }

            var table = new StringBuilder()
                .AppendLine(CultureInfo.InvariantCulture, $"Removal anatomy — sequential calls on a loopback redis-server, interleaved: {rounds} rounds × {callsPerRound} calls per contender per round.")
                .AppendLine()
                .AppendLine("| Contender | Min µs/call | Median µs/call |")
                .AppendLine("|---|---:|---:|");
            foreach (var (name, _) in contenders)
            {
                var values = perRound[name].Order().ToList();
                table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {values[0]:0.0} | {values[values.Count / 2]:0.0} |");
            }

            return table.ToString();
        }
        finally
        {
            await leveeOwner.DisposeAsync();
            await singleOwner.DisposeAsync();
            await hybridOwner.DisposeAsync();
        }

        static async Task Both(Task first, Task second)
        {
            await first.ConfigureAwait(false);
            await second.ConfigureAwait(false);
        }
    }
}
