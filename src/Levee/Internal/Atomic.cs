namespace Levee.Internal;

/// <summary>Lock-free updates of shared numbers.</summary>
internal static class Atomic
{
    /// <summary>Raises <paramref name="location"/> to <paramref name="value"/> when it is lower; never lowers it.</summary>
    public static void Max(ref long location, long value)
    {
        var current = Volatile.Read(ref location);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
