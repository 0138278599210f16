using System.Buffers;
using System.ComponentModel;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Internal;

/// <summary>
/// What L1 holds for a value of a mutable type: its serialized bytes, so every read gets its own instance (Microsoft's
/// HybridCache rule: a caller that edits what it got never changes what the next caller gets). The instance a read from
/// L2 (or the snapshot) just deserialized is handed out once, to the first reader, before any copy is made.
/// </summary>
internal abstract class MutableCopy(byte[] payload)
{
    /// <summary>The value's bytes, as its serializer wrote them (also what goes to Redis).</summary>
    public byte[] Payload { get; } = payload;

    /// <summary>The type the value was stored as.</summary>
    public abstract Type ValueType { get; }

    /// <summary>A new instance (or the not yet handed out first one), as an object.</summary>
    public abstract object? TakeObject();
}

internal sealed class MutableCopy<T>(byte[] payload, IHybridCacheSerializer<T> serializer, T? first) : MutableCopy(payload)
{
    private StrongBox<T>? _first = first is null ? null : new StrongBox<T>(first);

    public override Type ValueType => typeof(T);

    /// <summary>A new instance: the first one deserialized, if nobody has it yet, else a fresh deserialization.</summary>
    public T Take() => Interlocked.Exchange(ref _first, null) is { } first ? first.Value! : Read();

    /// <summary>Always a fresh deserialization (for callers that join a load whose starter has <see cref="Take"/>n one).</summary>
    public T Read() => serializer.Deserialize(new ReadOnlySequence<byte>(Payload));

    public override object? TakeObject() => Take();
}

/// <summary>Whether HybridCache's rule lets a type's instances be shared between reads.</summary>
internal static class ImmutableTypes
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, bool> RuntimeTypes = new();

    /// <summary>
    /// Whether this instance's own type is immutable, whatever the type it is cached as (an immutable record cached as
    /// <c>object</c> or as an interface can't be edited either: it is shared, where HybridCache would copy it).
    /// </summary>
    public static bool IsImmutableInstance(object value) => RuntimeTypes.GetOrAdd(value.GetType(), static type => IsImmutable(type)
        || type.IsPrimitive || type.IsEnum); // a boxed number or enum can't be edited either

    /// <summary>
    /// string; value types without references (each read is a copy anyway); and value types or sealed classes marked
    /// <c>[ImmutableObject(true)]</c>. Anything else (classes that are not sealed, records, arrays, interfaces, structs holding
    /// references) is copied per read.
    /// </summary>
    public static bool IsImmutable(Type type)
    {
        if (type == typeof(string))
        {
            return true;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        return (type.IsValueType || (type.IsClass && type.IsSealed))
            && type.GetCustomAttribute<ImmutableObjectAttribute>() is { Immutable: true };
    }
}

/// <summary><see cref="ImmutableTypes.IsImmutable"/> of T, worked out once.</summary>
internal static class ImmutableTypes<T>
{
    public static readonly bool Value = (typeof(T).IsValueType && !RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        || ImmutableTypes.IsImmutable(typeof(T));
}
