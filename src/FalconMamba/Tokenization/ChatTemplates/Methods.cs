using System.Globalization;
using System.Text;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// Python methods callable from templates: str (strip, split, startswith, format, ...), dict (items, keys, values, get),
/// list/tuple (index, count). Mutating methods (list.append, dict.update, ...) exist but are refused, as in
/// transformers' <c>ImmutableSandboxedEnvironment</c> (jinja2/sandbox.py <c>modifies_known_mutable</c>), which raises
/// "access to attribute 'append' of 'list' object is unsafe".
/// </summary>
internal static class Methods
{
    static readonly HashSet<string> StrMethods =
    [
        "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "splitlines", "upper", "lower", "replace",
        "title", "capitalize", "format", "join", "count", "find", "rfind", "index", "isdigit", "isalpha", "isalnum", "isspace",
        "isupper", "islower", "removeprefix", "removesuffix", "swapcase", "casefold", "zfill", "center", "ljust", "rjust",
    ];
    static readonly HashSet<string> DictMethods = ["items", "keys", "values", "get", "copy"];
    static readonly HashSet<string> DictUnsafe = ["update", "pop", "popitem", "setdefault", "clear"];
    static readonly HashSet<string> ListMethods = ["index", "count", "copy"];
    static readonly HashSet<string> ListUnsafe = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"];

    public static bool Has(object? target, string name) => target switch
    {
        string => StrMethods.Contains(name),
        PyDict => DictMethods.Contains(name) || DictUnsafe.Contains(name),
        List<object?> => ListMethods.Contains(name) || ListUnsafe.Contains(name),
        object?[] => name is "index" or "count",
        _ => false,
    };

    public static bool IsUnsafe(object? target, string name) =>
        (target is PyDict && DictUnsafe.Contains(name)) || (target is List<object?> && ListUnsafe.Contains(name));

    public static object? Call(Interpreter interp, object? target, string name, CallArgs a)
    {
        if (IsUnsafe(target, name))
            throw new TemplateRuntimeError($"access to attribute '{name}' of '{Py.TypeName(target)}' object is unsafe");
        return target switch
        {
            string s => StrCall(s, name, a),
            PyDict d => DictCall(d, name, a),
            List<object?> l => SeqCall(l, name, a),
            object?[] t => SeqCall(t, name, a),
            _ => throw new TemplateRuntimeError($"'{Py.TypeName(target)}' object has no attribute '{name}'"),
        };
    }

    static object? DictCall(PyDict d, string name, CallArgs a)
    {
        switch (name)
        {
            case "items": return d.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList();
            case "keys": return d.Keys.Select(k => (object?)k).ToList();
            case "values": return d.Values.ToList();
            case "get":
                var key = a.Required(0, "key");
                return key is not null && Py.IsHashable(key) && d.TryGetValue(key, out var v) ? v : a.Get(1, "default");
            case "copy":
                var c = new PyDict();
                foreach (var kv in d) c[kv.Key] = kv.Value;
                return c;
            default: throw new TemplateRuntimeError($"'dict' object has no attribute '{name}'");
        }
    }

    static object? SeqCall(IList<object?> l, string name, CallArgs a)
    {
        var x = a.Required(0, "value");
        switch (name)
        {
            case "count": return (long)l.Count(y => Py.Eq(x, y));
            case "index":
                for (int i = 0; i < l.Count; i++) if (Py.Eq(l[i], x)) return (long)i;
                throw new TemplateRuntimeError($"{Py.Repr(x)} is not in list");
            case "copy": return l.ToList();
            default: throw new TemplateRuntimeError($"'list' object has no attribute '{name}'");
        }
    }

