using System.Globalization;
using System.Text;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// Jinja2's built-in filters (jinja2/filters.py semantics) plus transformers' <c>tojson</c>, which replaces Jinja's:
/// <c>json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c> with no HTML
/// escaping and no key sorting by default (transformers/utils/chat_template_utils.py <c>_compile_jinja_template</c>).
/// </summary>
internal static class Filters
{
    delegate object? Filter(Interpreter it, object? value, CallArgs a);

    static readonly Dictionary<string, Filter> Table = new(StringComparer.Ordinal)
    {
        ["trim"] = (_, v, a) => Methods.Strip(Py.Str(v), a.Get(0, "chars"), true, true),
        ["length"] = (_, v, _) => Py.Len(v),
        ["count"] = (_, v, _) => Py.Len(v),
        ["tojson"] = (_, v, a) => Json.Dumps(v, a.Bool(0, "ensure_ascii", false), a.Get(1, "indent"), a.Get(2, "separators"), a.Bool(3, "sort_keys", false)),
        ["upper"] = (_, v, _) => Py.Str(v).ToUpperInvariant(),
        ["lower"] = (_, v, _) => Py.Str(v).ToLowerInvariant(),
        ["title"] = (_, v, _) => JinjaTitle(Py.Str(v)),
        ["capitalize"] = (_, v, _) => Methods.Capitalize(Py.Str(v)),
        ["replace"] = (_, v, a) => Methods.Replace(Py.Str(v), Py.Str(a.Required(0, "old")), Py.Str(a.Required(1, "new")), a.Get(2, "count") is long c ? c : -1),
        ["join"] = (it, v, a) => string.Join(Py.Str(a.Get(0, "d", "")),
            Attr(it, Py.Iterate(v), a.Get(1, "attribute")).Select(Py.Str)),
        ["default"] = Default,
        ["d"] = Default,
        ["first"] = (_, v, _) => Py.Iterate(v).Take(1).ToList() is { Count: 1 } f ? f[0] : new Undefined("No first item, sequence was empty."),
        ["last"] = (_, v, _) => Py.ToList(v) is { Count: > 0 } l ? l[^1] : new Undefined("No last item, sequence was empty."),
        ["list"] = (_, v, _) => Py.ToList(v),
        ["items"] = (_, v, _) => v switch
        {
            Undefined => new List<object?>(),
            PyDict d => d.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList(),
            _ => throw new TemplateRuntimeError("Can only get item pairs from a mapping."),
        },
        ["string"] = (_, v, _) => Py.Str(v),
        // int()/float() of an undefined value raise UndefinedError in Python (not caught as TypeError/ValueError).
        ["int"] = (_, v, a) => v is Undefined u ? throw u.Fail() : ToInt(v, a.Get(0, "default", 0L), a.Int(1, "base", 10)),
        ["float"] = (_, v, a) => v is Undefined u ? throw u.Fail() : ToFloat(v) ?? a.Get(0, "default", 0.0),
        ["abs"] = (_, v, _) => v switch
        {
            long l => (object)Math.Abs(l), // (object): keep the int arm an int
            double d => Math.Abs(d),
            bool b => b ? 1L : 0L,
            _ => throw new TemplateRuntimeError($"bad operand type for abs(): '{Py.TypeName(v)}'"),
        },
        ["round"] = (_, v, a) => Round(v, a.Int(0, "precision", 0), a.String(1, "method", "common")),
        ["selectattr"] = (it, v, a) => SelectAttr(it, v, a, keep: true),
        ["rejectattr"] = (it, v, a) => SelectAttr(it, v, a, keep: false),
        ["select"] = (it, v, a) => Select(it, v, a, keep: true),
        ["reject"] = (it, v, a) => Select(it, v, a, keep: false),
        ["map"] = Map,
        ["unique"] = Unique,
        ["safe"] = (_, v, _) => v,
        ["indent"] = (_, v, a) => Indent(v is string str ? str : v is Undefined u ? throw u.Fail()
            : throw new TemplateRuntimeError($"unsupported operand type(s) for +=: '{Py.TypeName(v)}' and 'str'"), a.Get(0, "width", 4L), a.Bool(1, "first", false), a.Bool(2, "blank", false)),
        ["wordcount"] = (_, v, _) => WordCount(Py.Str(v)),
        ["batch"] = Batch,
        ["dictsort"] = DictSort,
        ["sort"] = Sort,
        ["reverse"] = (_, v, _) => v is string s ? string.Concat(Py.StringChars(s).Reverse()) : Enumerable.Reverse(Py.ToList(v)).ToList(),
        ["min"] = (it, v, a) => MinMax(it, v, a, -1),
        ["max"] = (it, v, a) => MinMax(it, v, a, 1),
        ["sum"] = Sum,
        ["attr"] = (it, v, a) => it.GetAttr(v, Py.Str(a.Required(0, "name"))),
        ["escape"] = (_, v, _) => Escape(Py.Str(v)),
        ["e"] = (_, v, _) => Escape(Py.Str(v)),
        ["center"] = (_, v, a) => Methods.Call(null!, Py.Str(v), "center", CallArgs.Of("center", a.Get(0, "width", 80L))),
    };

