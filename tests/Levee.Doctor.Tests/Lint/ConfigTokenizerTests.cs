using Levee.Doctor.Config;

namespace Levee.Doctor.Tests.Lint;

public class ConfigTokenizerTests
{
    [Theory]
    [InlineData("port 6379", new[] { "port", "6379" })]
    [InlineData("  save   \"\"  ", new[] { "save", "" })]
    [InlineData("requirepass \"with space\"", new[] { "requirepass", "with space" })]
    [InlineData("requirepass 'it\\'s'", new[] { "requirepass", "it's" })]
    [InlineData("logfile \"a\\tb\\x41\\n\"", new[] { "logfile", "a\tbA\n" })]
    [InlineData("x \"\\q\"", new[] { "x", "q" })]
    [InlineData("a\tb", new[] { "a", "b" })]
    [InlineData("abc\"def\"", new[] { "abcdef" })]
    [InlineData("sentinel monitor m 127.0.0.1 6379 2", new[] { "sentinel", "monitor", "m", "127.0.0.1", "6379", "2" })]
    public void Split_FollowsRedisSdssplitargs(string line, string[] expected)
    {
        var args = ConfigTokenizer.Split(line, out var error);
        Assert.Null(error);
        Assert.Equal(expected, args);
    }

    [Theory]
    [InlineData("requirepass \"unterminated", "unbalanced")]
    [InlineData("requirepass 'unterminated", "unbalanced")]
    [InlineData("requirepass \"a\"b", "closing quote")]
    [InlineData("requirepass 'a'b", "closing quote")]
    public void Split_RejectsWhatRedisRejects(string line, string expectedError)
    {
        var args = ConfigTokenizer.Split(line, out var error);
        Assert.Null(args);
        Assert.Contains(expectedError, error, StringComparison.Ordinal);
    }
}
