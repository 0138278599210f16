using System.Runtime.InteropServices;

namespace Levee.Internal;

/// <summary>
/// A cache key as it goes to Redis (in a data key and in a backplane message). Redis keys and messages are UTF-8: a key
/// that is not valid UTF-16 (a lone surrogate) would be written with U+FFFD in its place, and two different keys would
/// share one Redis entry. Such a key is sent as <c>U+001F</c> followed by the hex of its UTF-16 code units instead: no
/// valid cache key starts with a control character (<see cref="LeveeCache"/> refuses them), so the two forms never meet,
/// and the encoding is reversible (a backplane message names the key the receiver must drop).
/// </summary>
internal static class WireKey
{
    private const char Marker = '\u001F';

    public static string Encode(string key) => IsValidUtf16(key) ? key : Marker + Convert.ToHexString(MemoryMarshal.AsBytes(key.AsSpan()));

    /// <summary>The key a backplane message names; null when the message is not one Levee wrote.</summary>
    public static string? Decode(string wire)
    {
        if (wire.Length == 0 || wire[0] != Marker)
        {
            return wire;
        }

        try
        {
            var bytes = Convert.FromHexString(wire.AsSpan(1));
            return bytes.Length % 2 == 0 ? new string(MemoryMarshal.Cast<byte, char>(bytes)) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static bool IsValidUtf16(string key)
    {
        var span = key.AsSpan();
        var i = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0)
        {
            return true; // the usual case: no surrogate at all (one vectorized scan)
        }

        for (; i < span.Length; i++)
        {
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(span[i]))
            {
                return false;
            }
        }

        return true;
    }
}
