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
}

public sealed partial class LeveeCache
{
    // Message: "<instance>|<kind>|<wall ms>|<subject>" on channel "<prefix>backplane".
    private readonly string _instanceId = Guid.NewGuid().ToString("N");

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
        _guard?.Store.SubscribeReplicas(ReplicaBackplaneChannel, m => OnBackplaneMessage(m, viaReplicas: true));
    }

    /// <summary>
    /// A backplane message that could not go through the master: published on the replicas, so that the other instances
    /// (each listening on one replica) drop their L1 copy now rather than when the master is back. Best effort: the
    /// invalidation is journaled anyway and replayed through the master.
    /// </summary>
    private async ValueTask PublishThroughReplicasAsync(string message)
    {
        var sent = await _replicaGuard!.TryAsync("publish-replicas", static (store, a) => store.PublishToReplicasAsync(a.channel, a.message),
            (channel: ReplicaBackplaneChannel, message)).ConfigureAwait(false);
        if (sent is { Success: true, Value: true })
        {
            _metrics.Backplane("sent_via_replicas");
        }
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

        await PublishThroughReplicasAsync(message).ConfigureAwait(false);

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
            return; // this instance's own message, echoed by Redis: nothing to parse
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
