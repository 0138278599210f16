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