    public static bool Exists(string name) => Table.ContainsKey(name);

    public static object? Apply(Interpreter it, string name, object? value, CallArgs args)
    {
        if (!Table.TryGetValue(name, out var f)) throw new TemplateRuntimeError($"unknown filter '{name}'");
        // Most filters coerce with str(), where Undefined prints as ""; the ones that need the value itself check it.
        return f(it, value, args);
    }

    static object? Default(Interpreter _, object? v, CallArgs a)
    {
        bool boolean = a.Bool(1, "boolean", false);
        if (v is Undefined || (boolean && !Py.Truthy(v))) return a.Get(0, "default_value", "");
        return v;
    }

    /// <summary>Jinja's title filter: capitalise each word, where words start after runs of whitespace, '-', '(', '{', '[', '&lt;'.</summary>
    static string JinjaTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool start = true;
        foreach (char c in s)
        {
            bool sep = c is '-' or '(' or '{' or '[' or '<' || char.IsWhiteSpace(c);
            if (sep) { sb.Append(c); start = true; continue; }
            sb.Append(start ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            start = false;
        }
        return sb.ToString();
    }

    static object? ToInt(object? v, object? dflt, long b)
    {
        switch (v)
        {
            case long or bool: return v is bool x ? (x ? 1L : 0L) : v;
            case double d: return double.IsFinite(d) ? (long)Math.Truncate(d) : dflt;
            case string s:
                string t = Methods.Strip(s, null, true, true).Replace("_", "");
                try
                {
                    if (b == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                    if (b != 10 && t.Length > 0) return Convert.ToInt64(t, (int)b);
                }
                catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException) { return dflt; }
                return ToFloat(s) is double f && double.IsFinite(f) ? (long)Math.Truncate(f) : dflt;
            default: return dflt;
        }
    }

    static double? ToFloat(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => d,
        string s => double.TryParse(Methods.Strip(s, null, true, true).Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
            ? d
            : Methods.Strip(s, null, true, true).ToLowerInvariant() switch
            {
                "inf" or "+inf" or "infinity" => double.PositiveInfinity,
                "-inf" or "-infinity" => double.NegativeInfinity,
                "nan" => double.NaN,
                _ => null,
            },
        _ => null,
    };

    static object? Round(object? v, long precision, string method)
    {
        double x = Py.ToDouble(v);
        double scale = Math.Pow(10, precision);
        return method switch
        {
            // Python round(): ints stay ints for precision >= 0; floats round half to even.
            "common" when v is long or bool && precision >= 0 => v is bool b ? (b ? 1L : 0L) : v,
            "common" when precision >= 0 => (object)Math.Round(x, (int)Math.Min(precision, 15), MidpointRounding.ToEven),
            "common" when v is long or bool => (long)(Math.Round(x * scale, MidpointRounding.ToEven) / scale),
            "common" => Math.Round(x * scale, MidpointRounding.ToEven) / scale,
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new TemplateRuntimeError("method must be common, ceil or floor"),
        };
    }

    /// <summary>Resolves a dotted attribute path the way Jinja's make_attrgetter does (item lookup first, integers as indexes).</summary>
    public static object? AttrPath(Interpreter it, object? v, string path)
    {
        foreach (var part in path.Split('.'))
        {
            object key = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long i) ? i : part;
            v = it.GetItem(v, key);
        }
        return v;
    }

