using System.Collections.Concurrent;
using System.Globalization;
using Levee.Internal;

namespace Levee;

internal enum BackplaneMessageKind
{
    Set = 'S',
    Remove = 'R',
    RemoveTag = 'T',
    Clear = 'C',

    /// <summary>A value loaded while the master was unreachable, shared through the replicas (LeveeCache.Degraded.cs).</summary>
    Value = 'V',

    /// <summary>An instance starts loading a key while the master is unreachable; its value follows as <see cref="Value"/>.</summary>
    Loading = 'L',

    /// <summary>As <see cref="Loading"/>, for a background refresh: receivers count it against their degraded-mode refresh budget.</summary>
    Refreshing = 'F',

    /// <summary>An instance whose subscription on the replicas was lost and is back asks the others to send their journaled
    /// invalidations through the replicas again (it may have missed some).</summary>
    ResendRequest = 'Q',

    /// <summary>An instance's message to itself, on its own channel on the replicas: once it arrives, that subscription
    /// listens again and the <see cref="ResendRequest"/> goes out (answers sent before it would be missed).</summary>
    ListenCheck = 'P',
}

public sealed partial class LeveeCache
{
    // Message: "<instance>|<kind>|<wall ms>|<subject>" on channel "<prefix>backplane".
    private readonly string _instanceId = Guid.NewGuid().ToString("N");

    /// <summary>This instance's id on the backplane (for tests).</summary>
    internal string InstanceId => _instanceId;

    private string BackplaneChannel => _options.KeyPrefix + "backplane";

    /// <summary>The channel of messages published on the replicas while the master is unreachable (its own name: the
    /// master's messages reach the replicas' subscribers too, and must not arrive twice).</summary>
    private string ReplicaBackplaneChannel => _options.KeyPrefix + "backplane:r";

    private void StartBackplane()
    {
        if (!_options.Backplane)
        {
            return;
        }

        _guard?.Store.Subscribe(BackplaneChannel, OnBackplaneMessage);
        _guard?.Store.SubscribeReplicas(ReplicaBackplaneChannel, m => OnBackplaneMessage(m, viaReplicas: true), OnReplicasResubscribed);
        _guard?.Store.SubscribeReplicas(ResendChannel(_instanceId), m => OnBackplaneMessage(m, viaReplicas: true));
    }

    /// <summary>An instance id as this version makes them (32 hexadecimal digits).</summary>
    private static bool IsInstanceId(string id) => id.Length == 32 && id.AsSpan().IndexOfAnyExcept(HexDigits) < 0;

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdef");

    /// <summary>The replicas' channel on which the instance <paramref name="instanceId"/> alone listens: the journals it
    /// asked for are sent there (not to every instance: a fleet of N would receive each of them N times).</summary>
    private string ResendChannel(string instanceId) => string.Concat(ReplicaBackplaneChannel, ":", instanceId);

    /// <summary>
    /// A backplane message that could not go through the master: published on the replicas, so that the other instances
    /// (each listening on one replica) drop their L1 copy now rather than when the master is back. A message that must
    /// reach every instance (<paramref name="mustArrive"/>: a removal, tag removal, clear-all or lost set) and that did
    /// not reach every connected replica is kept and sent again by the maintenance until it does
    /// (<see cref="ResendThroughReplicasAsync"/>); it is journaled anyway and replayed through the master.
    /// </summary>
    private async ValueTask PublishThroughReplicasAsync(string message, bool mustArrive = false)
    {
        if (await TryPublishThroughReplicasAsync(message, evenIfBreakerOpen: mustArrive).ConfigureAwait(false))
        {
            _metrics.Backplane("sent_via_replicas");
        }
        else if (mustArrive)
        {
            HoldForReplicas(message);
        }
    }

    /// <summary>Publishes through the replicas; a message that must arrive (<paramref name="evenIfBreakerOpen"/>) is tried
    /// while this instance's replica breaker is open too (<see cref="Internal.L2Guard.TryEvenIfOpenAsync"/>). True when
    /// every connected replica took it.</summary>
    private async ValueTask<bool> TryPublishThroughReplicasAsync(string message, bool evenIfBreakerOpen = false, string? channel = null)
    {
        var call = static (IL2Store store, (string channel, string message) a) => store.PublishToReplicasAsync(a.channel, a.message);
        var arg = (channel ?? ReplicaBackplaneChannel, message);
        var sent = evenIfBreakerOpen
            ? await _replicaGuard!.TryEvenIfOpenAsync("publish-replicas", call, arg).ConfigureAwait(false)
            : await _replicaGuard!.TryAsync("publish-replicas", call, arg).ConfigureAwait(false);
        return sent is { Success: true, Value: true };
    }

