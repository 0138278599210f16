namespace Levee.PostgreSql.Tests;

/// <summary>The channel's options are checked once, when the channel or its registration is made, naming every problem.</summary>
public class LeveePostgreSqlOptionsTests
{
    [Fact]
    public void Defaults_AreValid()
    {
        new LeveePostgreSqlOptions { ConnectionString = "Host=localhost" }.Validate();
    }

    [Fact]
    public void OutOfBounds_OneMessage_NamesEveryOptionItsValueAndItsBound()
    {
        var options = new LeveePostgreSqlOptions
        {
            ConnectionString = "Host=localhost",
            ReconnectMinDelay = TimeSpan.FromSeconds(10),
            ReconnectMaxDelay = TimeSpan.FromSeconds(5),
            IdleCheckInterval = TimeSpan.Zero,
            CommandTimeout = TimeSpan.FromMilliseconds(500),
        };
        var ex = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.Contains("ReconnectMaxDelay is 00:00:05; it must be at least ReconnectMinDelay (00:00:10)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("IdleCheckInterval is 00:00:00; it must be more than 0", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CommandTimeout is 00:00:00.5000000; it must be at least 00:00:01", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ReconnectMinDelay is", ex.Message, StringComparison.Ordinal);
    }
}
