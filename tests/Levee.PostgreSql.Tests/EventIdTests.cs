using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Levee.PostgreSql.Tests;

/// <summary>Every log message of the channel takes its id from <see cref="PostgreSqlEventIds"/>, by its own name (Log + name), and no two share one.</summary>
public class EventIdTests
{
    [Fact]
    public void EventIds_AreUnique_AndEachIsTheIdOfTheMessageNamedAfterIt()
    {
        var ids = typeof(PostgreSqlEventIds).GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(f => f.IsLiteral).ToDictionary(f => f.Name, f => (int)f.GetRawConstantValue()!);
        Assert.Equal(ids.Count, ids.Values.Distinct().Count());
        var messages = typeof(PostgreSqlInvalidationChannel).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Where(m => m.GetCustomAttribute<LoggerMessageAttribute>() is not null)
            .ToDictionary(m => m.Name, m => m.GetCustomAttribute<LoggerMessageAttribute>()!.EventId);
        Assert.Equal(ids.OrderBy(i => i.Key).Select(i => ("Log" + i.Key, i.Value)), messages.OrderBy(m => m.Key).Select(m => (m.Key, m.Value)));
        Assert.Equal(1, PostgreSqlEventIds.Listening); // users filter by these numbers: they are kept
        Assert.Equal(5, PostgreSqlEventIds.BadPayload);
    }
}