    // Messages that must reach every instance, published through the replicas while the master was unreachable, that
    // did not reach every connected replica: a replica delivers only to its own subscribers, and a PUBLISH that timed
    // out on a starved machine may never have been written. Measured before they were kept (the incident drill with
    // the machine loaded, levee-warmup): 1,167 reads of removed values in 8 s after 13 publishes reached no replica,
    // the instances that missed them reading the replicas' older entries. Sent again in order by the maintenance.
    private readonly ConcurrentQueue<string> _replicaOutbox = new();
    private int _replicaOutboxCount;

    // 1: the journal's invalidations are all sent to every instance through the replicas again at the next maintenance
    // (the outbox overflowed, or more instances asked than are tracked below)
    private int _resendJournalThroughReplicas;

    // instances that asked for this instance's journal (having missed messages): each is sent it on its own channel
    private readonly ConcurrentDictionary<string, byte> _journalAskedBy = new(StringComparer.Ordinal);

    /// <summary>Requests for the journal tracked one by one; past it, the journal goes once to every instance.</summary>
    private const int JournalRequestsMax = 1_000;

    /// <summary>At most this many removals known here are sent again for an overflowed journal (a bound on the burst).</summary>
    internal const int ResentMarksMax = 100_000;

    /// <summary>Messages kept to be sent through the replicas again (for tests).</summary>
    internal int ReplicaOutboxCount => Volatile.Read(ref _replicaOutboxCount);

    private int _resentThroughReplicas;

    /// <summary>Messages sent through the replicas again, kept ones and journaled ones (for tests).</summary>
    internal int ResentThroughReplicas => Volatile.Read(ref _resentThroughReplicas);

    private void HoldForReplicas(string message)
    {
        if (Interlocked.Increment(ref _replicaOutboxCount) > _options.InvalidationJournalCapacity)
        {
            Interlocked.Decrement(ref _replicaOutboxCount);
            Volatile.Write(ref _resendJournalThroughReplicas, 1); // the journal holds every one of them
            return;
        }

        _replicaOutbox.Enqueue(message);
    }

    /// <summary>This instance's subscription on the replicas starts listening, or was lost and is back: it asks the others
    /// for what it may have missed (an instance answers only while it holds journaled invalidations, i.e. while its master
    /// is, or was, away). A new instance started during an outage learns that way of the removals made before it.</summary>
    private void OnReplicasResubscribed()
    {
        if (_disposed != 0 || _guard is null || !_options.Backplane)
        {
            return;
        }

        Interlocked.Increment(ref _listenCheckSent); // a check sent before does not vouch for this subscription
        Volatile.Write(ref _replicasUntrusted, 1);
        Volatile.Write(ref _askForResendThroughReplicas, 1); // sent by the maintenance (this may run while the cache is built)
        if (_maintenance is not null) // (null while the constructor runs)
        {
            RunMaintenance(); // now, not at the next tick: until it asked, this instance reads nothing from the replicas
        }
    }

    // 1: until the request for the journals went out, a read does not take an entry from the replicas (it is a miss
    // there: L1's stale value or the factory): this instance's subscription there started, or came back, and it may not know the removals made meanwhile whose DEL the replicas have not seen (a new instance
    // started during an outage read the replicas' entries of keys removed before it: 71 such reads in the drill's
    // incident-deploy). Once it listens (its check came back) and asked, the answers are on their way (each instance
    // sends its journal at once when asked); a read in between may still take an entry they drop.
    private int _replicasUntrusted;

    /// <summary>False while this instance may have missed removals the replicas' entries predate (see above).</summary>
    private bool ReplicasTrusted => Volatile.Read(ref _replicasUntrusted) == 0;

    // 1: this instance's subscription on the replicas came back; the maintenance asks the others to send their journals again
    private int _askForResendThroughReplicas;

    // The request for the journals waits until this instance hears its own message on its own replicas' channel
    // (ListenCheck): StackExchange.Redis reports a subscription connection restored before it has subscribed its
    // channels again, and the journals asked for are sent once, on that channel. _listenCheckSent numbers the checks
    // (a new one at every resubscription); _listenCheckHeard is the last number heard back.
    private long _listenCheckSent;
    private long _listenCheckHeard;

