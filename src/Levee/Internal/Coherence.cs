using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Levee.Internal;

/// <summary>
/// What this instance knows of changes, and the checks every read, load and L1 hit makes against it: where a cached
/// value gets checked against removals. Its state: the change marks of keys (<see cref="ChangeMark"/>) and this
/// instance's sequence of changes, the L1 epoch, the time of the last clear-all, the tag records and the tag horizon,
/// and the shared generation of L2's keys.
/// </summary>
/// <remarks>
/// <para>The API, in the order a load uses it: <see cref="Start"/> (a position, taken before L1 or L2 is read);
/// <see cref="MayCache"/> (may a value read from L2, or a stale value put back, go into L1); <see cref="MayStore"/> (may a
/// value a factory loaded be stored); <see cref="IsValid"/> (is this L1 entry still valid, on every hit); for an entry
/// read from Redis, <see cref="RemovedBeforeCreation"/>. The changes: <see cref="MarkChanged"/>,
/// <see cref="BeginChange"/>/<see cref="EndChange"/>, <see cref="RecordTagInvalidation"/>, <see cref="RaiseAllInvalidated"/>,
/// <see cref="DropLocal"/>.</para>
/// <para>Memory-barrier pairs (each side writes its own state, then a full fence, then reads the other's):
/// (1) a removal (<c>LeveeCache.RemoveAsync</c>: <see cref="BeginChange"/>, fence, empties L1 and reads the key's flight's
/// <c>Writing</c>) against a store (<c>LeveeCache.StoreAsync</c>: writes L1, sets <c>Writing</c> with Interlocked.Exchange,
/// then <see cref="ChangedAfter"/>): either the store sees the change and takes its value back out of L1, or the removal
/// sees <c>Writing</c> and waits for the L2 write before its DEL. (2) a removal against a stale value put back
/// (<c>LeveeCache.ServeStale</c>: writes L1, fence, <see cref="ChangedDuring"/> again): either the removal's L1 removal comes
/// after the put-back, or the put-back sees the mark and removes its value. (3) a flight ends
/// (<c>Flight.Done</c>: Interlocked.Exchange, then reads its completion source) against a removal awaiting it
/// (<c>Flight.Ended</c>: CompareExchange, then reads done).</para>
/// </remarks>
internal sealed class Coherence
{
    private readonly LeveeClock _clock;
    private readonly ConcurrentDictionary<string, ChangeMark> _marks = new(StringComparer.Ordinal); // key -> its last removal or write
    private readonly ConcurrentDictionary<string, TagState> _tags = new(StringComparer.Ordinal); // tag -> its latest invalidation known here
    private long _seq;
    private long _epoch;
    private long _allInvalidatedWall; // RemoveByTagAsync("*")

    /// <summary>
    /// The sequence position of the latest tag invalidation or L1 drop (clear-all, failover): a load that began before it may
    /// return a value that is invalid now, so a caller that comes later does not join it (it waits for it, then reads again).
    /// </summary>
    private long _broadSeq;
    private long _tagHorizonWall; // the latest tag invalidation forgotten by Prune: tagged entries created before it count as invalidated
    private long _generation;
    private volatile bool _generationKnown;

    public Coherence(LeveeClock clock) => _clock = clock;

    /// <summary>Where a load or read started: its position in the sequence of changes, the L1 epoch, and the wall time (Unix ms).</summary>
    public readonly record struct Position(long Seq, long Epoch, long Wall);

    /// <summary>The position now, taken before L1 or L2 is read.</summary>
    public Position Start() => new(CurrentSeq, Epoch, _clock.WallMs);

    public long CurrentSeq => Volatile.Read(ref _seq);

    /// <summary>The L1 epoch: every entry of an older one is invalid (<see cref="DropLocal"/>).</summary>
    public long Epoch => Volatile.Read(ref _epoch);

    public long AllInvalidatedWall => Volatile.Read(ref _allInvalidatedWall);

