namespace Levee.Drill.Load;

/// <summary>
/// Stateless, seedable random numbers (SplitMix64): the n-th draw of a stream depends only on the seed,
/// the stream and n, so every client sees the same request sequence for a seed whatever the thread timing.
/// </summary>
internal static class DeterministicRandom
{
    public static ulong Hash(ulong seed, ulong stream, ulong index)
    {
        var z = seed ^ (stream * 0x9E3779B97F4A7C15UL) ^ (index * 0xD1B54A32D192ED03UL);
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in [0, 1).</summary>
    public static double Uniform(ulong seed, ulong stream, ulong index) =>
        (Hash(seed, stream, index) >> 11) * (1.0 / (1UL << 53));
}
