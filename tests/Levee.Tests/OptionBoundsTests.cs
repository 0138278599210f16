using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.Extensions.Options;

namespace Levee.Tests;

/// <summary>
/// <see cref="LeveeOptionBounds"/> is the one place of every option's default and bounds: the options, the validator,
/// <see cref="LeveeEntryOptions"/>, the XML docs and docs/engine.md's options table all agree with it.
/// </summary>
public class OptionBoundsTests
{
    private static readonly (Type Type, string Prefix)[] OptionTypes =
    [
        (typeof(LeveeOptions), ""), (typeof(LeveeGateOptions), "Gate."), (typeof(LeveeWarmUpOptions), "WarmUp."), (typeof(LeveeSnapshotOptions), "Snapshot."),
    ];

    public static TheoryData<string> BoundNames()
    {
        var data = new TheoryData<string>();
        foreach (var bound in LeveeOptionBounds.All)
        {
            data.Add(DocName(bound));
        }

        return data;
    }

    [Fact]
    public void EveryBoundedProperty_HasItsDefaultFromTheBounds()
    {
        var instances = new Dictionary<string, object>
        {
            [""] = new LeveeOptions(), ["Gate."] = new LeveeGateOptions(), ["WarmUp."] = new LeveeWarmUpOptions(), ["Snapshot."] = new LeveeSnapshotOptions(),
        };
        foreach (var bound in LeveeOptionBounds.All)
        {
            var (type, prefix, property) = Property(bound);
            var value = property.GetValue(instances[prefix]);
            var expected = bound.DefaultText == "null" ? null : bound.GetType().GetProperty("Default")!.GetValue(bound);
            Assert.True(Equals(expected, value), $"{type.Name}.{property.Name} defaults to {value}, the bounds say {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(BoundNames))]
    public void TheXmlDocs_StateTheDefaultAndTheBounds(string name)
    {
        // on the main of 2026-12-06, BreakerFailureRatio's docs said "(0..1]" while the validator refused anything below 0.01
        var bound = LeveeOptionBounds.All.Single(b => DocName(b) == name);
        var (type, _, property) = Property(bound);
        var summary = XmlSummary(type, property.Name);
        Assert.Matches(new Regex("Default: " + Regex.Escape(bound.DefaultText) + @"(?![0-9]|[.,][0-9])"), summary);
        Assert.Contains($"Bounds: {bound.MinText} to {bound.MaxText}", summary, StringComparison.Ordinal);
    }

    [Fact]
    public void DocsEngineMd_OptionsTable_IsTheBounds()
    {
        var docs = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "engine.md")).ReplaceLineEndings("\n");
        var expected = OptionsTable();
        Assert.True(docs.Contains(expected, StringComparison.Ordinal),
            "docs/engine.md's options table differs from LeveeOptionBounds; the table should read:\n" + expected);
    }

    [Fact]
    public void BreakerFailureRatio_OneBoundEverywhere_BelowOneHundredthIsRefused_NamingTheOptionAndItsBounds()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => LeveeOptionsValidator.ThrowIfInvalid(new LeveeOptions { BreakerFailureRatio = 0.005 }));
        Assert.Contains("LeveeOptions.BreakerFailureRatio is 0.005; it must be between 0.01 and 1.", ex.Message, StringComparison.Ordinal);
        LeveeOptionsValidator.ThrowIfInvalid(new LeveeOptions { BreakerFailureRatio = 0.01 });
        LeveeOptionsValidator.ThrowIfInvalid(new LeveeOptions { BreakerFailureRatio = 1 });
    }

    [Fact]
    public void Validator_NamesTheOptionAndItsBounds_ForEveryBound()
    {
        foreach (var bound in LeveeOptionBounds.All)
        {
            var options = new LeveeOptions();
            options.Snapshot.Path = "/tmp/levee-validation-only.snapshot"; // snapshot options are checked only with a path
            var (_, prefix, property) = Property(bound);
            object target = prefix switch { "" => options, "Gate." => options.Gate, "WarmUp." => options.WarmUp, _ => options.Snapshot };
            var tooLow = BelowMin(bound);
            property.SetValue(target, tooLow);
            var errors = LeveeOptionsValidator.Collect(options);
            var error = Assert.Single(errors, e => e.StartsWith($"LeveeOptions.{prefix}{property.Name} is ", StringComparison.Ordinal));
            var min = bound.GetType().GetProperty("Min")!.GetValue(bound);
            var max = bound.GetType().GetProperty("Max")!.GetValue(bound);
            Assert.Contains(FormattableString.Invariant($"it must be between {min} and {max}"), error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EntryOptions_UseTheSameBounds_AsTheCacheWideOptions()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new LeveeEntryOptions { FailSafeMaxDuration = LeveeOptionBounds.FailSafeMaxDuration.Max + TimeSpan.FromTicks(1) });
        Assert.Contains("LeveeEntryOptions.FailSafeMaxDuration is 30.00:00:00.0000001; it must be between 00:00:00 and 30.00:00:00.", ex.Message, StringComparison.Ordinal);
        _ = new LeveeEntryOptions
        {
            Expiration = LeveeOptionBounds.DefaultExpiration.Max,
            LocalCacheExpiration = LeveeOptionBounds.DefaultExpiration.Min,
            FactorySoftTimeout = Timeout.InfiniteTimeSpan,
            FactoryHardTimeout = LeveeOptionBounds.FactoryHardTimeout.Max,
        };
        Assert.Throws<ArgumentOutOfRangeException>(() => new LeveeEntryOptions { FactoryHardTimeout = LeveeOptionBounds.FactoryHardTimeout.Max + TimeSpan.FromTicks(1) });
    }

    [Fact]
    public void HybridCacheOptionsDefaults_AreLevees()
    {
        // AddLevee takes HybridCacheOptions' MaximumKeyLength and MaximumPayloadBytes where they differ from its defaults
        // and LeveeOptions keep theirs: that reading needs both to start from the same values
        var hybrid = new Microsoft.Extensions.Caching.Hybrid.HybridCacheOptions();
        Assert.Equal(hybrid.MaximumKeyLength, LeveeOptionBounds.MaximumKeyLength.Default);
        Assert.Equal(hybrid.MaximumPayloadBytes, LeveeOptionBounds.MaximumPayloadBytes.Default);
    }

    [Fact]
    public void BoundNames_AreUnique_AndDefaultsAreWithinTheirBounds()
    {
        Assert.Equal(LeveeOptionBounds.All.Count, LeveeOptionBounds.All.Select(DocName).Distinct().Count());
        Assert.Empty(LeveeOptionsValidator.Collect(new LeveeOptions { Snapshot = { Path = "/tmp/levee-validation-only.snapshot" } }));
    }

    /// <summary>The rows of docs/engine.md's options table, as they must read.</summary>
    private static string OptionsTable()
    {
        var table = new StringBuilder();
        table.Append("| Option | Default | Lowest | Highest |\n|---|---|---|---|\n");
        foreach (var bound in LeveeOptionBounds.All)
        {
            table.Append(System.Globalization.CultureInfo.InvariantCulture, $"| `{DocName(bound)}` | {bound.DefaultText} | {bound.MinText} | {bound.MaxText}{(bound.InfiniteAllowed ? " (or infinite)" : "")} |\n");
        }

        return table.ToString();
    }

    private static string DocName(IOptionBound bound) =>
        bound.Name.Contains('.', StringComparison.Ordinal) || typeof(LeveeOptions).GetProperty(bound.Name) is not null ? bound.Name : "Gate." + bound.Name;

    private static (Type Type, string Prefix, System.Reflection.PropertyInfo Property) Property(IOptionBound bound)
    {
        var name = DocName(bound);
        foreach (var (type, prefix) in OptionTypes.Reverse())
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal) && type.GetProperty(name[prefix.Length..]) is { } property)
            {
                return (type, prefix, property);
            }
        }

        throw new InvalidOperationException($"no option property for bound {name}");
    }

    private static object BelowMin(IOptionBound bound) => bound.GetType().GetProperty("Min")!.GetValue(bound) switch
    {
        TimeSpan t => t - TimeSpan.FromTicks(1),
        double d => d - 0.001,
        int i => i - 1,
        long l => l - 1,
        var other => throw new InvalidOperationException($"no value below {other}"),
    };

    private static readonly Lazy<XDocument> XmlDocs = new(() => XDocument.Load(Path.ChangeExtension(typeof(LeveeOptions).Assembly.Location, ".xml")));

    private static string XmlSummary(Type type, string property)
    {
        var member = XmlDocs.Value.Descendants("member").Single(m => (string?)m.Attribute("name") == $"P:{type.FullName}.{property}");
        return Regex.Replace(member.Element("summary")!.Value, @"\s+", " ");
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Levee.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"Levee.slnx not found above {AppContext.BaseDirectory}");
    }
}
