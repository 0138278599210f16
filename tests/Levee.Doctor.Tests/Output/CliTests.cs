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
    public async Task DistinctPasswordsEverywhere_NoValueAppearsInTextJsonOrSarif()
    {
        // every secret differs, so the rules that compare them (R005, S010, S011, ...) fire and talk about them
        string[] secrets =
        [
            "master-requirepass-a1f3", "master-masterauth-b2e4", "replica1-requirepass-c3d5", "replica1-masterauth-d4c6",
            "replica2-requirepass-e5b7", "replica2-masterauth-f6a8", "sentinel1-authpass-g7z9", "sentinel2-authpass-h8y0",
            "sentinel3-authpass-i9x1", "sentinel1-requirepass-j0w2", "sentinel2-requirepass-k1v3", "sentinel-pass-l2u4",
        ];
        var dir = Directory.CreateDirectory(Path.Combine(_dir, "secrets")).FullName;
        await File.WriteAllTextAsync(Path.Combine(dir, "redis-master.conf"),
            $"bind 10.0.1.10\nport 6379\nrequirepass {secrets[0]}\nmasterauth {secrets[1]}\nappendonly yes\n");
        for (var r = 1; r <= 2; r++)
        {
            await File.WriteAllTextAsync(Path.Combine(dir, $"redis-replica-{r}.conf"),
                $"bind 10.0.2.1{r}\nport 6379\nreplicaof 10.0.1.10 6379\nrequirepass \"{secrets[(2 * r) + 0]}\"\nmasterauth {secrets[(2 * r) + 1]}\n");
        }

        for (var i = 1; i <= 3; i++)
        {
            var own = i < 3 ? $"requirepass {secrets[8 + i]}\n" : $"sentinel sentinel-user sentinels\nsentinel sentinel-pass {secrets[11]}\n";
            await File.WriteAllTextAsync(Path.Combine(dir, $"sentinel-{i}.conf"),
                $"port 26379\n{own}sentinel monitor mymaster 10.0.1.10 6379 2\nsentinel auth-user mymaster levee\nsentinel auth-pass mymaster {secrets[5 + i]}\n");
        }

        foreach (var format in new[] { "text", "json", "sarif" })
        {
            var (code, output, error) = await Run("lint", dir, "--format", format);
            Assert.Equal(1, code); // errors found: the check below reads real findings
            Assert.Contains("R005", output, StringComparison.Ordinal);
            Assert.Contains("S011", output, StringComparison.Ordinal);
            foreach (var secret in secrets)
            {
                Assert.DoesNotContain(secret, output + error, StringComparison.Ordinal);
            }
        }
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

    [Fact]
    public async Task DrillTls_IsAnOption_TheDrillsOwnValidationRuns()
    {
        // an unknown option is the parser's "levee: ..."; with --tls known, the drill's own validation answers
        var (code, _, err) = await CliRunner.RunToolAsync("drill", "--tls", "--instances", "0");
        Assert.Equal(2, code);
        Assert.StartsWith("levee drill: ", err, StringComparison.Ordinal);
        Assert.Contains("instances=0", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lnt", "x.conf")]
    [InlineData("lint", "x.conf", "--sentinels")]
    public async Task CommandLineTheParserRefuses_ExitsTwo_NotOne(params string[] args)
    {
        // exit 1 means "errors found" for the doctor: a typo on the command line must not look like a finding
        var (code, _, err) = await Run(args);
        Assert.Equal(2, code);
        Assert.Contains("levee: ", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--instances", "abc")]
    [InlineData("--format", "xml")]
    public async Task DrillCommandLineTheParserRefuses_ExitsTwo_NamingTheValue(params string[] args)
    {
        // levee drill itself (these cases ran as "levee doctor drill ...", refused as an unknown doctor command)
        var (code, _, err) = await CliRunner.RunToolAsync(["drill", .. args]);
        Assert.Equal(2, code);
        Assert.StartsWith("levee drill: ", err, StringComparison.Ordinal); // the drill command names itself (tests/Levee.Cli.Tests has the whole message)
        Assert.Contains($"'{args[1]}'", err, StringComparison.Ordinal); // the value refused, quoted
        Assert.DoesNotContain("Unrecognized command", err, StringComparison.Ordinal); // the drill command knows the option
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