    /// <summary>Change marks and tag records held (for tests: they must stay bounded).</summary>
    public int Count => _marks.Count + _tags.Count;

    // ---- the checks ----

    /// <summary>May a value read from L2 by a read that started at <paramref name="readSeq"/> (or a stale value it fell
    /// back on) go into L1: no change of the key overlapped or followed the read.</summary>
    public bool MayCache(string key, long readSeq) => !ChangedDuring(key, readSeq);

    /// <summary>May a value a factory loaded be stored (L1, L2): no change of the key began after the factory started
    /// (<paramref name="factorySeq"/>), and no clear-all or L1 drop came since the load started.</summary>
    public bool MayStore(string key, long factorySeq, long epoch, long startedWall) => !ChangedAfter(key, factorySeq) && !ClearedSince(epoch, startedWall);

    /// <summary>
    /// For a value read from L2 by a read that started at <paramref name="readSeq"/>: true when a change of the key
    /// overlapped or followed the read (the value may be the one the change removed; it must not go into L1).
    /// </summary>
    public bool ChangedDuring(string key, long readSeq) => _marks.TryGetValue(key, out var mark) && mark.EndSeq > readSeq;

    /// <summary>
    /// For a value a factory loaded, the factory having started at <paramref name="factorySeq"/>: true when a change of the
    /// key began after that (the source may have changed after the factory read it; the value must not be stored). A
    /// change that began before the factory ran is already in what it read (the data is written before the cache is told).
    /// </summary>
    public bool ChangedAfter(string key, long factorySeq) => _marks.TryGetValue(key, out var mark) && mark.BeginSeq > factorySeq;

    /// <summary>
    /// True when this instance dropped its L1 (a clear-all here or on another instance, a failover) or everything was
    /// invalidated since a load began: its value may predate that, and must go neither into L1 nor into L2, where it would
    /// land in the new generation and other instances would take it.
    /// </summary>
    public bool ClearedSince(long epoch, long startedWall) =>
        epoch != Epoch || startedWall < AllInvalidatedWall; // same ms: the epoch orders them

    /// <summary>A load in flight that started at <paramref name="startSeq"/> may predate a change of the key, a tag
    /// invalidation or an L1 drop: a caller that comes now must not join it.</summary>
    public bool ChangedSince(string key, long startSeq) =>
        (_marks.TryGetValue(key, out var change) && change.BeginSeq > startSeq) || Volatile.Read(ref _broadSeq) > startSeq;

    /// <summary>
    /// True when an L2 entry of <paramref name="key"/> created at <paramref name="createdWall"/> predates a removal this
    /// instance knows of. Such an entry was written by a load that started before the removal and whose SET reached Redis
    /// after the removal's DEL (a race between instances the backplane can't order); it is treated as a miss, and the
    /// load that follows overwrites it.
    /// </summary>
    public bool PredatesKnownRemoval(string key, long createdWall) => _marks.TryGetValue(key, out var mark) && createdWall < mark.Wall;

    /// <summary>An entry from Redis (or shared through the replicas) created at <paramref name="createdWall"/> that a
    /// clear-all or a known removal of the key came after: a miss.</summary>
    public bool RemovedBeforeCreation(string key, long createdWall) => createdWall <= AllInvalidatedWall || PredatesKnownRemoval(key, createdWall);

    /// <summary>Is this L1 entry still valid: of the current epoch, created after the last clear-all, no tag invalidated since.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValid(CacheEntry entry) =>
        entry.Epoch == Volatile.Read(ref _epoch)
        && (entry.CreatedWall > Volatile.Read(ref _allInvalidatedWall) || ClearedBefore(entry))
        && (entry.Tags is null || !IsTagInvalidated(entry.Tags, entry.CreatedWall, entry.CreatedSeq));

