using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Levee.Benchmarks;

/// <summary>
/// What the pieces of an L1 hit cost on this machine, measured with the same interleaved harness as the paired tables:
/// the clock reads, a tagged counter increment with and without a metrics listener, and a generic virtual call through
/// an abstract base (how every <c>HybridCache.GetOrCreateAsync</c> call is dispatched) versus the same call on the sealed type.
/// It backs the engine recommendations in docs/benchmarks.md; it is not a peer comparison.
/// </summary>
internal static class Anatomy
{
    private const int Ops = 1_000;

    internal abstract class Base
    {
        public abstract int Get<TState, T>(TState state, T value);
    }

    internal sealed class Sealed : Base
    {
        [MethodImpl(MethodImplOptions.NoInlining)]
        public override int Get<TState, T>(TState state, T value) => value is null ? 0 : 1;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long EmptyLoop()
    {
        long sum = 0;
        for (var i = 0; i < Ops; i++)
        {
            sum += i;
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long TickCountLoop()
    {
        long sum = 0;
        for (var i = 0; i < Ops; i++)
        {
            sum += Environment.TickCount64;
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long TimestampLoop()
    {
        long sum = 0;
        for (var i = 0; i < Ops; i++)
        {
            sum += Stopwatch.GetTimestamp();
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long CounterLoop(Counter<long> counter, KeyValuePair<string, object?> cacheTag)
    {
        for (var i = 0; i < Ops; i++)
        {
            counter.Add(1, cacheTag, new("level", "l1"));
        }

        return Ops;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long VirtualLoop(Base target, Product product)
    {
        long sum = 0;
        for (var i = 0; i < Ops; i++)
        {
            sum += target.Get(i, product);
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long SealedLoop(Sealed target, Product product)
    {
        long sum = 0;
        for (var i = 0; i < Ops; i++)
        {
            sum += target.Get(i, product);
        }

        return sum;
    }

    private static readonly Func<int, CancellationToken, ValueTask<Product>> NoFactory = static (id, _) => new ValueTask<Product>(Product.For(id));

    public static async Task<string> RunAsync(int rounds)
    {
        using var quietMeter = new Meter("Levee.Benchmarks.Anatomy.Quiet");
        using var heardMeter = new Meter("Levee.Benchmarks.Anatomy.Heard");
        var quiet = quietMeter.CreateCounter<long>("hits");
        var heard = heardMeter.CreateCounter<long>("hits");
        long observed = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Levee.Benchmarks.Anatomy.Heard" || instrument.Meter.Name == LeveeTelemetry.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => observed += value);
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => { });
        listener.Start();

        var cacheTag = new KeyValuePair<string, object?>("cache", "default");
        Base viaBase = new Sealed();
        var sealedType = new Sealed();
        var product = Product.For(1);

        // A Levee cache whose meter has a listener attached (as with OpenTelemetry): the L1 hit then pays for the counter.
        var (levee, owner) = await Peers.LeveeAsync(null);
        var keys = Enumerable.Range(0, Ops).Select(i => "product:" + i).ToArray();
        foreach (var (key, i) in keys.Select((k, i) => (k, i)))
        {
            await levee.GetOrCreateAsync(key, i, static (id, _) => new ValueTask<Product>(Product.For(id)));
        }

        Paired.Contender Loop(string name, Func<long> loop) => new(name, Ops, () =>
        {
            GC.KeepAlive(loop());
            return Task.CompletedTask;
        });

        try
        {
            return await Paired.RunAsync("Anatomy of an L1 hit (costs of its parts)", [
                Loop("empty loop (harness overhead)", static () => EmptyLoop()),
                Loop("Environment.TickCount64 (Levee's clock; read twice per hit)", static () => TickCountLoop()),
                Loop("Stopwatch.GetTimestamp", static () => TimestampLoop()),
                Loop("Counter<long>.Add(1, 2 tags), no listener", () => CounterLoop(quiet, cacheTag)),
                Loop("Counter<long>.Add(1, 2 tags), MeterListener attached (no-op callback)", () => CounterLoop(heard, cacheTag)),
                Loop("generic virtual call through the abstract base (as via HybridCache)", () => VirtualLoop(viaBase, product)),
                Loop("same call on the sealed type (as via LeveeCache)", () => SealedLoop(sealedType, product)),
                new("Levee GetOrCreateAsync hit (LeveeCache) with a MeterListener on the Levee meter", Ops, () =>
                {
                    long sum = 0;
                    foreach (var key in keys)
                    {
                        sum += Sync.Result(levee.GetOrCreateAsync(key, 0, static (id, _) => new ValueTask<Product>(Product.For(id)))).Id;
                    }

                    GC.KeepAlive(sum);
                    return Task.CompletedTask;
                }),
            ], levee: null, callsPerBatch: 20, rounds);
        }
        finally
        {
            await owner.DisposeAsync();
            GC.KeepAlive(observed);
        }
    }
}
