using System.Collections.Concurrent;
using Levee.Internal;

namespace Levee;

/// <summary>The second invalidation channel (<see cref="ILeveeInvalidationChannel"/>): sending and receiving.</summary>
public sealed partial class LeveeCache
{
    private ILeveeInvalidationChannel? _channel;
    private IDisposable? _channelSubscription;

    /// <summary>Per key, the last removal received from another instance (its sender and time), while a second channel is
    /// attached: the same removal arriving through the other channel is recognized and not applied again.</summary>
    private readonly ConcurrentDictionary<string, (string Sender, long Wall)> _receivedRemovals = new(StringComparer.Ordinal);
    private const int ReceivedRemovalsKept = 65_536;

    /// <summary>
    /// True when this removal (sender, key, time) was already received through the other channel. Applying it again
    /// would count as a new change of the key and throw away the reload a reader started after the first copy (the
    /// drill saw the database's baseline load double). A copy that says the DEL ran on the master still confirms it.
    /// </summary>
    private bool IsDuplicateRemoval(string sender, string key, long wall, bool confirmed)
    {
        if (_channel is null)
        {
            return false;
        }

        if (_receivedRemovals.TryGetValue(key, out var last) && last.Sender == sender && last.Wall == wall)
        {
            if (confirmed)
            {
                _coherence.ConfirmRemoval(key, wall);
            }

            return true;
        }

        if (_receivedRemovals.Count >= ReceivedRemovalsKept)
        {
            _receivedRemovals.Clear(); // bounded: a duplicate not recognized is only applied twice
        }

        _receivedRemovals[key] = (sender, wall);
        return false;
    }

    /// <summary>Connects the cache to a second invalidation channel (once, before use; <c>AddLevee</c> does it).</summary>
    internal void AttachChannel(ILeveeInvalidationChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        if (Interlocked.CompareExchange(ref _channel, channel, null) is not null)
        {
            throw new InvalidOperationException("An invalidation channel is already attached.");
        }

        _channelSubscription = channel.Subscribe(OnChannelInvalidation);
    }

    /// <summary>Sends an invalidation through the second channel, if any (after the Redis attempt, whatever its outcome).</summary>
    private ValueTask PublishToChannelAsync(LeveeInvalidationKind kind, string? subject, long wall, bool appliedToRedis) =>
        PublishToChannelAsync(new LeveeInvalidation { Kind = kind, Subject = subject, WallMs = wall, AppliedToRedis = appliedToRedis }, "sent_channel");

    /// <summary>Sends a message through the second channel, if any, as this instance; counted as <paramref name="sentMetric"/>
    /// (or <c>channel_failed</c>). Never throws.</summary>
    private async ValueTask PublishToChannelAsync(LeveeInvalidation message, string sentMetric)
    {
        if (_channel is not { } channel)
        {
            return;
        }

        var sent = await TryPublishAsync(channel, message with { Sender = _instanceId }).ConfigureAwait(false);
        _metrics.Backplane(sent ? sentMetric : "channel_failed");
        if (!sent && message.Kind is LeveeInvalidationKind.Remove or LeveeInvalidationKind.Set or LeveeInvalidationKind.RemoveTag or LeveeInvalidationKind.Clear)
        {
            lock (_channelResend)
            {
                if (_channelResend.Count < ChannelResendMax)
                {
                    _channelResend.Enqueue(message with { Sender = _instanceId });
                }
                else
                {
                    _channelResendOverflowed = true; // sent as one clear-all instead
                }
            }
        }
    }

    /// <summary>One message to the channel; a channel that throws is logged and counts as a refusal (never the caller's error).</summary>
    private async ValueTask<bool> TryPublishAsync(ILeveeInvalidationChannel channel, LeveeInvalidation message)
    {
        try
        {
            return await channel.PublishAsync(message).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.L2CallFailed(_logger, _name, "channel publish", ex.GetType().Name, ex);
            return false;
        }
    }

    // Invalidations the channel refused, sent again in order by the maintenance: every instance then gets every
    // invalidation through the channel (what DeliveryEpoch vouches for), later rather than never.
    private readonly Queue<LeveeInvalidation> _channelResend = new();
    private bool _channelResendOverflowed;
    private const int ChannelResendMax = 10_000;

    // the channel's DeliveryEpoch the last time the master answered this instance (NoEpoch: unknown)
    private const long NoEpoch = long.MinValue;
    private long _channelEpochWhenHealthy = NoEpoch;

    /// <summary>Invalidations waiting to be sent again through the channel (for tests).</summary>
    internal int ChannelResendWaiting
    {
        get
        {
            lock (_channelResend)
            {
                return _channelResend.Count + (_channelResendOverflowed ? 1 : 0);
            }
        }
    }