    /// <summary>
    /// An entry this instance loaded in the same millisecond as the last clear-all: valid when its load began after the
    /// clear. Every clear-all drops this instance's L1 (a new epoch) after raising the time, so a load of the current epoch
    /// began after it (<see cref="IsValid"/> checks the epoch first).
    /// </summary>
    private bool ClearedBefore(CacheEntry entry) => entry.CreatedSeq >= 0 && entry.CreatedWall == Volatile.Read(ref _allInvalidatedWall);

    /// <summary>
    /// Whether a tag of an entry created at <paramref name="createdWall"/> was invalidated since. Within one millisecond the
    /// order is this instance's sequence of changes: an invalidation recorded (made here, received, or read from Redis)
    /// before the entry's load began (<paramref name="createdSeq"/>) does not invalidate it; without a sequence (an entry
    /// from Redis) a tie counts as invalidated.
    /// </summary>
    public bool IsTagInvalidated(string[] tags, long createdWall, long createdSeq)
    {
        if (tags.Length > 0 && createdWall <= Volatile.Read(ref _tagHorizonWall))
        {
            return true; // one of its tags may have been invalidated after it was created; that record is forgotten
        }

        foreach (var tag in tags)
        {
            if (_tags.TryGetValue(tag, out var state) && (state.InvalidatedWall > createdWall
                || (state.InvalidatedWall == createdWall && (createdSeq < 0 || state.Seq > createdSeq))))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a tag's invalidation time must be read from Redis again (never read, or read longer ago than <paramref name="intervalMs"/>).</summary>
    public bool TagNeedsRead(string tag, long nowMono, long intervalMs) =>
        !_tags.TryGetValue(tag, out var state) || state.CheckedMono == long.MinValue || nowMono - state.CheckedMono >= intervalMs;

    // ---- the changes ----

    /// <summary>
    /// Records a change of <paramref name="key"/> made at <paramref name="wall"/> (Unix ms; here or, from the backplane, by
    /// another instance). <paramref name="removal"/> says what it tells of the key's L2 entry: nothing (a set), a removal
    /// the master has seen (its DEL ran before it was told), or one that was journaled (<see cref="ChangeMark.Unconfirmed"/>).
    /// </summary>
    public void MarkChanged(string key, long wall, RemovalState removal = RemovalState.None)
    {
        var seq = Interlocked.Increment(ref _seq);
        _marks.AddOrUpdate(key,
            static (_, a) => new ChangeMark(a.seq, a.seq, a.mono, a.wall, 0, a.removal == RemovalState.Journaled),
            static (_, old, a) => new ChangeMark(a.seq, old.Pending > 0 ? ChangeMark.InProgress : a.seq, a.mono, Math.Max(old.Wall, a.wall), old.Pending,
                a.removal == RemovalState.Journaled || (old.Unconfirmed && !(a.removal == RemovalState.Done && a.wall >= old.Wall))),
            (seq, mono: _clock.MonoMs, wall, removal));
    }

    /// <summary>A change of <paramref name="key"/> that takes time (a removal) begins; <see cref="EndChange"/> ends it.
    /// Followed by a full fence: pair (1) of the remarks (the caller then empties L1 and reads the flight's Writing).</summary>
    public void BeginChange(string key, long wall)
    {
        var seq = Interlocked.Increment(ref _seq);
        _marks.AddOrUpdate(key,
            static (_, a) => new ChangeMark(a.seq, ChangeMark.InProgress, a.mono, a.wall, 1),
            static (_, old, a) => new ChangeMark(a.seq, ChangeMark.InProgress, a.mono, Math.Max(old.Wall, a.wall), old.Pending + 1, old.Unconfirmed),
            (seq, mono: _clock.MonoMs, wall));
        Interlocked.MemoryBarrier(); // pairs with StoreAsync (it sets Writing, then reads the marks) and ServeStale (it writes L1, then reads them)
    }

    public void EndChange(string key)
    {
        var seq = Interlocked.Increment(ref _seq);
        _marks.AddOrUpdate(key,
            static (_, a) => new ChangeMark(a.seq, a.seq, a.mono, long.MinValue, 0), // not expected: a mark with a change running is never pruned
            static (_, old, a) => old.Pending > 1
                ? old with { Pending = old.Pending - 1, Mono = a.mono }
                : new ChangeMark(old.BeginSeq, a.seq, a.mono, old.Wall, 0, old.Unconfirmed),
            (seq, mono: _clock.MonoMs));
    }

    /// <summary>
    /// Redis no longer holds an entry of <paramref name="key"/> created before <paramref name="wall"/> (its DEL ran on the
    /// master, or a newer value was written or found there): a journaled removal up to then is confirmed, and its mark
    /// may be forgotten like any other (a minute from now).
    /// </summary>
    public void ConfirmRemoval(string key, long wall)
    {
        while (_marks.TryGetValue(key, out var mark) && mark.Unconfirmed && mark.Wall <= wall)
        {
            if (_marks.TryUpdate(key, mark with { Unconfirmed = false, Mono = _clock.MonoMs }, mark))
            {
                return;
            }
        }
    }

    /// <summary>A removal of <paramref name="key"/> did not reach the master (journaled): its mark is kept until it has.</summary>
    public void MarkUnconfirmed(string key)
    {
        while (_marks.TryGetValue(key, out var mark) && !mark.Unconfirmed)
        {
            if (_marks.TryUpdate(key, mark with { Unconfirmed = true }, mark))
            {
                return;
            }
        }
    }

    /// <summary>Removals not known to have reached the master (at most <paramref name="max"/>, none still running, none
    /// <paramref name="skip"/> says are still journaled here), with their wall time.</summary>
    public List<(string Key, long Wall)>? Unconfirmed(Func<string, bool> skip, int max)
    {
        List<(string Key, long Wall)>? found = null;
        foreach (var (key, mark) in _marks)
        {
            if (mark.Unconfirmed && mark.EndSeq != ChangeMark.InProgress && !skip(key))
            {
                (found ??= []).Add((key, mark.Wall));
                if (found.Count == max)
                {
                    break;
                }
            }
        }

        return found;
    }

    public void RecordTagInvalidation(string tag, long wall, bool checkedNow)
    {
        var nowMono = _clock.MonoMs;

        // the invalidation happened before this record: a load that begins after it (a later sequence position) read newer data
        var seq = Interlocked.Increment(ref _seq);
        var known = _tags.TryGetValue(tag, out var before) ? before.InvalidatedWall : 0;
        if (!checkedNow || wall > known)
        {
            Atomic.Max(ref _broadSeq, seq); // a new invalidation (not a re-read of a known one): loads running now may predate it
        }

        _tags.AddOrUpdate(tag,
            static (_, a) => new TagState(a.wall, a.checkedNow ? a.nowMono : long.MinValue, a.seq),
            // the position never goes back: a record of the same time made concurrently took its position earlier and may
            // land later (the soak test saw entries created between the two positions come back as valid)
            static (_, old, a) => new TagState(Math.Max(old.InvalidatedWall, a.wall), a.checkedNow ? a.nowMono : old.CheckedMono,
                a.wall > old.InvalidatedWall ? a.seq : a.wall == old.InvalidatedWall ? Math.Max(old.Seq, a.seq) : old.Seq),
            (wall, checkedNow, nowMono, seq));
    }

    /// <summary>Everything created up to <paramref name="wall"/> (Unix ms) is invalidated.</summary>
    public void RaiseAllInvalidated(long wall) => Atomic.Max(ref _allInvalidatedWall, wall);

    /// <summary>Every L1 entry of this instance becomes invalid (a new epoch), and loads running now may predate it.</summary>
    public void DropLocal()
    {
        Interlocked.Increment(ref _epoch);
        Atomic.Max(ref _broadSeq, Interlocked.Increment(ref _seq));
    }

    // ---- the generation of L2's keys ----

    public bool GenerationKnown => _generationKnown;

    public long Generation => Volatile.Read(ref _generation);

    /// <summary>Takes <paramref name="generation"/>; true when it replaced a different known one (the caller drops L1).</summary>
    public bool ApplyGeneration(long generation)
    {
        var known = _generationKnown;
        var previous = Interlocked.Exchange(ref _generation, generation);
        _generationKnown = true;
        return known && previous != generation;
    }

    // ---- forgetting ----

    /// <summary>
    /// Forgets what no read can need any more: change marks older than a minute (an L2 read lasts far less; a factory still
    /// running, started at <paramref name="oldestFactorySeq"/> or later, keeps the marks of changes that began after it
    /// started), tag records that only say "not invalidated" and are due to be read again anyway, and tag invalidations
    /// older than <paramref name="oldestKeptWall"/> (L2 forgets them too; an entry with tags created before such an
    /// invalidation is treated as invalidated from then on, see <see cref="IsTagInvalidated"/>).
    /// </summary>
    public void Prune(long oldestFactorySeq, long tagCheckIntervalMs, long oldestKeptWall)
    {
        var nowMono = _clock.MonoMs;
        var horizon = nowMono - 60_000;
        foreach (var (key, mark) in _marks)
        {
            if (mark.Mono < horizon && mark.EndSeq != ChangeMark.InProgress && mark.BeginSeq <= oldestFactorySeq && !mark.Unconfirmed)
            {
                _marks.TryRemove(new KeyValuePair<string, ChangeMark>(key, mark));
            }
        }

        foreach (var (tag, state) in _tags)
        {
            if (state.InvalidatedWall > 0 && state.InvalidatedWall < oldestKeptWall)
            {
                Atomic.Max(ref _tagHorizonWall, state.InvalidatedWall);
                _tags.TryRemove(new KeyValuePair<string, TagState>(tag, state));
            }
            else if (state.InvalidatedWall <= 0 && (state.CheckedMono == long.MinValue || nowMono - state.CheckedMono >= tagCheckIntervalMs))
            {
                _tags.TryRemove(new KeyValuePair<string, TagState>(tag, state));
            }
        }
    }

    /// <summary>What a change of a key tells of its L2 entry.</summary>
    public enum RemovalState
    {
        None,
        Done,
        Journaled,
    }

    /// <summary>
    /// A key's changes as far as reads and loads care: when the latest one began (<see cref="BeginSeq"/>), when the last one
    /// ended (<see cref="EndSeq"/>, <see cref="InProgress"/> while any is still running: <see cref="Pending"/> of them), the
    /// latest wall time of a removal (<see cref="Wall"/>) and when the mark last changed (<see cref="Mono"/>, for pruning).
    /// Sequence numbers are exact where a millisecond clock (4 ms coarse on Linux) would make every load that starts in
    /// the same tick as a removal look like it overlapped it. Changes of one key overlap (a removal whose DEL is slow, then
    /// a SetAsync): every update merges, so a change that ends last never hides one that began after it.
    /// </summary>
    /// <remarks>
    /// <see cref="Unconfirmed"/>: the removal is not known to have reached the master (it was journaled here, or learnt
    /// through the replicas from an instance that journaled it). While it is, Redis may still hold the removed value (the
    /// replicas do, and so does the master once it is back until the DEL is replayed), so the mark is kept however long
    /// the fault lasts; it is confirmed by the DEL (here, by the replay, or by another instance telling it through the
    /// master), by an L2 write of a newer value, or by a read of the master that finds no older entry.
    /// </remarks>
    private readonly record struct ChangeMark(long BeginSeq, long EndSeq, long Mono, long Wall, int Pending, bool Unconfirmed = false)
    {
        public const long InProgress = long.MaxValue;
    }

    /// <summary>A tag's latest invalidation known here (Unix ms), when it was last read from Redis, and the position in this
    /// instance's sequence of changes when that invalidation was recorded (orders it against loads in the same millisecond).</summary>
    private readonly record struct TagState(long InvalidatedWall, long CheckedMono, long Seq);
}
