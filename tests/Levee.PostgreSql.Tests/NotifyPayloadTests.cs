using Levee.PostgreSql;

namespace Levee.PostgreSql.Tests;

public sealed class NotifyPayloadTests
{
    [Theory]
    [InlineData(LeveeInvalidationKind.Remove, "product:1|with|bars", "abc", 1234L, true)]
    [InlineData(LeveeInvalidationKind.Set, "k", "abc", 5L, false)]
    [InlineData(LeveeInvalidationKind.RemoveTag, "tag:é", null, null, false)]
    [InlineData(LeveeInvalidationKind.Clear, null, "abc", 7L, false)]
    public void RoundTrips(LeveeInvalidationKind kind, string? subject, string? sender, long? wall, bool applied)
    {
        var sent = new LeveeInvalidation { Kind = kind, Subject = subject, Sender = sender, WallMs = wall, AppliedToRedis = applied };

        Assert.True(NotifyPayload.TryParse(NotifyPayload.Format(sent), out var received));
        Assert.Equal(sent, received);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3, 0, 255 }, "product:1|with|bars")]
    [InlineData(new byte[0], "k")] // an announced load that ended without a value
    public void SharedValues_RoundTrip(byte[] value, string key)
    {
        var sent = new LeveeInvalidation { Kind = LeveeInvalidationKind.Value, Subject = key, Sender = "abc", WallMs = 9, Value = value };

        Assert.True(NotifyPayload.TryParse(NotifyPayload.Format(sent), out var received));
        Assert.Equal(LeveeInvalidationKind.Value, received.Kind);
        Assert.Equal(key, received.Subject);
        Assert.Equal(value, received.Value.ToArray());
        Assert.False(received.AppliedToRedis);

        var loading = new LeveeInvalidation { Kind = LeveeInvalidationKind.Loading, Subject = key, Sender = "abc", WallMs = 9 };
        Assert.True(NotifyPayload.TryParse(NotifyPayload.Format(loading), out var announced));
        Assert.Equal(loading, announced);

        var refreshing = loading with { Kind = LeveeInvalidationKind.Refreshing };
        Assert.True(NotifyPayload.TryParse(NotifyPayload.Format(refreshing), out var refresh));
        Assert.Equal(refreshing, refresh);
    }

    [Fact]
    public void TheLargestSharedValue_FitsNotifysPayload_WithAKeyOf1000Bytes()
    {
        var sent = new LeveeInvalidation
        {
            Kind = LeveeInvalidationKind.Value, Subject = new string('k', 1000), Sender = Guid.NewGuid().ToString("N"), WallMs = long.MaxValue,
            Value = new byte[LeveePostgreSqlOptions.MaxShareValuesMaxBytes],
        };
        Assert.True(NotifyPayload.Fits(NotifyPayload.Format(sent)));
    }

    [Theory]
    [InlineData("1|V|not base64!|5|a|k")]
    [InlineData("")]
    [InlineData("hello")]
    [InlineData("2|R|0||a|k")]
    [InlineData("1|X|0||a|k")]
    [InlineData("1|R|0|notanumber|a|k")]
    public void ForeignPayloads_AreRefused(string payload) => Assert.False(NotifyPayload.TryParse(payload, out _));

    [Fact]
    public void Fits_CountsUtf8BytesAgainstPostgresLimit()
    {
        Assert.True(NotifyPayload.Fits(new string('a', 7999)));
        Assert.False(NotifyPayload.Fits(new string('a', 8000)));
        Assert.False(NotifyPayload.Fits(new string('é', 4000))); // 8,000 bytes
    }
}
