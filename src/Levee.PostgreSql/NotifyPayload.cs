using System.Globalization;
using System.Text;

namespace Levee.PostgreSql;

/// <summary>
/// The NOTIFY payload of one invalidation: <c>1|kind|applied|wall|sender|subject</c> (kind R S T C, applied 1 or 0,
/// wall Unix ms or empty for "when received", sender empty when no cache sent it). The subject comes last and may hold
/// any character. A shared value (kind V) carries the base64 of its bytes where the others carry "applied" (empty: an
/// announced load ended without a value); a load announcement is kind L, a background refresh's announcement kind F. PostgreSQL refuses payloads of 8,000 bytes or more.
/// </summary>
internal static class NotifyPayload
{
    /// <summary>PostgreSQL's limit: a payload must be shorter than this many bytes (NOTIFY_PAYLOAD_MAX_LENGTH).</summary>
    public const int MaxBytes = 8000;

    public static string Format(LeveeInvalidation invalidation)
    {
        var kind = invalidation.Kind switch
        {
            LeveeInvalidationKind.Remove => 'R',
            LeveeInvalidationKind.Set => 'S',
            LeveeInvalidationKind.RemoveTag => 'T',
            LeveeInvalidationKind.Clear => 'C',
            LeveeInvalidationKind.Loading => 'L',
            LeveeInvalidationKind.Value => 'V',
            LeveeInvalidationKind.Refreshing => 'F',
            _ => throw new ArgumentOutOfRangeException(nameof(invalidation), invalidation.Kind, "Unknown invalidation kind."),
        };
        var wall = invalidation.WallMs is { } w ? w.ToString(CultureInfo.InvariantCulture) : "";
        var applied = invalidation.Kind == LeveeInvalidationKind.Value
            ? Convert.ToBase64String(invalidation.Value.Span)
            : invalidation.AppliedToRedis ? "1" : "0";
        if (invalidation.Sender is { } sender && sender.Contains('|', StringComparison.Ordinal))
        {
            throw new ArgumentException("A sender id must not contain '|'.", nameof(invalidation));
        }

        return string.Create(CultureInfo.InvariantCulture, $"1|{kind}|{applied}|{wall}|{invalidation.Sender}|{invalidation.Subject}");
    }

    public static bool Fits(string payload) => Encoding.UTF8.GetByteCount(payload) < MaxBytes;

    public static bool TryParse(string payload, out LeveeInvalidation invalidation)
    {
        invalidation = default;
        var parts = payload.Split('|', 6);
        if (parts.Length != 6 || parts[0] != "1" || parts[1].Length != 1 || (parts[2].Length != 1 && parts[1] != "V"))
        {
            return false;
        }

        LeveeInvalidationKind kind;
        switch (parts[1][0])
        {
            case 'R': kind = LeveeInvalidationKind.Remove; break;
            case 'S': kind = LeveeInvalidationKind.Set; break;
            case 'T': kind = LeveeInvalidationKind.RemoveTag; break;
            case 'C': kind = LeveeInvalidationKind.Clear; break;
            case 'L': kind = LeveeInvalidationKind.Loading; break;
            case 'V': kind = LeveeInvalidationKind.Value; break;
            case 'F': kind = LeveeInvalidationKind.Refreshing; break;
            default: return false;
        }

        ReadOnlyMemory<byte> value = default;
        if (kind == LeveeInvalidationKind.Value && parts[2].Length > 0)
        {
            try
            {
                value = Convert.FromBase64String(parts[2]);
            }
            catch (FormatException)
            {
                return false;
            }
        }

        long? wall = null;
        if (parts[3].Length > 0)
        {
            if (!long.TryParse(parts[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var w))
            {
                return false;
            }

            wall = w;
        }

        invalidation = new LeveeInvalidation
        {
            Kind = kind,
            AppliedToRedis = kind != LeveeInvalidationKind.Value && parts[2][0] == '1',
            Value = value,
            WallMs = wall,
            Sender = parts[4].Length > 0 ? parts[4] : null,
            Subject = kind == LeveeInvalidationKind.Clear || parts[5].Length == 0 ? null : parts[5],
        };
        return true;
    }

    /// <summary>A channel name LISTEN accepts once quoted (PostgreSQL truncates identifiers at 63 bytes: refused instead).</summary>
    public static void ValidateChannel(string channel)
    {
        if (string.IsNullOrEmpty(channel) || Encoding.UTF8.GetByteCount(channel) > 63 || channel.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A NOTIFY channel name must be 1 to 63 bytes long.", nameof(channel));
        }
    }

    public static string QuoteIdentifier(string channel) => "\"" + channel.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
