using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Reflection;
using System.Text;
using Levee.Internal;

namespace Levee;

public sealed partial class LeveeCache
{
    private static readonly byte[] SnapshotMagic = "LVSNAP1\n"u8.ToArray();
    private static readonly ConcurrentDictionary<Type, Action<SerializerRegistryAccess, object, IBufferWriter<byte>>> SnapshotWriters = new();
    private ConcurrentDictionary<string, byte[]>? _snapshot; // restored entries not asked for yet: key -> envelope

    /// <summary>Entries read from the snapshot at start-up and not used yet.</summary>
    internal int PendingSnapshotEntries => _snapshot?.Count ?? 0;

    /// <summary>
    /// Writes the L1 entries still inside their fail-safe window to <paramref name="path"/> (at most
    /// <paramref name="maxEntries"/> entries and <paramref name="maxBytes"/> bytes), atomically. Values are serialized with
    /// the cache's serializers for their runtime type; a value that cannot be serialized is skipped. Returns the count.
    /// </summary>
    internal async Task<int> WriteSnapshotAsync(string path, int maxEntries, long maxBytes, CancellationToken cancellationToken)
    {
        var nowMono = _clock.MonoMs;
        var temp = path + ".tmp";
        var count = 0;
        long bytes = SnapshotMagic.Length;
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(SnapshotMagic, cancellationToken).ConfigureAwait(false);
            var buffer = new ArrayBufferWriter<byte>();
            var header = new byte[8];
            foreach (var (key, entry) in _l1)
            {
                if (count >= maxEntries)
                {
                    break;
                }

                if (entry.Value is null || entry.StaleUntilMono <= nowMono || !_coherence.IsValid(entry))
                {
                    continue;
                }

                buffer.ResetWrittenCount();
                if (entry.Value is MutableCopy copy)
                {
                    buffer.Write(copy.Payload);
                }
                else if (!TrySerializeForSnapshot(entry.Value, buffer))
                {
                    continue;
                }

                var envelope = Envelope.Write(entry.CreatedWall, entry.FreshUntilWall, entry.Tags, buffer.WrittenSpan);
                var keyBytes = Encoding.UTF8.GetBytes(key);
                var size = 8L + keyBytes.Length + envelope.Length;
                if (bytes + size > maxBytes)
                {
                    break;
                }

                BinaryPrimitives.WriteInt32LittleEndian(header, keyBytes.Length);
                BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), envelope.Length);
                await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(keyBytes, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(envelope, cancellationToken).ConfigureAwait(false);
                bytes += size;
                count++;
            }
        }

        File.Move(temp, path, overwrite: true);
        return count;
    }

    /// <summary>
    /// Reads a snapshot written by <see cref="WriteSnapshotAsync"/>. Its entries are kept as bytes until a caller of the
    /// key asks (the caller's type deserializes them). Returns the count; a missing file is 0; a damaged file stops at the
    /// damage (what was read before stays) and returns what was read.
    /// </summary>
    internal async Task<int> LoadSnapshotAsync(string path, int maxEntries, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        var data = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        if (data.Length < SnapshotMagic.Length || !data.AsSpan(0, SnapshotMagic.Length).SequenceEqual(SnapshotMagic))
        {
            throw new InvalidDataException($"{path}: not a Levee L1 snapshot (bad header).");
        }

        var restored = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        var offset = SnapshotMagic.Length;
        while (offset + 8 <= data.Length && restored.Count < maxEntries)
        {
            var keyLength = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(offset));
            var envelopeLength = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(offset + 4));
            if (keyLength <= 0 || envelopeLength <= 0 || (long)offset + 8 + keyLength + envelopeLength > data.Length)
            {
                break;
            }

            var key = Encoding.UTF8.GetString(data, offset + 8, keyLength);
            restored[key] = data.AsSpan(offset + 8 + keyLength, envelopeLength).ToArray();
            offset += 8 + keyLength + envelopeLength;
        }

        Volatile.Write(ref _snapshot, restored);
        return restored.Count;
    }

    /// <summary>
    /// A restored snapshot entry of <paramref name="key"/> as a STALE entry (never fresh: it may have been invalidated while
    /// this instance was down), or null when there is none, it is past its fail-safe window, or it does not deserialize as T.
    /// Only consulted while L2 is unavailable (or not configured).
    /// </summary>
    private CacheEntry? TakeSnapshotEntry<T>(string key, LeveeEntryOptions options)
    {
        var snapshot = Volatile.Read(ref _snapshot);
        if (snapshot is null || (_guard is not null && _guard.IsUsable) || !snapshot.TryRemove(key, out var bytes))
        {
            return null;
        }

        if (!Envelope.TryRead(bytes, out var envelope))
        {
            return null;
        }

        T value;
        try
        {
            value = _serializers.Get<T>().Deserialize(envelope.PayloadSequence);
        }
        catch (Exception ex)
        {
            Gate.GateLog.SnapshotEntryUnreadable(_logger, _name, typeof(T).Name, ex);
            return null;
        }

        var nowMono = _clock.MonoMs;
        var nowWall = _clock.WallMs;
        var failSafe = (long)(options.FailSafeMaxDuration ?? _options.FailSafeMaxDuration).TotalMilliseconds;
        var staleUntilMono = nowMono + (envelope.FreshUntilWall + failSafe - nowWall);
        var entry = new CacheEntry(Hold(value, envelope.Payload), envelope.CreatedWall, nowMono, staleUntilMono, long.MaxValue, envelope.FreshUntilWall, envelope.Tags, _coherence.Epoch);
        return staleUntilMono > nowMono && _coherence.IsValid(entry) ? entry : null;
    }

    private bool TrySerializeForSnapshot(object value, ArrayBufferWriter<byte> buffer)
    {
        try
        {
            var writer = SnapshotWriters.GetOrAdd(value.GetType(), static type =>
                typeof(LeveeCache).GetMethod(nameof(SerializeForSnapshot), BindingFlags.NonPublic | BindingFlags.Static)!
                    .MakeGenericMethod(type)
                    .CreateDelegate<Action<SerializerRegistryAccess, object, IBufferWriter<byte>>>());
            writer(new SerializerRegistryAccess(_serializers), value, buffer);
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return false;
        }
    }

    private static void SerializeForSnapshot<T>(SerializerRegistryAccess serializers, object value, IBufferWriter<byte> target) =>
        serializers.Registry.Get<T>().Serialize((T)value, target);

    /// <summary>Wraps the registry so the cached delegates' signature does not expose the internal type's generic method.</summary>
    private readonly record struct SerializerRegistryAccess(Serialization.SerializerRegistry Registry);
}
