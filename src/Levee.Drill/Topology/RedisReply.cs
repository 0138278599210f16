using System.Globalization;
using System.Text;

namespace Levee.Drill.Topology;

/// <summary>The kind of a RESP2 reply.</summary>
public enum RedisReplyKind
{
    /// <summary>A simple string (<c>+OK</c>).</summary>
    SimpleString,

    /// <summary>An error (<c>-ERR ...</c>).</summary>
    Error,

    /// <summary>An integer (<c>:1</c>).</summary>
    Number,

    /// <summary>A bulk string.</summary>
    BulkString,

    /// <summary>An array of replies.</summary>
    Array,

    /// <summary>A null bulk string or null array.</summary>
    Null,
}

/// <summary>A reply read from a Redis or Sentinel node by <see cref="RedisNode.ExecuteAsync(string[])"/>.</summary>
public sealed class RedisReply
{
    internal RedisReply(RedisReplyKind kind, string? text = null, long number = 0, IReadOnlyList<RedisReply>? items = null)
    {
        Kind = kind;
        Text = text;
        Number = number;
        Items = items ?? [];
    }

    /// <summary>The reply kind.</summary>
    public RedisReplyKind Kind { get; }

    /// <summary>The text of a simple string, error or bulk string (integers as text); null otherwise.</summary>
    public string? Text { get; }

    /// <summary>The value of an integer reply.</summary>
    public long Number { get; }

    /// <summary>The elements of an array reply (empty otherwise).</summary>
    public IReadOnlyList<RedisReply> Items { get; }

    /// <summary>True for an error reply.</summary>
    public bool IsError => Kind == RedisReplyKind.Error;

    /// <summary>True for a null reply.</summary>
    public bool IsNull => Kind == RedisReplyKind.Null;

    /// <summary>
    /// Reads a flat array of field/value pairs (as <c>SENTINEL MASTER</c> returns) into a dictionary.
    /// </summary>
    public IReadOnlyDictionary<string, string> ToPairs()
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 1 < Items.Count; i += 2)
        {
            map[Items[i].Text ?? string.Empty] = Items[i + 1].Text ?? string.Empty;
        }

        return map;
    }

    /// <summary>Renders the reply for messages and logs.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Render(sb);
        return sb.ToString();
    }

    internal static RedisReply FromInteger(long value) =>
        new(RedisReplyKind.Number, value.ToString(CultureInfo.InvariantCulture), value);

    private void Render(StringBuilder sb)
    {
        switch (Kind)
        {
            case RedisReplyKind.Null:
                sb.Append("(nil)");
                break;
            case RedisReplyKind.Error:
                sb.Append("(error) ").Append(Text);
                break;
            case RedisReplyKind.Array:
                sb.Append('[');
                for (var i = 0; i < Items.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    Items[i].Render(sb);
                }

                sb.Append(']');
                break;
            default:
                sb.Append(Text);
                break;
        }
    }
}
