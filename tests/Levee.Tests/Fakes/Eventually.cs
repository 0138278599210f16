using System.Diagnostics;

namespace Levee.Tests;

/// <summary>Polls for a state until a deadline (instead of a fixed sleep that hopes the state is reached by then).</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan deadline, string failure)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < deadline, $"{failure} (waited {deadline.TotalSeconds:0.#} s)");
            await Task.Delay(50);
        }
    }

    public static Task TrueAsync(Func<bool> condition, TimeSpan deadline, string failure) =>
        TrueAsync(() => Task.FromResult(condition()), deadline, failure);
}
