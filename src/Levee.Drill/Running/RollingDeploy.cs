using System.Diagnostics;
using System.Globalization;
using Levee.Drill.Clients;

namespace Levee.Drill.Running;

/// <summary>
/// The <c>deploy</c> scenario's mechanics: the app instances are replaced one by one, as a rolling update of pods
/// (one extra pod at a time, none unavailable). For each instance in turn: a new client is created as a new pod would
/// create it (a new cache object: empty L1, its own new Redis connections; for <c>levee-warmup</c> its warm-up run and
/// readiness probe), traffic moves to it once <see cref="IDrillClientKind.CreateAsync"/> returned (the pod is ready),
/// and the old client is disposed once the requests still using it have finished (at most <see cref="Grace"/> later, as a
/// termination grace period). The instance's PostgreSQL pool is kept. A replacement starts every <c>interval</c> after
/// the fault phase began, and not before the previous one went live; none starts after the fault phase.
/// </summary>
internal sealed class RollingDeploy(
    IDrillClientKind kind,
    RedisTarget target,
    IReadOnlyList<AppInstance> instances,
    IReadOnlyList<string> keysByPopularity,
    Action<string> mark,
    Func<TimeSpan> elapsed)
{
    /// <summary>How long an old client may keep serving the requests it had when it was replaced.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    private readonly List<Task> retirements = [];
    private Task? loop;
    private int replaced;

    /// <summary>App instances.</summary>
    public int Instances => instances.Count;

    /// <summary>Replacements that went live so far.</summary>
    public int Replaced => Volatile.Read(ref replaced);

    /// <summary>Starts replacing instances 0, 1, ... one every <paramref name="interval"/> until each was replaced once or <paramref name="end"/>.</summary>
    public void Start(TimeSpan interval, TimeSpan end, CancellationToken cancellationToken) =>
        loop = Task.Run(() => RunAsync(interval, end, cancellationToken), CancellationToken.None);

    /// <summary>Waits for the replacements and for every old client to be disposed.</summary>
    public async Task FinishAsync()
    {
        if (loop is not null)
        {
            await loop.ConfigureAwait(false);
        }

        Task[] pending;
        lock (retirements)
        {
            pending = [.. retirements];
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private async Task RunAsync(TimeSpan interval, TimeSpan end, CancellationToken cancellationToken)
    {
        var first = elapsed();
        for (var i = 0; i < instances.Count; i++)
        {
            var at = first + (interval * i);
            if (at >= end)
            {
                break;
            }

            var wait = at - elapsed();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            }

            var instance = instances[i];
            var started = Stopwatch.GetTimestamp();
            var next = await kind.CreateClientAsync(target, instance.Index, instance.Store, keysByPopularity, cancellationToken).ConfigureAwait(false);
            var ready = Stopwatch.GetElapsedTime(started);
            var retirement = RetireAsync(instance, next, cancellationToken);
            lock (retirements)
            {
                retirements.Add(retirement);
            }

            var count = Interlocked.Increment(ref replaced);
            mark(string.Create(CultureInfo.InvariantCulture,
                $"deploy: instance {instance.Index} replaced by a new client ({count} of {instances.Count}; created and ready in {ready.TotalSeconds:0.00} s)"));
        }
    }

    private async Task RetireAsync(AppInstance instance, IDrillClient next, CancellationToken cancellationToken)
    {
        var cutOff = await instance.ReplaceAndRetireAsync(next, Grace, cancellationToken).ConfigureAwait(false);
        if (cutOff > 0)
        {
            mark(string.Create(CultureInfo.InvariantCulture,
                $"deploy: instance {instance.Index}'s old client disposed with {cutOff} requests still on it (grace {Grace.TotalSeconds:0} s)"));
        }
    }
}
