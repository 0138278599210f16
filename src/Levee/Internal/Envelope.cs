using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Levee.Internal;

/// <summary>
/// The bytes Levee stores in Redis: a header with the logical expiry (fresh until), the creation time and the tags,
/// then the serialized value. Anything that does not parse as an envelope (foreign or corrupt bytes) is a miss.
/// <code>
/// 'L' 'V' version(1) flags(1) created(i64) freshUntil(i64) tagCount(u16) { len(u16) utf8 }* payloadLength(i32) payload
/// </code>
/// Flags: <see cref="NullValue"/> (the value is null; the payload is empty). A null string or byte array has no bytes
/// of its own that differ from an empty one, so null is said in the header, never by the serializer.
/// </summary>
internal static class Envelope
{
    private const byte Version = 1;
    private const int FixedHeader = 2 + 1 + 1 + 8 + 8 + 2;

    /// <summary>The value is null (the payload is empty).</summary>
    public const byte NullValue = 1;

    public static byte[] Write(long createdWall, long freshUntilWall, string[]? tags, ReadOnlySpan<byte> payload, byte flags = 0)
    {
        var tagBytes = 0;
        if (tags is not null)
        {
            foreach (var tag in tags)
            {
                tagBytes += 2 + Encoding.UTF8.GetByteCount(tag);
            }
        }

        var buffer = new byte[FixedHeader + tagBytes + 4 + payload.Length];
        var span = buffer.AsSpan();
        span[0] = (byte)'L';
        span[1] = (byte)'V';
        span[2] = Version;
        span[3] = flags;
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], createdWall);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], freshUntilWall);
        BinaryPrimitives.WriteUInt16LittleEndian(span[20..], (ushort)(tags?.Length ?? 0));
        var offset = FixedHeader;
        if (tags is not null)
        {
            foreach (var tag in tags)
            {
                var written = Encoding.UTF8.GetBytes(tag, span[(offset + 2)..]);
                BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], (ushort)written);
                offset += 2 + written;
            }
        }

        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], payload.Length);
        payload.CopyTo(span[(offset + 4)..]);
        return buffer;
    }

    /// <summary>Parses an envelope; false for anything that is not a complete, well-formed one.</summary>
    public static bool TryRead(ReadOnlyMemory<byte> data, out EnvelopeData envelope)
    {
        envelope = default;
        var span = data.Span;
        if (span.Length < FixedHeader + 4 || span[0] != (byte)'L' || span[1] != (byte)'V' || span[2] != Version)
        {
            return false;
        }

        var flags = span[3];
        var created = BinaryPrimitives.ReadInt64LittleEndian(span[4..]);
        var freshUntil = BinaryPrimitives.ReadInt64LittleEndian(span[12..]);
        int tagCount = BinaryPrimitives.ReadUInt16LittleEndian(span[20..]);
        if (created <= 0 || freshUntil < created)
        {
            return false;
        }

        var offset = FixedHeader;
        string[]? tags = null;
        if (tagCount > 0)
        {
            tags = new string[tagCount];
            for (var i = 0; i < tagCount; i++)
            {
                if (offset + 2 > span.Length)
                {
                    return false;
                }

                int length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
                offset += 2;
                if (offset + length > span.Length)
                {
                    return false;
                }

                try
                {
                    tags[i] = new UTF8Encoding(false, true).GetString(span.Slice(offset, length));
                }
                catch (DecoderFallbackException)
                {
                    return false;
                }

                offset += length;
            }
        }

        if (offset + 4 > span.Length)
        {
            return false;
        }

        var payloadLength = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
        offset += 4;
        if (payloadLength < 0 || offset + payloadLength != span.Length)
        {
            return false;
        }

        if ((flags & NullValue) != 0 && payloadLength != 0)
        {
            return false;
        }

        envelope = new EnvelopeData(created, freshUntil, tags, data.Slice(offset, payloadLength), flags);
        return true;
    }
}

internal readonly record struct EnvelopeData(long CreatedWall, long FreshUntilWall, string[]? Tags, ReadOnlyMemory<byte> Payload, byte Flags = 0)
{
    public bool IsNull => (Flags & Envelope.NullValue) != 0;

    public ReadOnlySequence<byte> PayloadSequence => new(Payload);
}
