using System.Globalization;
using System.Text;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// Python's <c>json.dumps</c> for template values, as transformers' <c>tojson</c> filter calls it: default separators
/// <c>(", ", ": ")</c>, or <c>(",", ": ")</c> when an indent is given; floats as Python repr; non-ASCII kept unless
/// ensure_ascii; keys in insertion order unless sort_keys.
/// </summary>
internal static class Json
{
    public static string Dumps(object? v, bool ensureAscii, object? indent, object? separators, bool sortKeys)
    {
        string? ind = indent switch
        {
            null => null,
            long n => new string(' ', (int)Math.Max(0, n)),
            string s => s,
            _ => throw new TemplateRuntimeError($"tojson indent must be an integer or a string, not {Py.TypeName(indent)}"),
        };
        string itemSep = ind == null ? ", " : ",", keySep = ": ";
        if (separators != null)
        {
            var parts = Py.ToList(separators);
            if (parts.Count != 2 || parts[0] is not string a || parts[1] is not string b)
                throw new TemplateRuntimeError("tojson separators must be a pair of strings");
            itemSep = a;
            keySep = b;
        }
        var sb = new StringBuilder();
        Write(sb, v, ensureAscii, ind, itemSep, keySep, sortKeys, 0);
        return sb.ToString();
    }

    static void Write(StringBuilder sb, object? v, bool ascii, string? ind, string itemSep, string keySep, bool sort, int depth)
    {
        switch (v)
        {
            case null: sb.Append("null"); return;
            case bool b: sb.Append(b ? "true" : "false"); return;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FloatRepr(d));
                return;
            case string s: WriteString(sb, s, ascii); return;
            case List<object?> or object?[]:
            {
                var items = (IList<object?>)v;
                if (items.Count == 0) { sb.Append("[]"); return; }
                sb.Append('[');
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, ind, depth + 1);
                    Write(sb, items[i], ascii, ind, itemSep, keySep, sort, depth + 1);
                }
                NewLine(sb, ind, depth);
                sb.Append(']');
                return;
            }
            case PyDict dict:
            {
                if (dict.Count == 0) { sb.Append("{}"); return; }
                var pairs = dict.Select(kv => (Key: KeyString(kv.Key), kv.Value)).ToList();
                if (sort) pairs.Sort((x, y) => string.CompareOrdinal(x.Key, y.Key));
                sb.Append('{');
                for (int i = 0; i < pairs.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, ind, depth + 1);
                    WriteString(sb, pairs[i].Key, ascii);
                    sb.Append(keySep);
                    Write(sb, pairs[i].Value, ascii, ind, itemSep, keySep, sort, depth + 1);
                }
                NewLine(sb, ind, depth);
                sb.Append('}');
                return;
            }
            default:
                throw new TemplateRuntimeError($"Object of type {Py.TypeName(v)} is not JSON serializable");
        }
    }

    static string KeyString(object k) => k switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long or double => Py.Str(k),
        _ => throw new TemplateRuntimeError($"keys must be str, int, float, bool or None, not {Py.TypeName(k)}"),
    };

    static void NewLine(StringBuilder sb, string? ind, int depth)
    {
        if (ind == null) return;
        sb.Append('\n');
        for (int i = 0; i < depth; i++) sb.Append(ind);
    }

    static void WriteString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7e)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