    static IEnumerable<object?> Attr(Interpreter it, IEnumerable<object?> seq, object? attribute) =>
        attribute is null ? seq : seq.Select(x => AttrPath(it, x, Py.Str(attribute)));

    static object? SelectAttr(Interpreter it, object? v, CallArgs a, bool keep)
    {
        string attr = Py.Str(a.Required(0, "attr"));
        var rest = a.Positional.Skip(1).ToList();
        return Iterable(v).Where(x =>
        {
            var av = AttrPath(it, x, attr);
            bool r = rest.Count == 0 ? Py.Truthy(av) : Tests.Apply(it, Py.Str(rest[0]), av, rest.Skip(1).ToList());
            return r == keep;
        }).ToList();
    }

    static object? Select(Interpreter it, object? v, CallArgs a, bool keep)
    {
        var rest = a.Positional;
        return Iterable(v).Where(x =>
        {
            bool r = rest.Count == 0 ? Py.Truthy(x) : Tests.Apply(it, Py.Str(rest[0]), x, rest.Skip(1).ToList());
            return r == keep;
        }).ToList();
    }

    /// <summary>select/reject/selectattr/rejectattr/map start with <c>if value:</c> (jinja2 filters.py), so a falsy value gives nothing.</summary>
    static IEnumerable<object?> Iterable(object? v) => Py.Truthy(v) ? Py.Iterate(v) : [];

    static object? Map(Interpreter it, object? v, CallArgs a)
    {
        if (a.Keywords.TryGetValue("attribute", out var attr))
        {
            var dflt = a.Keywords.GetValueOrDefault("default");
            bool hasDefault = a.Keywords.ContainsKey("default");
            return Iterable(v).Select(x =>
            {
                var r = AttrPath(it, x, Py.Str(attr));
                return r is Undefined && hasDefault ? dflt : r;
            }).ToList();
        }
        if (a.Positional.Count == 0) throw new TemplateRuntimeError("map requires a filter name or attribute=");
        string filter = Py.Str(a.Positional[0]);
        var args = new CallArgs(filter, a.Positional.Skip(1).ToList(), a.Keywords);
        return Iterable(v).Select(x => Apply(it, filter, x, args)).ToList();
    }

