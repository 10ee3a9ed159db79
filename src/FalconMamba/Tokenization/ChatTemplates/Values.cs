using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FalconMamba.Tokenization.ChatTemplates;

// Template values use Python's data model, because HF chat templates are written against Jinja2 on Python:
//   None → null, bool, int → long, float → double, str → string, list → List<object?>,
//   tuple → object?[], dict → PyDict (insertion-ordered), plus Undefined, Namespace, loop/cycler/joiner objects
//   and callables (macros, globals, bound methods).

/// <summary>Jinja2's default <c>Undefined</c>: prints as "", is falsy, iterates as empty; any other use raises its message.</summary>
internal sealed class Undefined(string message)
{
    /// <summary>The error raised when this value is used (e.g. "'foo' is undefined").</summary>
    public string Message { get; } = message;

    public static Undefined Named(string name) => new($"'{name}' is undefined");

    public TemplateRuntimeError Fail() => new(Message);
}

/// <summary>A Python dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).</summary>
internal sealed class PyDict : IEnumerable<KeyValuePair<object, object?>>
{
    readonly OrderedDictionary<object, object?> _d = new(PyKeyComparer.Instance);

    public int Count => _d.Count;
    public bool ContainsKey(object key) => _d.ContainsKey(key);
    public bool TryGetValue(object key, out object? value) => _d.TryGetValue(key, out value);
    public object? this[object key] { get => _d[key]; set => _d[key] = value; }
    public IEnumerable<object> Keys => _d.Keys;
    public IEnumerable<object?> Values => _d.Values;
    public IEnumerator<KeyValuePair<object, object?>> GetEnumerator() => _d.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>The object returned by <c>namespace(...)</c>: the one thing templates may assign attributes on.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attrs { get; } = new(StringComparer.Ordinal);
}

