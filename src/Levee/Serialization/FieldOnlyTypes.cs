using System.Collections;
using System.Reflection;

namespace Levee.Serialization;

/// <summary>
/// Finds the types System.Text.Json would write as <c>{}</c> without <c>IncludeFields</c>: their data is in public
/// fields and they have no public property (value tuples, named tuples, field-only classes and structs), alone or inside
/// a property, a collection's items or a dictionary's values.
/// </summary>
internal static class FieldOnlyTypes
{
    public static bool IsFieldOnly(Type type) => IsFieldOnly(type, new HashSet<Type>());

    private static bool IsFieldOnly(Type type, HashSet<Type> seen)
    {
        if (type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || !seen.Add(type))
        {
            return false; // a type met again is judged where it was first met (recursive types end here)
        }

        if (typeof(IEnumerable).IsAssignableFrom(type))
        {
            foreach (var implemented in type.GetInterfaces())
            {
                if (implemented.IsGenericType && implemented.GetGenericTypeDefinition() == typeof(IEnumerable<>)
                    && IsFieldOnly(implemented.GetGenericArguments()[0], seen))
                {
                    return true;
                }
            }

            return type.IsArray && IsFieldOnly(type.GetElementType()!, seen);
        }

        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance);
        if (properties.Length > 0)
        {
            foreach (var property in properties)
            {
                if (property.GetIndexParameters().Length == 0 && IsFieldOnly(property.PropertyType, seen))
                {
                    return true;
                }
            }

            return false;
        }

        return type.GetFields(BindingFlags.Public | BindingFlags.Instance).Length > 0;
    }
}
