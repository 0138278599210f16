using System.Collections.Concurrent;

namespace Levee.Drill.Measurement;

/// <summary>
/// The fault phase's unavoidable database transactions, for any cache whose instances keep only what they read
/// themselves and share every load perfectly: the fault's writes (one UPDATE each), plus each key read in the fault whose
/// current version no instance read before (never read in the run, or written since it was last read). Observed from
/// the load itself (the same for every client of a run: keys and arrivals come from the seed), by scheduled start.
/// </summary>
/// <remarks>
/// Not counted as held: entries a client warmed before the baseline (the drill warms through one instance, whose L1 then
/// holds the whole catalog; the others hold only what they read). A cache that copied another instance's L1 on demand
/// could go below this floor; none of the drill's clients does.
/// </remarks>
internal sealed class FaultFloor(double faultStartSeconds, double faultEndSeconds)
{
    // key -> true while the key's current version has been read by some instance
    private readonly ConcurrentDictionary<string, bool> _readSinceWrite = new(StringComparer.Ordinal);
    private long _faultWrites;
    private long _faultFirstReads;

    /// <summary>Writes plus first reads of a version, in the fault phase.</summary>
    public long Transactions => Interlocked.Read(ref _faultWrites) + Interlocked.Read(ref _faultFirstReads);

    public void Observe(string key, bool isWrite, TimeSpan scheduled)
    {
        var second = scheduled.TotalSeconds;
        var inFault = second >= faultStartSeconds && second < faultEndSeconds;
        if (isWrite)
        {
            _readSinceWrite[key] = false;
            if (inFault)
            {
                Interlocked.Increment(ref _faultWrites);
            }

            return;
        }

        var firstOfVersion = true;
        _readSinceWrite.AddOrUpdate(key, true, (_, seen) =>
        {
            firstOfVersion = !seen;
            return true;
        });
        if (inFault && firstOfVersion)
        {
            Interlocked.Increment(ref _faultFirstReads);
        }
    }
}
