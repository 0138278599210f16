using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.Telemetry;

/// <summary>Every log message of Levee takes its id from <see cref="LeveeEventIds"/>, by its own name, and no two share one.</summary>
public class EventIdTests
{
    [Fact]
    public void EventIds_AreUnique()
    {
        var ids = Constants(typeof(LeveeEventIds));
        Assert.NotEmpty(ids);
        var duplicates = ids.GroupBy(c => c.Value).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(c => c.Name))}");
        Assert.Empty(duplicates);
    }

    [Fact]
    public void EveryLogMessage_HasTheIdNamedAfterIt_AndEveryIdIsUsed()
    {
        var messages = typeof(LeveeCache).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (m.Name, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .Select(m => (m.Name, m.Attribute!.EventId))
            .ToList();
        Assert.NotEmpty(messages);
        var ids = Constants(typeof(LeveeEventIds)).ToDictionary(c => c.Name, c => c.Value);
        foreach (var (name, id) in messages)
        {
            Assert.True(ids.TryGetValue(name, out var named) && named == id, $"log message {name} has event id {id}, not LeveeEventIds.{name}");
        }

        Assert.Equal(ids.Keys.Order(), messages.Select(m => m.Name).Order());
    }

    [Fact]
    public void TheDocumentedNumbers_AreKept()
    {
        // users filter by these numbers: renaming is fine, renumbering is not
        Assert.Equal(1, LeveeEventIds.L2CallFailed);
        Assert.Equal(17, LeveeEventIds.ScriptingRefused);
        Assert.Equal(19, LeveeEventIds.KeyNotCacheable);
        Assert.Equal(100, LeveeEventIds.RefreshSkipped);
        Assert.Equal(113, LeveeEventIds.WarmUpDeadlinePassed);
        Assert.Equal(123, LeveeEventIds.SnapshotEntryUnreadable);
    }

    internal static List<(string Name, int Value)> Constants(Type type) =>
        [.. type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(f => f.IsLiteral && f.FieldType == typeof(int))
            .Select(f => (f.Name, (int)f.GetRawConstantValue()!))];
}
