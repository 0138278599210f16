using System.ComponentModel;

namespace Levee.Benchmarks;

/// <summary>
/// The cached value: a small catalog row. Sealed and marked immutable so that Microsoft's HybridCache returns the
/// stored instance on an L1 hit instead of deserializing a copy (its documented fast path), as Levee and FusionCache do.
/// </summary>
[ImmutableObject(true)]
public sealed record Product(int Id, string Name, decimal Price)
{
    public static Product For(int id) => new(id, "product " + id, 10m + id % 100);
}