/// <summary>Python-semantics helpers: str(), repr(), truthiness, equality, ordering, hashing, and CLR/JSON conversion.</summary>
internal static class Py
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        PyDict => "dict",
        Namespace => "Namespace",
        _ => v.GetType().Name,
    };

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        PyDict d => d.Count > 0,
        _ => true,
    };

    /// <summary>Python <c>str(v)</c>, which is what <c>{{ v }}</c> prints (Undefined prints as "").</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(Inv),
        double d => FloatRepr(d),
        _ => Repr(v),
    };

    /// <summary>Python <c>repr(v)</c>: strings quoted, containers recursively.</summary>
    public static string Repr(object? v)
    {
        switch (v)
        {
            case string s: return StrRepr(s);
            case null or bool or long or double: return Str(v);
            case Undefined: return "Undefined";
            case List<object?> l: return "[" + string.Join(", ", l.Select(Repr)) + "]";
            case object?[] t: return t.Length == 1 ? "(" + Repr(t[0]) + ",)" : "(" + string.Join(", ", t.Select(Repr)) + ")";
            case PyDict d: return "{" + string.Join(", ", d.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case Namespace n: return "<Namespace " + string.Join(", ", n.Attrs.Select(kv => kv.Key + "=" + Repr(kv.Value))) + ">";
            default: return v.ToString() ?? "";
        }
    }

    /// <summary>Python's repr of a str: single quotes unless the text has ' and no ".</summary>
    public static string StrRepr(string s)
    {
        char q = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2).Append(q);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == q) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", Inv));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append(q).ToString();
    }

    /// <summary>Python float repr: shortest round-trip digits, exponent form below 1e-4 or from 1e16 (1.0, 1e-05, 1e+16).</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        string sign = d < 0 ? "-" : "";
        string r = Math.Abs(d).ToString("R", Inv);
        int e = 0;
        string mant = r;
        int ei = r.IndexOf('E');
        if (ei >= 0) { e = int.Parse(r[(ei + 1)..], Inv); mant = r[..ei]; }
        int dot = mant.IndexOf('.');
        string digits = dot < 0 ? mant : mant[..dot] + mant[(dot + 1)..];
        int point = (dot < 0 ? mant.Length : dot) + e; // value = 0.digits × 10^point
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') { lead++; point--; }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        int exp10 = point - 1;
        if (exp10 < -4 || exp10 >= 16)
        {
            string m = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
            return sign + m + "e" + (exp10 < 0 ? "-" : "+") + Math.Abs(exp10).ToString("00", Inv);
        }
        if (point <= 0) return sign + "0." + new string('0', -point) + digits;
        if (point >= digits.Length) return sign + digits + new string('0', point - digits.Length) + ".0";
        return sign + digits[..point] + "." + digits[point..];
    }

    public static double ToDouble(object? v) => v switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        double d => d,
        _ => throw new TemplateRuntimeError($"expected a number, got {TypeName(v)}"),
    };

    /// <summary>Python <c>==</c>.</summary>
    public static bool Eq(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        switch (a)
        {
            case string sa: return b is string sb && sa == sb;
            case List<object?> la: return b is List<object?> lb && SeqEq(la, lb);
            case object?[] ta: return b is object?[] tb && SeqEq(ta, tb);
            case PyDict da:
                if (b is not PyDict db || da.Count != db.Count) return false;
                foreach (var kv in da)
                    if (!db.TryGetValue(kv.Key, out var ov) || !Eq(kv.Value, ov)) return false;
                return true;
            default: return ReferenceEquals(a, b);
        }
    }

    static bool SeqEq(IList<object?> a, IList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++) if (!Eq(a[i], b[i])) return false;
        return true;
    }

    static long ToLong(object? v) => v is bool b ? (b ? 1 : 0) : (long)v!;

    /// <summary>Python ordering (<c>&lt;</c> etc.): numbers, strings by code point, sequences lexicographically.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a).CompareTo(ToDouble(b));
            return ToLong(a).CompareTo(ToLong(b));
        }
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var la = (IList<object?>)a!;
            var lb = (IList<object?>)b!;
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (Eq(la[i], lb[i])) continue;
                return Compare(la[i], lb[i], op);
            }
            return la.Count.CompareTo(lb.Count);
        }
        if (a is Undefined u) throw u.Fail();
        if (b is Undefined u2) throw u2.Fail();
        throw new TemplateRuntimeError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    /// <summary>Python <c>x in container</c>.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal)
            : throw new TemplateRuntimeError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> l => l.Any(x => Eq(x, item)),
        object?[] t => t.Any(x => Eq(x, item)),
        PyDict d => IsHashable(item) ? item is not null && d.ContainsKey(item) : throw new TemplateRuntimeError($"unhashable type: '{TypeName(item)}'"),
        Namespace n => item is string k && n.Attrs.ContainsKey(k),
        Undefined => false, // Undefined iterates as empty
        _ => throw new TemplateRuntimeError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    public static bool IsHashable(object? v) => v is null or bool or long or double or string || (v is object?[] t && t.All(IsHashable));

    /// <summary>Python iteration: strings by character, dicts by key, Undefined as empty.</summary>
    public static IEnumerable<object?> Iterate(object? v) => v switch
    {
        Undefined => [],
        string s => StringChars(s),
        List<object?> l => l,
        object?[] t => t,
        PyDict d => d.Keys,
        Namespace n => n.Attrs.Keys,
        _ => throw new TemplateRuntimeError($"'{TypeName(v)}' object is not iterable"),
    };

    /// <summary>Code points as strings (surrogate pairs kept together, as Python sees one character).</summary>
    public static IEnumerable<object?> StringChars(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { yield return s.Substring(i, 2); i++; }
            else yield return s[i].ToString();
        }
    }

    public static List<object?> ToList(object? v) => [.. Iterate(v)];

    /// <summary>Python <c>len(v)</c>.</summary>
    public static long Len(object? v) => v switch
    {
        string s => StringChars(s).LongCount(),
        List<object?> l => l.Count,
        object?[] t => t.Length,
        PyDict d => d.Count,
        Undefined => 0,
        Namespace n => n.Attrs.Count,
        _ => throw new TemplateRuntimeError($"object of type '{TypeName(v)}' has no len()"),
    };

    // ---------------- CLR / JSON → template values ----------------

    /// <summary>Converts caller-supplied data (JSON nodes/elements, dictionaries, lists, primitives) to template values.</summary>
    public static object? FromClr(object? v)
    {
        switch (v)
        {
            case null: return null;
            case string or bool or long or double or Undefined or Namespace or PyDict: return v;
            case int or short or byte or sbyte or ushort or uint: return Convert.ToInt64(v, Inv);
            case ulong ul: return ul <= long.MaxValue ? (long)ul : (double)ul;
            case float f: return (double)f;
            case decimal m: return (double)m;
            case char c: return c.ToString();
            case JsonElement e: return FromJson(e);
            case JsonNode n: return FromJson(n);
            case IDictionary dict:
            {
                var d = new PyDict();
                foreach (DictionaryEntry kv in dict) d[FromClr(kv.Key) ?? "None"] = FromClr(kv.Value);
                return d;
            }
            case IEnumerable<KeyValuePair<string, object?>> pairs:
            {
                var d = new PyDict();
                foreach (var kv in pairs) d[kv.Key] = FromClr(kv.Value);
                return d;
            }
            case object?[] arr: return arr.Select(FromClr).ToList();
            case IEnumerable seq:
            {
                var l = new List<object?>();
                foreach (var x in seq) l.Add(FromClr(x));
                return l;
            }
            default: throw new ArgumentException($"cannot pass a value of type {v.GetType().Name} to a chat template; use JSON, strings, numbers, booleans, lists or dictionaries");
        }
    }

    public static object? FromJson(JsonNode? n)
    {
        switch (n)
        {
            case null: return null;
            case JsonObject o:
            {
                var d = new PyDict();
                foreach (var kv in o) d[kv.Key] = FromJson(kv.Value);
                return d;
            }
            case JsonArray a: return a.Select(FromJson).ToList();
            case JsonValue jv:
                if (jv.TryGetValue<JsonElement>(out var el)) return FromJson(el);
                if (jv.TryGetValue<string>(out var s)) return s;
                if (jv.TryGetValue<bool>(out var b)) return b;
                if (jv.TryGetValue<long>(out var l)) return l;
                if (jv.TryGetValue<int>(out var i)) return (long)i;
                if (jv.TryGetValue<double>(out var d2)) return d2;
                return FromJson(JsonSerializer.SerializeToElement(jv));
            default: return null;
        }
    }

    /// <summary>JSON → Python as <c>json.loads</c> does: "1" is an int, "1.0" and "1e2" are floats.</summary>
    public static object? FromJson(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
            {
                var d = new PyDict();
                foreach (var p in e.EnumerateObject()) d[p.Name] = FromJson(p.Value);
                return d;
            }
            case JsonValueKind.Array: return e.EnumerateArray().Select(FromJson).ToList();
            case JsonValueKind.String: return e.GetString();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Number:
                string raw = e.GetRawText();
                if (raw.IndexOfAny(['.', 'e', 'E']) < 0 && e.TryGetInt64(out long l)) return l;
                return e.GetDouble();
            default: return null;
        }
    }
}

/// <summary>Hash/equality for dict keys with Python semantics (numbers by value, strings ordinal, tuples by items).</summary>
internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => Py.Eq(x, y);

    public int GetHashCode(object o) => o switch
    {
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9.2e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        string s => StringComparer.Ordinal.GetHashCode(s),
        object?[] t => t.Aggregate(17, (h, x) => h * 31 + (x is null ? 0 : GetHashCode(x))),
        _ => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(o),
    };
}