    /// <summary>Python's str.isspace set: .NET whitespace plus the ASCII separators U+001C..U+001F.</summary>
    public static bool IsPySpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars switch
        {
            null => IsPySpace,
            string cs => cs.Contains,
            _ => throw new TemplateRuntimeError("strip arg must be None or str"),
        };
        int a = 0, b = s.Length;
        if (left) while (a < b && strip(s[a])) a++;
        if (right) while (b > a && strip(s[b - 1])) b--;
        return s[a..b];
    }

    public static List<object?> Split(string s, string? sep, long maxsplit)
    {
        var r = new List<object?>();
        if (sep == null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsPySpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxsplit >= 0 && r.Count == maxsplit) { r.Add(Strip(s[i..], null, false, true)); break; }
                int j = i;
                while (j < s.Length && !IsPySpace(s[j])) j++;
                r.Add(s[i..j]);
                i = j;
            }
            return r;
        }
        if (sep.Length == 0) throw new TemplateRuntimeError("empty separator");
        int start = 0;
        while (maxsplit < 0 || r.Count < maxsplit)
        {
            int k = s.IndexOf(sep, start, StringComparison.Ordinal);
            if (k < 0) break;
            r.Add(s[start..k]);
            start = k + sep.Length;
        }
        r.Add(s[start..]);
        return r;
    }

    /// <summary>Python str.title(): a cased letter after an uncased character is upper-cased, the others lower-cased.</summary>
    public static string PyTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool prevCased = false;
        foreach (char c in s)
        {
            sb.Append(prevCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevCased = char.IsLetter(c) && (char.IsUpper(c) || char.IsLower(c) || char.ToUpperInvariant(c) != char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    static bool AffixMatch(string s, object? affix, bool start, CallArgs a)
    {
        long n = s.Length;
        long b = a.Get(1, "start") is long st ? (st < 0 ? Math.Max(0, st + n) : Math.Min(st, n)) : 0;
        long e = a.Get(2, "end") is long en ? (en < 0 ? Math.Max(0, en + n) : Math.Min(en, n)) : n;
        string sub = b <= e ? s[(int)b..(int)e] : "";
        if (affix is object?[] t) return t.Any(x => AffixMatch(sub, x, start, CallArgs.Of("")));
        if (affix is not string p) throw new TemplateRuntimeError($"{(start ? "startswith" : "endswith")} first arg must be str or a tuple of str, not {Py.TypeName(affix)}");
        return start ? sub.StartsWith(p, StringComparison.Ordinal) : sub.EndsWith(p, StringComparison.Ordinal);
    }

    static object? StrCall(string s, string name, CallArgs a)
    {
        switch (name)
        {
            case "strip": return Strip(s, a.Get(0, "chars"), true, true);
            case "lstrip": return Strip(s, a.Get(0, "chars"), true, false);
            case "rstrip": return Strip(s, a.Get(0, "chars"), false, true);
            case "startswith": return AffixMatch(s, a.Required(0, "prefix"), true, a);
            case "endswith": return AffixMatch(s, a.Required(0, "suffix"), false, a);
            case "split": return Split(s, (string?)CheckStrOrNone(a.Get(0, "sep")), a.Int(1, "maxsplit", -1));
            case "rsplit":
            {
                // rsplit with maxsplit: split from the right (reverse, split, reverse back).
                long max = a.Int(1, "maxsplit", -1);
                var sep = (string?)CheckStrOrNone(a.Get(0, "sep"));
                if (max < 0) return Split(s, sep, -1);
                string Rev(string x) => new([.. x.Reverse()]);
                var parts = Split(Rev(s), sep == null ? null : Rev(sep), max);
                parts.Reverse();
                return parts.Select(p => (object?)Rev((string)p!)).ToList();
            }
            case "splitlines":
            {
                var lines = s.Split('\n').Select(x => x.TrimEnd('\r')).ToList();
                if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
                return lines.Select(x => (object?)x).ToList();
            }
            case "upper": return s.ToUpperInvariant();
            case "lower" or "casefold": return s.ToLowerInvariant();
            case "swapcase": return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "title": return PyTitle(s);
            case "capitalize": return Capitalize(s);
            case "replace":
            {
                string old = a.String(0, "old"), nu = a.String(1, "new");
                long count = a.Int(2, "count", -1);
                return Replace(s, old, nu, count);
            }
            case "format": return Format(s, a);
            case "join":
                return string.Join(s, Py.Iterate(a.Required(0, "iterable")).Select(x =>
                    x as string ?? throw new TemplateRuntimeError($"sequence item: expected str instance, {Py.TypeName(x)} found")));
            case "count":
            {
                string sub = a.String(0, "sub");
                if (sub.Length == 0) return (long)s.Length + 1;
                long c = 0;
                for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) c++;
                return c;
            }
            case "find": return (long)s.IndexOf(a.String(0, "sub"), StringComparison.Ordinal);
            case "rfind": return (long)s.LastIndexOf(a.String(0, "sub"), StringComparison.Ordinal);
            case "index":
            {
                int i = s.IndexOf(a.String(0, "sub"), StringComparison.Ordinal);
                return i >= 0 ? i : throw new TemplateRuntimeError("substring not found");
            }
            case "isdigit": return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha": return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace": return s.Length > 0 && s.All(IsPySpace);
            case "isupper": return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            case "islower": return s.Any(char.IsLetter) && !s.Any(char.IsUpper);
            case "removeprefix": { string p = a.String(0, "prefix"); return s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s; }
            case "removesuffix": { string p = a.String(0, "suffix"); return p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s; }
            case "zfill":
            {
                long w = a.Int(0, "width", 0);
                if (s.Length >= w) return s;
                int signLen = s.Length > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
                return s[..signLen] + new string('0', (int)w - s.Length) + s[signLen..];
            }
            case "center" or "ljust" or "rjust":
            {
                long w = a.Int(0, "width", 0);
                string fill = a.String(1, "fillchar", " ");
                if (s.Length >= w) return s;
                int pad = (int)w - s.Length;
                return name switch
                {
                    "ljust" => s + new string(fill[0], pad),
                    "rjust" => new string(fill[0], pad) + s,
                    // Python center puts the extra char on the right when the pad is odd and the width is even... use CPython's rule.
                    _ => new string(fill[0], pad / 2 + (pad & (int)w & 1)) + s + new string(fill[0], pad - (pad / 2 + (pad & (int)w & 1))),
                };
            }
            default: throw new TemplateRuntimeError($"'str' object has no attribute '{name}'");
        }
    }

    static object? CheckStrOrNone(object? v) =>
        v is null or string ? v : throw new TemplateRuntimeError($"must be str or None, not {Py.TypeName(v)}");

    public static string Replace(string s, string old, string nu, long count)
    {
        if (count < 0) return old.Length == 0 ? InsertBetween(s, nu, -1) : s.Replace(old, nu, StringComparison.Ordinal);
        if (old.Length == 0) return InsertBetween(s, nu, count);
        var sb = new StringBuilder();
        int start = 0;
        for (long n = 0; n < count; n++)
        {
            int k = s.IndexOf(old, start, StringComparison.Ordinal);
            if (k < 0) break;
            sb.Append(s, start, k - start).Append(nu);
            start = k + old.Length;
        }
        return sb.Append(s, start, s.Length - start).ToString();
    }

    static string InsertBetween(string s, string nu, long count)
    {
        // Python: "ab".replace("", "-") == "-a-b-"
        var sb = new StringBuilder();
        long n = 0;
        foreach (var ch in Py.StringChars(s))
        {
            if (count < 0 || n < count) { sb.Append(nu); n++; }
            sb.Append((string)ch!);
        }
        if (count < 0 || n < count) sb.Append(nu);
        return sb.ToString();
    }

    // ---------------- str.format ----------------

    /// <summary>Python <c>str.format</c>: <c>{}</c>, <c>{0}</c>, <c>{name}</c>, <c>{0[key]}</c>/<c>{0.attr}</c>, <c>!r</c>/<c>!s</c>, and a format spec.</summary>
    public static string Format(string fmt, CallArgs a)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < fmt.Length; i++)
        {
            char c = fmt[i];
            if (c == '{')
            {
                if (i + 1 < fmt.Length && fmt[i + 1] == '{') { sb.Append('{'); i++; continue; }
                int close = fmt.IndexOf('}', i);
                if (close < 0) throw new TemplateRuntimeError("Single '{' encountered in format string");
                string field = fmt[(i + 1)..close];
                i = close;
                string spec = "";
                char conv = '\0';
                int colon = field.IndexOf(':');
                if (colon >= 0) { spec = field[(colon + 1)..]; field = field[..colon]; }
                int bang = field.IndexOf('!');
                if (bang >= 0) { conv = field.Length > bang + 1 ? field[bang + 1] : 's'; field = field[..bang]; }
                int end = field.IndexOfAny(['.', '[']);
                string head = end < 0 ? field : field[..end];
                object? v;
                if (head.Length == 0) v = auto < a.Positional.Count ? a.Positional[auto++] : throw new TemplateRuntimeError("Replacement index out of range for positional args tuple");
                else if (int.TryParse(head, NumberStyles.None, CultureInfo.InvariantCulture, out int idx))
                    v = idx < a.Positional.Count ? a.Positional[idx] : throw new TemplateRuntimeError($"Replacement index {idx} out of range for positional args tuple");
                else v = a.Keywords.TryGetValue(head, out var kv) ? kv : throw new TemplateRuntimeError($"KeyError: '{head}'");
                // Accessors: .attr and [key]
                int p = head.Length;
                while (end >= 0 && p < field.Length)
                {
                    if (field[p] == '.')
                    {
                        int q = field.IndexOfAny(['.', '['], p + 1);
                        string attr = q < 0 ? field[(p + 1)..] : field[(p + 1)..q];
                        v = v is PyDict d && d.TryGetValue(attr, out var dv) ? dv : throw new TemplateRuntimeError($"'{Py.TypeName(v)}' object has no attribute '{attr}'");
                        p = q < 0 ? field.Length : q;
                    }
                    else
                    {
                        int q = field.IndexOf(']', p);
                        string key = field[(p + 1)..q];
                        object k = long.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out long lk) ? lk : key;
                        v = v switch
                        {
                            PyDict d when d.TryGetValue(k, out var dv) => dv,
                            List<object?> l when k is long li && li < l.Count => l[(int)li],
                            _ => throw new TemplateRuntimeError($"KeyError: {Py.Repr(k)}"),
                        };
                        p = q + 1;
                    }
                }
                if (conv == 'r') v = Py.Repr(v);
                else if (conv == 's') v = Py.Str(v);
                sb.Append(FormatSpec(v, spec));
            }
            else if (c == '}')
            {
                if (i + 1 < fmt.Length && fmt[i + 1] == '}') { sb.Append('}'); i++; continue; }
                throw new TemplateRuntimeError("Single '}' encountered in format string");
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Python's format-spec mini-language: [[fill]align][sign][0][width][,][.precision][type] for s, d, f, e, %.</summary>
    public static string FormatSpec(object? v, string spec)
    {
        if (spec.Length == 0) return Py.Str(v);
        int i = 0;
        char fill = ' ', align = '\0';
        if (spec.Length >= 2 && "<>^=".Contains(spec[1])) { fill = spec[0]; align = spec[1]; i = 2; }
        else if ("<>^=".Contains(spec[0])) { align = spec[0]; i = 1; }
        char sign = '-';
        if (i < spec.Length && "+- ".Contains(spec[i])) sign = spec[i++];
        if (i < spec.Length && spec[i] == '0') { if (align == '\0') { fill = '0'; align = '='; } i++; }
        int ws = i;
        while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++;
        int width = i > ws ? int.Parse(spec[ws..i], CultureInfo.InvariantCulture) : 0;
        bool comma = i < spec.Length && spec[i] == ',';
        if (comma) i++;
        int precision = -1;
        if (i < spec.Length && spec[i] == '.')
        {
            int ps = ++i;
            while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++;
            precision = int.Parse(spec[ps..i], CultureInfo.InvariantCulture);
        }
        char type = i < spec.Length ? spec[i++] : '\0';
        if (i != spec.Length) throw new TemplateRuntimeError($"Invalid format specifier '{spec}'");
        string body;
        bool numeric = v is long or double or bool && type != 's';
        if (!numeric)
        {
            if (type is not ('\0' or 's')) throw new TemplateRuntimeError($"Unknown format code '{type}' for object of type '{Py.TypeName(v)}'");
            body = Py.Str(v);
            if (precision >= 0 && body.Length > precision) body = body[..precision];
            if (align == '\0') align = '<';
        }
        else
        {
            double d = Py.ToDouble(v);
            bool neg = d < 0 || (d == 0 && double.IsNegative(d));
            string digits = type switch
            {
                'd' => v is double ? throw new TemplateRuntimeError("Unknown format code 'd' for object of type 'float'") : Math.Abs(Convert.ToInt64(d)).ToString(comma ? "N0" : "D", CultureInfo.InvariantCulture),
                'f' or 'F' => Math.Abs(d).ToString((comma ? "N" : "F") + (precision < 0 ? 6 : precision), CultureInfo.InvariantCulture),
                'x' or 'X' => v is double ? throw new TemplateRuntimeError("Unknown format code 'x' for object of type 'float'")
                    : Convert.ToString(Math.Abs(Convert.ToInt64(d)), 16) is var hx && type == 'X' ? hx.ToUpperInvariant() : Convert.ToString(Math.Abs(Convert.ToInt64(d)), 16),
                'e' or 'E' => FormatExp(Math.Abs(d), precision < 0 ? 6 : precision, type),
                '%' => (Math.Abs(d) * 100).ToString("F" + (precision < 0 ? 6 : precision), CultureInfo.InvariantCulture) + "%",
                _ => v is double && precision >= 0 ? Math.Abs(d).ToString("G" + precision, CultureInfo.InvariantCulture)
                    : Py.Str(v is bool b ? (b ? 1L : 0L) : v).TrimStart('-'),
            };
            string signStr = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
            if (align == '=')
            {
                int pad = Math.Max(0, width - signStr.Length - digits.Length);
                return signStr + new string(fill, pad) + digits;
            }
            body = signStr + digits;
            if (align == '\0') align = '>';
        }
        if (body.Length >= width) return body;
        int total = width - body.Length;
        return align switch
        {
            '<' => body + new string(fill, total),
            '^' => new string(fill, total / 2) + body + new string(fill, total - total / 2),
            _ => new string(fill, total) + body,
        };
    }

    static string FormatExp(double d, int precision, char type)
    {
        string s = d.ToString((type == 'E' ? "E" : "e") + precision, CultureInfo.InvariantCulture); // 1.5e+003
        int e = s.IndexOfAny(['e', 'E']);
        int exp = int.Parse(s[(e + 1)..], CultureInfo.InvariantCulture);
        return s[..(e + 1)] + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
    }
}