    /// <summary>Sends again, in order, the invalidations the channel refused; stops at the first refusal (run by the maintenance).</summary>
    private async ValueTask ResendToChannelAsync()
    {
        if (_channel is not { } channel)
        {
            return;
        }

        var sent = 0;
        while (true)
        {
            LeveeInvalidation next;
            lock (_channelResend)
            {
                if (_channelResendOverflowed)
                {
                    next = new LeveeInvalidation { Kind = LeveeInvalidationKind.Clear, Sender = _instanceId, WallMs = _clock.WallMs };
                }
                else if (!_channelResend.TryPeek(out next))
                {
                    break;
                }
            }

            if (!await TryPublishAsync(channel, next).ConfigureAwait(false))
            {
                break;
            }

            lock (_channelResend)
            {
                if (next.Kind == LeveeInvalidationKind.Clear && _channelResendOverflowed && next.Subject is null && next.WallMs is not null)
                {
                    _channelResendOverflowed = false;
                    _channelResend.Clear(); // the clear-all covers everything queued before it
                }
                else
                {
                    _channelResend.TryDequeue(out _);
                }
            }

            sent++;
            _metrics.Backplane("resent_channel");
        }

        if (sent > 0)
        {
            Log.ChannelResent(_logger, _name, sent);
        }
    }

    /// <summary>Notes the channel's delivery epoch while the master answers (maintenance, breaker closed).</summary>
    private void NoteChannelEpochWhileHealthy() =>
        Volatile.Write(ref _channelEpochWhenHealthy, _channel?.DeliveryEpoch ?? NoEpoch);

    /// <summary>
    /// True when the channel vouches that every invalidation sent through it since the master last answered this
    /// instance reached it (its delivery epoch then and now is the same, and known): the invalidations Redis' pub/sub may
    /// have lost meanwhile came through the channel, so the local entries need not be dropped at a failover or reconnect.
    /// </summary>
    private bool ChannelCoveredTheGap()
    {
        var then = Volatile.Read(ref _channelEpochWhenHealthy);
        return then != NoEpoch && _channel?.DeliveryEpoch is { } now && now == then;
    }

    /// <summary>
    /// An invalidation received through the second channel: applied like a backplane message. A removal whose DEL is not
    /// known to have run on the master (its sender journaled it, or it was issued in a database transaction by no cache)
    /// is kept as unconfirmed: older Redis entries of the key are refused here, and the next maintenance run deletes such
    /// an entry on the master once it answers (started at once).
    /// </summary>
    internal void OnChannelInvalidation(LeveeInvalidation invalidation)
    {
        if (_disposed != 0 || (invalidation.Sender is { } sender && sender == _instanceId))
        {
            return;
        }

        _metrics.Backplane("received_channel");
        var now = _clock.WallMs;
        var wall = Math.Min(invalidation.WallMs ?? now, now);
        var subject = invalidation.Subject;
        switch (invalidation.Kind)
        {
            case LeveeInvalidationKind.Remove when !string.IsNullOrEmpty(subject):
                var confirmed = invalidation.AppliedToRedis || _guard is null;
                if (invalidation.Sender is { } from && IsDuplicateRemoval(from, subject, wall, confirmed))
                {
                    break; // already received through Redis
                }

                MarkChanged(subject, wall, confirmed ? Coherence.RemovalState.Done : Coherence.RemovalState.Journaled);
                DropL1CreatedBy(subject, wall);
                if (!confirmed && _guard!.Store.IsConnected)
                {
                    RunMaintenance(); // deletes an older entry on the master now (ConfirmRemovalsAsync); else once it is back
                }

                break;
            case LeveeInvalidationKind.Set when !string.IsNullOrEmpty(subject):
                MarkChanged(subject, long.MinValue);
                _l1.TryRemove(subject);
                break;
            case LeveeInvalidationKind.RemoveTag when !string.IsNullOrEmpty(subject):
                _coherence.RecordTagInvalidation(subject, wall, checkedNow: false);
                break;
            case LeveeInvalidationKind.Clear:
                RaiseAllInvalidated(wall);
                ClearLocal();
                RunMaintenance();
                break;
            case LeveeInvalidationKind.Loading or LeveeInvalidationKind.Refreshing when !string.IsNullOrEmpty(subject) && _channel is { MaxSharedValueBytes: > 0 }:
                OnLoadElsewhereOf(subject, refresh: invalidation.Kind == LeveeInvalidationKind.Refreshing);
                break;
            case LeveeInvalidationKind.Value when !string.IsNullOrEmpty(subject) && _channel is { MaxSharedValueBytes: > 0 } channel:
                // checked like a value shared through the replicas (removals, clear-all, its own lifetime): Keep
                OnSharedValue(subject, invalidation.Value.Length is > 0 and var n && n <= channel.MaxSharedValueBytes ? invalidation.Value.ToArray() : null);
                break;
        }
    }

    private void DetachChannel() => Interlocked.Exchange(ref _channelSubscription, null)?.Dispose();
}
