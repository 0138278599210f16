namespace Levee.Doctor.Tests.Lint;

/// <summary>
/// Real-world configurations (tests/Levee.Doctor.Tests/Corpus, sources in its SOURCES.md), each folder linted as one
/// deployment, with the findings an expert expects: ids and lines, exactly. A valid config lints with exit 0; a true
/// fault stays a finding. Why each expectation is what it is: SOURCES.md.
/// </summary>
public class CorpusTests
{
    private static readonly string Root = Repo.Path("tests", "Levee.Doctor.Tests", "Corpus");

    /// <summary>Folder → (exit code, findings as "RULE file:line", in report order).</summary>
    public static readonly Dictionary<string, (int Exit, string[] Findings)> Expected = new(StringComparer.Ordinal)
    {
        ["debian-redis"] = (0, []),
        ["debian-sentinel"] = (0, ["P007 sentinel.conf:73"]),
        ["deepboda-eks-configs"] = (1, ["S001 sentinel.conf:2", "P007 sentinel.conf:2"]),
        ["fmifh-short-url-compose"] = (0, ["P007 sentinel.conf:9"]),
        ["fmifh-short-url-k8s"] = (0, []),
        ["fosterg4-redis-cluster-sentinel"] = (2, ["P005 :0", "P008 redis-master.conf:0", "P008 redis-slave.conf:0", "P008 sentinel.conf:0"]),
        ["hhasanagir-vardiyasystem"] = (1, ["S009 redis-sentinel.yaml:10", "S001 redis-sentinel.yaml:15"]),
        ["jeromefromcn-redis-sentinel"] = (2, ["P005 :0", "P008 sentinel.conf:0"]),
        ["koyo-os-poll-service"] = (1, ["S001 sentinel.conf:2", "P007 sentinel.conf:2"]),
        ["krasnopolskiy-vagrant-gitlab"] = (0, ["P007 sentinel.conf:4"]),
        ["krgko-redis-sentinel"] = (1,
        [
            "R003 redis-master.conf:0", "R009 redis-master.conf:0", "R005 redis-master.conf:10", "R005 redis-slave.conf:0",
            "R006 redis-slave.conf:0", "R009 redis-slave.conf:0", "P008 sentinel.conf:0",
        ]),
        ["kwankiahn-docker-redis-sentinel"] = (0, ["P007 sentinel.conf:6"]),
        ["matteoandru-redis-failover"] = (1, ["S001 sentinel.conf:9", "P007 sentinel.conf:9", "S004 sentinel.conf:11"]),
        ["md-arman-shanto-redis-sentinel"] = (0, ["P007 sentinel.conf:8", "S004 sentinel.conf:10"]),
        ["ot-container-kit-redis"] = (0, []),
        ["pallavitarke-docker-swarm"] = (1, ["S001 sentinel.conf:3", "P007 sentinel.conf:3"]),
        ["promphp-prometheus-client"] = (0, ["P007 sentinel.conf:2"]),
        ["pybossa"] = (0, ["P007 sentinel.conf:1"]),
        ["sohamm97-redis-sentinel"] = (0,
        [
            "R006 redis-master.conf:0", "R003 redis-master.conf:0", "R009 redis-master.conf:0", "R006 redis-slave.conf:0",
            "R009 redis-slave.conf:0", "T011 redis-slave.conf:2", "P007 sentinel.conf:2", "S004 sentinel.conf:4",
        ]),
    };

    public static TheoryData<string> Cases() => new(Expected.Keys.Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Cases))]
    public void RealWorldConfig_HasExactlyTheExpectedFindings(string folder)
    {
        var dir = Path.Combine(Root, folder);
        var report = DoctorLinter.Lint([dir]);
        var found = report.Findings.Select(f => $"{f.RuleId} {Relative(dir, f.File)}:{f.Line}").ToArray();
        var (exit, findings) = Expected[folder];
        Assert.True(findings.SequenceEqual(found), $"{folder}: expected [{string.Join(", ", findings)}], got [{string.Join(", ", found)}]; {RuleTests.Describe(report)}");
        Assert.Equal(exit, report.ExitCode(strict: false));
    }

    [Fact]
    public void Corpus_HasAtLeast25Configs_EachFolderTestedAndSourced()
    {
        var folders = Directory.GetDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Expected.Keys.Order(StringComparer.Ordinal), folders);
        Assert.True(Directory.GetFiles(Root, "*", SearchOption.AllDirectories).Count(f => !f.EndsWith(".md", StringComparison.Ordinal)) >= 25);
        var sources = File.ReadAllText(Path.Combine(Root, "SOURCES.md"));
        Assert.All(folders, f => Assert.Contains($"`{f}/", sources, StringComparison.Ordinal));
    }

    private static string Relative(string dir, string? file) =>
        file is null ? "-" : Path.GetRelativePath(dir, file) is var r && r == "." ? string.Empty : r.Replace('\\', '/');
}
