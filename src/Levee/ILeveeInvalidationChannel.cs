namespace Levee;

/// <summary>What an invalidation tells the other instances (see <see cref="LeveeInvalidation"/>).</summary>
public enum LeveeInvalidationKind
{
    /// <summary>A key was removed: drop the L1 copy; L2 entries created before the removal are not served.</summary>
    Remove = 0,

    /// <summary>A key was written (SetAsync): drop the L1 copy (the new value is read from L2).</summary>
    Set = 1,

    /// <summary>A tag was removed: entries carrying it created before the removal are not served.</summary>
    RemoveTag = 2,

    /// <summary>Everything was removed (<c>RemoveByTagAsync("*")</c>).</summary>
    Clear = 3,

    /// <summary>
    /// Not an invalidation: the sender started loading the key (<see cref="LeveeInvalidation.Subject"/>) from its backend
    /// while no Redis node could take or carry the value; a receiver's callers of the key may wait briefly for its
    /// <see cref="Value"/> instead of loading it too. Sent only to channels whose
    /// <see cref="ILeveeInvalidationChannel.MaxSharedValueBytes"/> is above zero.
    /// </summary>
    Loading = 4,

    /// <summary>
    /// Not an invalidation: a value the sender loaded while no Redis node could store or carry it
    /// (<see cref="LeveeInvalidation.Value"/>: the entry as it would have been written to Redis; empty when an announced
    /// load ended without a value to share). A receiver keeps it as it would keep a Redis entry: every removal, tag
    /// removal and clear-all it knows of applies. Sent only to channels whose
    /// <see cref="ILeveeInvalidationChannel.MaxSharedValueBytes"/> is above zero, and never larger than that.
    /// </summary>
    Value = 5,

    /// <summary>
    /// Not an invalidation: as <see cref="Loading"/>, for a background refresh of an entry that expired (or reached its
    /// early-refresh point) while no Redis node could take the value. A receiver counts it against its
    /// <see cref="LeveeOptions.DegradedRefreshesPerSecond"/>, so that the instances together refresh about that many
    /// entries per second, not that many each. Sent only to channels whose
    /// <see cref="ILeveeInvalidationChannel.MaxSharedValueBytes"/> is above zero. An instance that does not know this kind
    /// ignores it (a receiver of an older version then neither waits for the refresh nor counts it).
    /// </summary>
    Refreshing = 6,
}

/// <summary>
/// One invalidation travelling between instances through an <see cref="ILeveeInvalidationChannel"/>. Receiving the same
/// invalidation twice (through Redis and through the channel) is harmless: a cache applies it idempotently.
/// </summary>
public readonly record struct LeveeInvalidation
{
    /// <summary>What was invalidated.</summary>
    public LeveeInvalidationKind Kind { get; init; }

    /// <summary>The key (<see cref="LeveeInvalidationKind.Remove"/>, <see cref="LeveeInvalidationKind.Set"/>) or the tag
    /// (<see cref="LeveeInvalidationKind.RemoveTag"/>); null for <see cref="LeveeInvalidationKind.Clear"/>.</summary>
    public string? Subject { get; init; }

    /// <summary>The sending cache instance (a cache ignores its own); null when it was not sent by a cache (an
    /// invalidation issued in the application's own database transaction).</summary>
    public string? Sender { get; init; }

    /// <summary>When it was made (Unix ms, the sender's clock); null for "when received". A receiver never uses a time
    /// past its own clock.</summary>
    public long? WallMs { get; init; }

    /// <summary>
    /// True when the sender's DEL (or tag write, or generation bump) ran on the Redis master before this was sent. False
    /// when it did not (Redis unreachable: the sender journaled it) or is not known: a receiver then keeps refusing older
    /// Redis entries of the key until the master is checked, and deletes such an entry itself once the master answers.
    /// </summary>
    public bool AppliedToRedis { get; init; }

    /// <summary>The loaded value's bytes, exactly as the cache would have written them to Redis (opaque to a channel),
    /// for <see cref="LeveeInvalidationKind.Value"/>; empty otherwise.</summary>
    public ReadOnlyMemory<byte> Value { get; init; }
}

/// <summary>
/// A second way for cache instances to tell each other about invalidations, next to the Redis pub/sub backplane and
/// not sharing its failures (e.g. PostgreSQL LISTEN/NOTIFY, package <c>Levee.PostgreSql</c>). A
/// <see cref="LeveeCache"/> sends every removal, write, tag removal and clear-all through it after the Redis attempt,
/// whether that succeeded or not (a removal Redis could not take is journaled for Redis as before), and applies what it
/// receives exactly like a backplane message.
/// </summary>
/// <remarks>
/// Registered in the container before the cache is first resolved: <c>AddLevee</c>'s cache uses the unkeyed service, a
/// cache added with <c>AddKeyedLevee(name, ...)</c> uses the service keyed <c>name</c> (and none when there is none:
/// caches with different key prefixes must not share a channel, their keys would mix). Implementations must be
/// thread-safe, must not throw from <see cref="PublishAsync"/> for transport failures (return false) and should bound
/// its time: a removal awaits it.
/// </remarks>
public interface ILeveeInvalidationChannel
{
    /// <summary>Sends <paramref name="invalidation"/> to every instance listening (this one included; it ignores its own).</summary>
    /// <returns>False when it could not be sent (the channel is down, or the message was refused).</returns>
    ValueTask<bool> PublishAsync(LeveeInvalidation invalidation, CancellationToken cancellationToken = default);

    /// <summary>Starts delivering received invalidations to <paramref name="onReceived"/> (called on the channel's own
    /// thread; it returns quickly and does not throw). Disposing the result stops the delivery.</summary>
    IDisposable Subscribe(Action<LeveeInvalidation> onReceived);

    /// <summary>
    /// Changes whenever this instance may have missed invalidations sent through the channel (its subscription was lost
    /// and made again); null while it is not receiving, and by default (the channel cannot tell). A cache that reads the
    /// same number when Redis was last healthy and again at a failover knows that every invalidation sent through the
    /// channel in between reached it, and keeps its local entries at the failover instead of dropping them all. (A
    /// cache also sends again, in order, what it could not send: <see cref="PublishAsync"/> returning false.)
    /// </summary>
    long? DeliveryEpoch => null;

    /// <summary>
    /// The largest loaded value (<see cref="LeveeInvalidation.Value"/>, in bytes) this channel carries between instances
    /// while no Redis node can (every node down: a value loaded on one instance then reaches the others, so a key is
    /// loaded from the backend once, not once per instance). 0, the default: the channel carries invalidations only and
    /// is never sent <see cref="LeveeInvalidationKind.Loading"/>, <see cref="LeveeInvalidationKind.Refreshing"/> or
    /// <see cref="LeveeInvalidationKind.Value"/>.
    /// </summary>
    int MaxSharedValueBytes => 0;
}