    static object? Unique(Interpreter it, object? v, CallArgs a)
    {
        bool cs = a.Bool(0, "case_sensitive", false);
        var attr = a.Get(1, "attribute");
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var x in Py.Iterate(v))
        {
            var key = attr is null ? x : AttrPath(it, x, Py.Str(attr));
            if (!cs && key is string s) key = s.ToLowerInvariant();
            if (seen.Any(k => Py.Eq(k, key))) continue;
            seen.Add(key);
            result.Add(x);
        }
        return result;
    }

    static string Indent(string s, object? width, bool first, bool blank)
    {
        string ind = width is string w ? w : new string(' ', (int)(width is long l ? l : 4));
        var lines = PySplitLines(s + "\n");
        string rv;
        if (blank) rv = string.Join("\n" + ind, lines);
        else
        {
            rv = lines[0];
            if (lines.Count > 1) rv += "\n" + string.Join("\n", lines.Skip(1).Select(x => x.Length > 0 ? ind + x : x));
        }
        return first ? ind + rv : rv;
    }

    /// <summary>Python str.splitlines() without keepends (splits on \n, \r\n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029).</summary>
    public static List<string> PySplitLines(string s)
    {
        var r = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                r.Add(s[start..i]);
                if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
                start = i + 1;
            }
        }
        if (start < s.Length) r.Add(s[start..]);
        return r;
    }

    static long WordCount(string s)
    {
        long n = 0;
        bool inWord = false;
        foreach (char c in s)
        {
            bool w = char.IsLetterOrDigit(c) || c == '_';
            if (w && !inWord) n++;
            inWord = w;
        }
        return n;
    }

    static object? Batch(Interpreter _, object? v, CallArgs a)
    {
        long size = a.Int(0, "linecount", 1);
        if (size <= 0) throw new TemplateRuntimeError("batch size must be positive");
        bool fill = a.Has(1, "fill_with");
        var fillWith = a.Get(1, "fill_with");
        var result = new List<object?>();
        List<object?>? cur = null;
        foreach (var x in Py.Iterate(v))
        {
            cur ??= [];
            cur.Add(x);
            if (cur.Count == size) { result.Add(cur); cur = null; }
        }
        if (cur != null)
        {
            if (fill) while (cur.Count < size) cur.Add(fillWith);
            result.Add(cur);
        }
        return result;
    }

    static object? SortKey(object? x, bool caseSensitive) => !caseSensitive && x is string s ? s.ToLowerInvariant() : x;

    static List<object?> StableSort(IEnumerable<object?> items, Func<object?, object?> key, bool reverse)
    {
        var list = items.ToList();
        var keyed = list.Select((x, i) => (Key: key(x), Index: i, Item: x)).ToList();
        keyed.Sort((p, q) =>
        {
            int c = Py.Compare(p.Key, q.Key);
            if (reverse) c = -c;
            return c != 0 ? c : p.Index.CompareTo(q.Index);
        });
        return keyed.Select(k => k.Item).ToList();
    }

    static object? DictSort(Interpreter _, object? v, CallArgs a)
    {
        if (v is not PyDict d) throw new TemplateRuntimeError("dictsort filter needs a mapping");
        bool cs = a.Bool(0, "case_sensitive", false);
        string by = a.String(1, "by", "key");
        bool reverse = a.Bool(2, "reverse", false);
        int pos = by switch { "key" => 0, "value" => 1, _ => throw new TemplateRuntimeError("You can only sort by either \"key\" or \"value\"") };
        var pairs = d.Select(kv => (object?)new object?[] { kv.Key, kv.Value });
        return StableSort(pairs, p => SortKey(((object?[])p!)[pos], cs), reverse);
    }

    static object? Sort(Interpreter it, object? v, CallArgs a)
    {
        bool reverse = a.Bool(0, "reverse", false);
        bool cs = a.Bool(1, "case_sensitive", false);
        var attr = a.Get(2, "attribute");
        return StableSort(Py.Iterate(v), x => SortKey(attr is null ? x : AttrPath(it, x, Py.Str(attr)), cs), reverse);
    }

    static object? MinMax(Interpreter it, object? v, CallArgs a, int sign)
    {
        bool cs = a.Bool(0, "case_sensitive", false);
        var attr = a.Get(1, "attribute");
        object? best = null;
        object? bestKey = null;
        bool any = false;
        foreach (var x in Py.Iterate(v))
        {
            var k = SortKey(attr is null ? x : AttrPath(it, x, Py.Str(attr)), cs);
            if (!any || Py.Compare(k, bestKey) * sign > 0) { best = x; bestKey = k; any = true; }
        }
        return any ? best : new Undefined("No aggregated item, sequence was empty.");
    }

    static object? Sum(Interpreter it, object? v, CallArgs a)
    {
        var attr = a.Get(0, "attribute");
        object? total = a.Get(1, "start", 0L);
        foreach (var x in Attr(it, Py.Iterate(v), attr)) total = Operators.Binary("+", total, x);
        return total;
    }

    static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("'", "&#39;").Replace("\"", "&#34;");
}