    /// <summary>Listen checks this instance sent, and the last it heard back (for tests).</summary>
    internal (long Sent, long Heard) ListenChecks => (Volatile.Read(ref _listenCheckSent), Volatile.Read(ref _listenCheckHeard));

    private void OnOwnMessageThroughReplicas(string message)
    {
        // "<instance>|P|<wall>|<number>"
        var rest = message.AsSpan(_instanceId.Length);
        if (rest.StartsWith("|P|") && rest[3..].IndexOf('|') is var at and >= 0
            && long.TryParse(rest[(3 + at + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
        {
            InterlockedMax(ref _listenCheckHeard, number);
            if (Volatile.Read(ref _askForResendThroughReplicas) == 1)
            {
                RunMaintenance(); // the request can go now, not at the next tick
            }
        }
    }

    private static void InterlockedMax(ref long location, long value)
    {
        var current = Volatile.Read(ref location);
        while (value > current && Interlocked.CompareExchange(ref location, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    /// <summary>The request for the others' journals, once this instance hears itself on its own replicas' channel: a
    /// check is sent (each maintenance until one comes back), then the request. True when the request went out.</summary>
    private async ValueTask<bool> AskForJournalsThroughReplicasAsync()
    {
        var check = Volatile.Read(ref _listenCheckSent);
        if (Volatile.Read(ref _listenCheckHeard) < check)
        {
            _ = await TryPublishThroughReplicasAsync(BackplaneMessage(BackplaneMessageKind.ListenCheck, check.ToString(CultureInfo.InvariantCulture)),
                evenIfBreakerOpen: true, ResendChannel(_instanceId)).ConfigureAwait(false);
            if (Volatile.Read(ref _listenCheckHeard) < check)
            {
                return false; // not heard yet (it usually comes back within milliseconds): the next maintenance looks again
            }
        }

        if (!await TryPublishThroughReplicasAsync(BackplaneMessage(BackplaneMessageKind.ResendRequest, null), evenIfBreakerOpen: true).ConfigureAwait(false))
        {
            return false;
        }

        if (Volatile.Read(ref _listenCheckSent) == check) // (not when the subscription was lost again meanwhile)
        {
            Volatile.Write(ref _replicasUntrusted, 0);
        }

        return true;
    }

    /// <summary>Once the master answered and this instance's journal was replayed, what it kept for the replicas went out
    /// through the master (the replay publishes every journaled invalidation there).</summary>
    private void DropReplicaOutbox()
    {
        while (Volatile.Read(ref _replicaOutboxCount) > 0 && _replicaOutbox.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _replicaOutboxCount);
        }

        Volatile.Write(ref _resendJournalThroughReplicas, 0);
        _journalAskedBy.Clear();
    }

    /// <summary>
    /// Part of the maintenance while the master is unreachable: asks the others for their journals if this instance's
    /// subscription on the replicas came back, sends the kept messages through the replicas again, in order, and the
    /// whole journal when asked. Stops at the first that does not reach every connected replica (the next maintenance
    /// goes on from there). Once the master answers and the journal is replayed, nothing is kept (<see cref="DropReplicaOutbox"/>).
    /// </summary>
    private async ValueTask ResendThroughReplicasAsync()
    {
        if (_replicaGuard is null || !_guard!.Store.IsReplicaConnected
            || (Volatile.Read(ref _replicaOutboxCount) == 0 && Volatile.Read(ref _resendJournalThroughReplicas) == 0
                && Volatile.Read(ref _askForResendThroughReplicas) == 0 && _journalAskedBy.IsEmpty))
        {
            return;
        }

        if (Interlocked.Exchange(ref _askForResendThroughReplicas, 0) == 1 && !await AskForJournalsThroughReplicasAsync().ConfigureAwait(false))
        {
            Volatile.Write(ref _askForResendThroughReplicas, 1);
        }

        if (Interlocked.Exchange(ref _resendJournalThroughReplicas, 0) == 1)
        {
            _journalAskedBy.Clear(); // every instance hears it
            if (!await SendJournalThroughReplicasAsync(ReplicaBackplaneChannel).ConfigureAwait(false))
            {
                Volatile.Write(ref _resendJournalThroughReplicas, 1);
                return;
            }
        }

        foreach (var requester in _journalAskedBy.Keys)
        {
            _journalAskedBy.TryRemove(requester, out _);
            if (!await SendJournalThroughReplicasAsync(ResendChannel(requester)).ConfigureAwait(false))
            {
                _journalAskedBy.TryAdd(requester, 0);
                return;
            }
        }

        while (_replicaOutbox.TryPeek(out var message)) // the maintenance is the only reader
        {
            if (!await TryPublishThroughReplicasAsync(message, evenIfBreakerOpen: true).ConfigureAwait(false))
            {
                return;
            }

            _replicaOutbox.TryDequeue(out _);
            Interlocked.Decrement(ref _replicaOutboxCount);
            Interlocked.Increment(ref _resentThroughReplicas);
            _metrics.Backplane("resent_via_replicas");
        }
    }

    /// <summary>
    /// Every journaled invalidation, through the replicas, with its own time, and the removals this instance received from
    /// others that the master has not confirmed (their senders may be gone: replaced in a deploy during the outage, their
    /// journals with them). An overflowed journal no longer lists its keys: this instance's own unconfirmed removals (its
    /// change marks) go instead. At most <see cref="ResentMarksMax"/> marks; never a clear-all, which would send every
    /// read of every instance to the database for the rest of the outage.
    /// </summary>
    private async ValueTask<bool> SendJournalThroughReplicasAsync(string channel)
    {
        var (keys, tags, overflowed) = _journal.Removals();
        var messages = keys.Select(k => BackplaneMessage(BackplaneMessageKind.Remove, k.Key, k.Value == long.MinValue ? null : k.Value))
            .Concat(tags.Select(t => BackplaneMessage(BackplaneMessageKind.RemoveTag, t.Key, t.Value)));
        // the removals known here that the master has not confirmed and the journal does not list: with an overflowed
        // journal, this instance's own; and those received from other instances (which may be gone since)
        var journal = _journal;
        if (_coherence.Unconfirmed(overflowed ? static _ => false : k => journal.ContainsKey(k), ResentMarksMax) is { } unconfirmed)
        {
            messages = messages.Concat(unconfirmed.Select(u => BackplaneMessage(BackplaneMessageKind.Remove, u.Key, u.Wall)));
        }

        foreach (var message in messages)
        {
            if (!await TryPublishThroughReplicasAsync(message, evenIfBreakerOpen: true, channel).ConfigureAwait(false))
            {
                return false;
            }

            Interlocked.Increment(ref _resentThroughReplicas);
            _metrics.Backplane("resent_via_replicas");
        }

        return true;
    }

    /// <summary>
    /// Tells other instances to drop their L1 copy. A removal whose message cannot be sent is journaled like a removal
    /// that could not reach L2: the replay after recovery sends it again, so no instance keeps serving it.
    /// </summary>
    private async ValueTask PublishAsync(BackplaneMessageKind kind, string? subject, long? wall = null)
    {
        if (_guard is null || !_options.Backplane)
        {
            return;
        }

        var at = wall ?? _clock.WallMs;
        var message = BackplaneMessage(kind, subject, at);
        var sent = await _guard.TryAsync("publish", static async (store, a) =>
        {
            await store.PublishAsync(a.channel, a.message).ConfigureAwait(false);
            return true;
        }, (channel: BackplaneChannel, message)).ConfigureAwait(false);
        if (sent.Success)
        {
            _metrics.Backplane("sent");
            return;
        }

        await PublishThroughReplicasAsync(message, mustArrive: true).ConfigureAwait(false);

        var journaled = kind switch
        {
            BackplaneMessageKind.Remove => _journal.AddKey(subject!, at),
            BackplaneMessageKind.RemoveTag => _journal.AddTag(subject!, at),
            BackplaneMessageKind.Clear => AddEverything(),
            // a lost "set": other instances may keep their older L1 copy; journaled as a removal, whose replay deletes the
            // key in L2 and tells every instance to drop it (a miss later, never an old value)
            _ => _journal.AddKey(subject!, at),
        };
        if (!journaled)
        {
            OnJournalOverflow();
        }
    }

    private bool AddEverything()
    {
        _journal.AddEverything();
        return true;
    }

    private string BackplaneMessage(BackplaneMessageKind kind, string? subject, long? wall = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{_instanceId}|{(char)kind}|{wall ?? _clock.WallMs}|{(subject is not null && (kind is BackplaneMessageKind.Set or BackplaneMessageKind.Remove) ? WireKey.Encode(subject) : subject)}");

    /// <summary>
    /// A removal made at <paramref name="wall"/> (received from another instance): drops the key's L1 entry unless that
    /// entry's load started after the removal, and so read the changed data. A removal sent again (a journal's replay,
    /// the same removal through the other channel) then no longer throws away a value loaded since: at the end of the
    /// drill's slow-redis fault every instance reloaded its hot keys from the database when the writers' journals were
    /// replayed. A tie drops it.
    /// </summary>
    private void DropL1CreatedBy(string key, long wall)
    {
        if (_l1.TryGet(key, out var entry) && entry.CreatedWall > wall)
        {
            return;
        }

        _l1.TryRemove(key);
    }

    /// <summary>A backplane message received through the master (one through the replicas: its sender could not reach the master).</summary>
    internal void OnBackplaneMessage(string message) => OnBackplaneMessage(message, viaReplicas: false);

    private void OnBackplaneMessage(string message, bool viaReplicas)
    {
        if (message.StartsWith(_instanceId, StringComparison.Ordinal))
        {
            if (viaReplicas)
            {
                OnOwnMessageThroughReplicas(message);
            }

            return; // this instance's own message, echoed by Redis: nothing else to parse
        }

        var parts = message.Split('|', 4);
        if (parts.Length != 4 || parts[0] == _instanceId || parts[1].Length != 1
            || !long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var wall))
        {
            return;
        }

        _metrics.Backplane("received");
        var subject = parts[3];

        // a removal's time never reaches past this instance's own clock: a sender whose clock is ahead (or a bogus
        // message) would otherwise keep newer L2 entries of the key, the tag or everything out for that long
        wall = Math.Min(wall, _clock.WallMs);
        switch ((BackplaneMessageKind)parts[1][0])
        {
            case BackplaneMessageKind.Set:
            case BackplaneMessageKind.Remove:
                if (WireKey.Decode(subject) is { Length: > 0 } key)
                {
                    subject = key;
                    if (parts[1][0] == (char)BackplaneMessageKind.Remove && IsDuplicateRemoval(parts[0], subject, wall, confirmed: !viaReplicas))
                    {
                        break; // already received through the second channel (LeveeCache.Channel.cs)
                    }

                    // a removal makes older L2 entries of the key invisible here (a set's own entry is older than its
                    // message, so a set only orders this instance's loads). A removal sent through the master ran its DEL
                    // there first; one sent through the replicas was journaled by its sender, and the replicas (the master
                    // too, once back) still hold the removed value until it is replayed
                    MarkChanged(subject, parts[1][0] == (char)BackplaneMessageKind.Remove ? wall : long.MinValue,
                        parts[1][0] != (char)BackplaneMessageKind.Remove ? Coherence.RemovalState.None : viaReplicas ? Coherence.RemovalState.Journaled : Coherence.RemovalState.Done);
                    if (parts[1][0] == (char)BackplaneMessageKind.Remove)
                    {
                        DropL1CreatedBy(subject, wall);
                    }
                    else
                    {
                        _l1.TryRemove(subject);
                    }
                }

                break;
            case BackplaneMessageKind.RemoveTag:
                if (subject.Length > 0)
                {
                    _coherence.RecordTagInvalidation(subject, wall, checkedNow: false);
                }

                break;
            case BackplaneMessageKind.Value:
                OnSharedValue(subject);
                break;
            case BackplaneMessageKind.Loading:
                OnLoadElsewhere(subject, refresh: false);
                break;
            case BackplaneMessageKind.Refreshing:
                OnLoadElsewhere(subject, refresh: true);
                break;
            case BackplaneMessageKind.ResendRequest:
                // an instance answers with its journal and with the removals it received from others that the master has
                // not confirmed: the instance that made a removal may be gone (replaced in a deploy during the outage, its
                // journal with it), and a new instance must still learn of it (the drill's incident-deploy: 58-71 reads
                // of removed values by the new instances, the writers all replaced)
                if (viaReplicas && (!_journal.IsEmpty || _coherence.Unconfirmed(static _ => false, 1) is not null))
                {
                    if (_journalAskedBy.Count < JournalRequestsMax && IsInstanceId(parts[0])) // it names a channel: never any string
                    {
                        _journalAskedBy.TryAdd(parts[0], 0); // the asking instance's id
                    }
                    else
                    {
                        Volatile.Write(ref _resendJournalThroughReplicas, 1);
                    }

                    RunMaintenance();
                }

                break;
            case BackplaneMessageKind.Clear:
                // entries created before the clear are invalid here too, wherever they are read from: L1, a restored
                // snapshot, or a replica still holding the old generation while the master is unreachable
                RaiseAllInvalidated(wall); // capped at this instance's clock above
                ClearLocal();
                RunMaintenance();
                break;
        }
    }
}
