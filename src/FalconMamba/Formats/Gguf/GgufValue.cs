using System.Globalization;

namespace FalconMamba.Formats.Gguf;

/// <summary>GGUF metadata value types (u32 on disk; SPEC.md §4.1, ggml <c>docs/gguf.md</c>).</summary>
public enum GgufValueType : uint
{
#pragma warning disable CS1591 // names are the GGUF names
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8,
    Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
#pragma warning restore CS1591
}

/// <summary>
/// One metadata value. Scalars hold the matching .NET type (byte, sbyte, ushort, short, uint, int, float, bool,
/// string, ulong, long, double); arrays hold a typed .NET array of the element type (<c>string[]</c>, <c>int[]</c>, …),
/// or <see cref="GgufValue"/>[] for arrays of arrays, with <see cref="ElementType"/> set.
/// </summary>
public sealed class GgufValue
{
    /// <summary>The stored type.</summary>
    public GgufValueType Type { get; }
    /// <summary>Element type when <see cref="Type"/> is Array.</summary>
    public GgufValueType ElementType { get; }
    /// <summary>The value (see the class remarks for the .NET type).</summary>
    public object Value { get; }

    GgufValue(GgufValueType type, GgufValueType elementType, object value)
    {
        Type = type;
        ElementType = elementType;
        Value = value;
    }

    /// <summary>A scalar value; <paramref name="value"/> must have the .NET type matching <paramref name="type"/>.</summary>
    public static GgufValue Scalar(GgufValueType type, object value)
    {
        if (type == GgufValueType.Array) throw new ArgumentException("use GgufValue.Array for arrays", nameof(type));
        if (ClrType(type) != value.GetType()) throw new ArgumentException($"GGUF {type} needs a {ClrType(type).Name}, got {value.GetType().Name}", nameof(value));
        return new GgufValue(type, type, value);
    }

    /// <summary>An array: a typed .NET array matching <paramref name="elementType"/>, or GgufValue[] for nested arrays.</summary>
    public static GgufValue Array(GgufValueType elementType, System.Array values)
    {
        var expected = elementType == GgufValueType.Array ? typeof(GgufValue) : ClrType(elementType);
        if (values.GetType().GetElementType() != expected) throw new ArgumentException($"GGUF array of {elementType} needs {expected.Name}[], got {values.GetType().Name}", nameof(values));
        if (elementType == GgufValueType.Array)
            foreach (GgufValue v in values) if (v.Type != GgufValueType.Array) throw new ArgumentException("nested GGUF array elements must be arrays", nameof(values));
        return new GgufValue(GgufValueType.Array, elementType, values);
    }

    /// <summary>Convenience constructors.</summary>
    public static GgufValue Of(string v) => new(GgufValueType.String, GgufValueType.String, v);
    /// <inheritdoc cref="Of(string)"/>
    public static GgufValue Of(uint v) => new(GgufValueType.UInt32, GgufValueType.UInt32, v);
    /// <inheritdoc cref="Of(string)"/>
    public static GgufValue Of(int v) => new(GgufValueType.Int32, GgufValueType.Int32, v);
    /// <inheritdoc cref="Of(string)"/>
    public static GgufValue Of(float v) => new(GgufValueType.Float32, GgufValueType.Float32, v);
    /// <inheritdoc cref="Of(string)"/>
    public static GgufValue Of(bool v) => new(GgufValueType.Bool, GgufValueType.Bool, v);
    /// <inheritdoc cref="Of(string)"/>
    public static GgufValue Of(string[] v) => Array(GgufValueType.String, v);
    /// <inheritdoc cref="Of(string)"/>
    public static GgufValue Of(int[] v) => Array(GgufValueType.Int32, v);
    /// <inheritdoc cref="Of(string)"/>
    public static GgufValue Of(float[] v) => Array(GgufValueType.Float32, v);

    /// <summary>The .NET type that holds a scalar of <paramref name="t"/>.</summary>
    public static Type ClrType(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        GgufValueType.Array => typeof(GgufValue),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown GGUF value type"),
    };

    /// <summary>Fixed byte size of a scalar type on disk (0 for strings and arrays).</summary>
    public static int FixedSize(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>Integer value of any integer scalar (for keys whose writers disagree on the width), else null.</summary>
    public long? AsInteger() => Value switch
    {
        byte b => b, sbyte sb => sb, ushort us => us, short s => s, uint u => u, int i => i, long l => l,
        ulong ul when ul <= long.MaxValue => (long)ul,
        _ => null,
    };

    /// <summary>Short text for listings (arrays show their length and first elements).</summary>
    public override string ToString()
    {
        if (Type == GgufValueType.Array)
        {
            var a = (System.Array)Value;
            var head = a.Cast<object>().Take(4).Select(o => o is string s ? $"\"{s}\"" : Convert.ToString(o, CultureInfo.InvariantCulture));
            return $"[{ElementType} × {a.Length}: {string.Join(", ", head)}{(a.Length > 4 ? ", …" : "")}]";
        }
        return Value is string str ? $"\"{(str.Length > 60 ? str[..60] + "…" : str)}\"" : Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "";
    }
}
