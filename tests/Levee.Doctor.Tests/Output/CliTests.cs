namespace Levee.Doctor.Tests.Output;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("levee-doctor-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => CliRunner.RunAsync(args);

    private async Task<string> Config(string text)
    {
        var file = Path.Combine(_dir, "redis.conf");
        await File.WriteAllTextAsync(file, text);
        return file;
    }

    [Fact]
    public async Task CleanDeployment_ExitsZero()
    {
        var (code, output, _) = await Run("lint", Repo.Path("deploy", "sentinel"), "--strict");
        Assert.Equal(0, code);
        Assert.Contains("0 errors, 0 warnings, 0 info", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Incident_ExitsOne()
    {
        var (code, output, _) = await Run("lint", Repo.Path("tests", "Levee.Doctor.Tests", "Fixtures", "incident"));
        Assert.Equal(1, code);
        Assert.Contains("T002", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WarningsOnly_ExitZero_UnlessStrict()
    {
        var file = await Config("port 6379\nfrobnicate yes\n");
        Assert.Equal(0, (await Run("lint", file)).Code);
        Assert.Equal(1, (await Run("lint", file, "--strict")).Code);
    }

    [Fact]
    public async Task DisableOption_SilencesRules_AndRefusesUnknownIds()
    {
        var file = await Config("port 6379\nfrobnicate yes\n");
        Assert.Equal(0, (await Run("lint", file, "--strict", "--disable", "P002")).Code);
        Assert.Equal(0, (await Run("lint", file, "--strict", "--disable", "S003,p002")).Code);
        var (code, _, err) = await Run("lint", file, "--disable", "X999");
        Assert.Equal(2, code);
        Assert.Contains("no rule 'X999'", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisVersionOption_JudgesDirectivesByVersion()
    {
        var file = await Config("port 6379\nlocale-collate \"\"\n");
        Assert.Equal(0, (await Run("lint", file, "--strict")).Code);
        Assert.Equal(0, (await Run("lint", file, "--strict", "--redis-version", "7.2.4")).Code);
        var (code, output, _) = await Run("lint", file, "--strict", "--redis-version", "7.0", "--format", "json");
        Assert.Equal(1, code);
        Assert.Contains("unknown to redis 7.0", output, StringComparison.Ordinal);
        Assert.Equal(2, (await Run("lint", file, "--redis-version", "5.0")).Code);
    }

    [Fact]
    public async Task MissingFile_ExitsTwo_WithAClearMessage()
    {
        var file = Path.Combine(_dir, "missing.conf");
        var (code, output, _) = await Run("lint", file);
        Assert.Equal(2, code);
        Assert.Contains($"File '{file}' does not exist.", output, StringComparison.Ordinal);

        var (jsonCode, _, err) = await Run("lint", file, "--format", "json");
        Assert.Equal(2, jsonCode);
        Assert.Contains("does not exist", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OneSharedSentinelConf_ShowsTheAssumedCount()
    {
        var file = Path.Combine(_dir, "sentinel.conf");
        await File.WriteAllTextAsync(file, "sentinel monitor m 10.0.0.1 6379 2\n");
        var (code, output, _) = await Run("lint", file);
        Assert.Equal(0, code);
        Assert.Contains("3 (assumed)", output, StringComparison.Ordinal);
        var (_, json, _) = await Run("lint", file, "--format", "json");
        Assert.Contains("\"sentinelsAssumed\": true", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SentinelsOption_SetsTheCount()
    {
        var file = Path.Combine(_dir, "sentinel.conf");
        await File.WriteAllTextAsync(file, "sentinel monitor m 10.0.0.1 6379 2\n");
        var (code, output, _) = await Run("lint", file, "--sentinels", "3", "--format", "json");
        Assert.Equal(0, code);
        Assert.Contains("\"toleratedSentinelFailures\": 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rules_ListsEveryRule()
    {
        var (code, output, _) = await Run("rules");
        Assert.Equal(0, code);
        Assert.Equal(Rules.All.Count, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("T002  error    Losing one Sentinel blocks failover", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lnt", "x.conf")]
    [InlineData("lint", "x.conf", "--sentinels")]
    [InlineData("drill", "--instances", "abc")]
    [InlineData("drill", "--format", "xml")]
    public async Task CommandLineTheParserRefuses_ExitsTwo_NotOne(params string[] args)
    {
        // exit 1 means "errors found" for the doctor: a typo on the command line must not look like a finding
        var (code, _, err) = await Run(args);
        Assert.Equal(2, code);
        Assert.Contains("levee: ", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lint")]
    [InlineData("lint", "x.conf", "--format", "xml")]
    [InlineData("lint", "x.conf", "--sentinels", "zero")]
    [InlineData("lint", "x.conf", "--bogus")]
    [InlineData("check")]
    [InlineData("check", "--sentinel", "127.0.0.1:26379")]
    [InlineData("check", "--sentinel", "127.0.0.1:26379", "--service", "m", "--cluster", "127.0.0.1:7000")]
    [InlineData("check", "--cluster", "127.0.0.1:7000", "--timeout", "-5")]
    public async Task BadUsage_ExitsTwo_WithAMessage(params string[] args)
    {
        var (code, _, err) = await Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith("levee doctor", err, StringComparison.Ordinal);
    }
}
