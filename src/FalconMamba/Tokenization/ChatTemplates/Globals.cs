using System.Globalization;
using System.Text;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// Global functions visible to every template: Jinja's <c>range</c>, <c>dict</c>, <c>namespace</c>, <c>cycler</c>,
/// <c>joiner</c>, and the two transformers adds (chat_template_utils.py): <c>raise_exception(message)</c> and
/// <c>strftime_now(format)</c>.
/// </summary>
internal static class Globals
{
    /// <summary>jinja2.sandbox.MAX_RANGE: the sandbox refuses larger ranges.</summary>
    const long MaxRange = 100_000;

    public static void AddTo(Scope scope, Func<DateTime> now)
    {
        scope.Set("range", new BuiltinFunction("range", (_, a) => Range(a)));
        scope.Set("dict", new BuiltinFunction("dict", (_, a) => Dict(a)));
        scope.Set("namespace", new BuiltinFunction("namespace", (_, a) =>
        {
            var ns = new Namespace();
            foreach (var p in a.Positional)
            {
                if (p is not PyDict d) throw new TemplateRuntimeError("namespace() takes a mapping or keyword arguments");
                foreach (var kv in d) ns.Attrs[Py.Str(kv.Key)] = kv.Value;
            }
            foreach (var kv in a.Keywords) ns.Attrs[kv.Key] = kv.Value;
            return ns;
        }));
        scope.Set("cycler", new BuiltinFunction("cycler", (_, a) =>
            a.Positional.Count > 0 ? new Cycler([.. a.Positional]) : throw new TemplateRuntimeError("cycler needs at least one item")));
        scope.Set("joiner", new BuiltinFunction("joiner", (_, a) => new Joiner(a.String(0, "sep", ", "))));
        scope.Set("raise_exception", new BuiltinFunction("raise_exception", (_, a) =>
            throw new TemplateRuntimeError(Py.Str(a.Get(0, "message", "")))));
        scope.Set("strftime_now", new BuiltinFunction("strftime_now", (_, a) => Strftime(now(), a.String(0, "format"))));
    }

    static object? Range(CallArgs a)
    {
        long start = 0, stop, step = 1;
        var p = a.Positional;
        long I(object? v) => v switch { long l => l, bool b => b ? 1 : 0, _ => throw new TemplateRuntimeError($"'{Py.TypeName(v)}' object cannot be interpreted as an integer") };
        switch (p.Count)
        {
            case 1: stop = I(p[0]); break;
            case 2: start = I(p[0]); stop = I(p[1]); break;
            case 3: start = I(p[0]); stop = I(p[1]); step = I(p[2]); break;
            default: throw new TemplateRuntimeError($"range expected 1 to 3 arguments, got {p.Count}");
        }
        if (step == 0) throw new TemplateRuntimeError("range() arg 3 must not be zero");
        long count = step > 0 ? Math.Max(0, (stop - start + step - 1) / step) : Math.Max(0, (start - stop - step - 1) / -step);
        if (count > MaxRange) throw new TemplateRuntimeError($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var r = new List<object?>((int)count);
        for (long i = 0; i < count; i++) r.Add(start + i * step);
        return r;
    }

    static object? Dict(CallArgs a)
    {
        var d = new PyDict();
        foreach (var p in a.Positional)
        {
            if (p is PyDict src) foreach (var kv in src) d[kv.Key] = kv.Value;
            else
                foreach (var pair in Py.Iterate(p))
                {
                    var kv = Py.ToList(pair);
                    if (kv.Count != 2 || !Py.IsHashable(kv[0])) throw new TemplateRuntimeError("dict() sequence elements must be (key, value) pairs");
                    d[kv[0]!] = kv[1];
                }
        }
        foreach (var kv in a.Keywords) d[kv.Key] = kv.Value;
        return d;
    }

    static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    static readonly string[] Months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    /// <summary>Python <c>datetime.now().strftime(fmt)</c> for the C-locale directives (plus glibc's <c>%-d</c> no-padding form).</summary>
    public static string Strftime(DateTime t, string fmt)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        for (int i = 0; i < fmt.Length; i++)
        {
            if (fmt[i] != '%' || i + 1 >= fmt.Length) { sb.Append(fmt[i]); continue; }
            char c = fmt[++i];
            bool noPad = false;
            if (c == '-' && i + 1 < fmt.Length) { noPad = true; c = fmt[++i]; }
            string P(int v, int width) => noPad ? v.ToString(inv) : v.ToString(new string('0', width), inv);
            int hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
            sb.Append(c switch
            {
                'Y' => t.Year.ToString(inv),
                'y' => P(t.Year % 100, 2),
                'm' => P(t.Month, 2),
                'd' => P(t.Day, 2),
                'e' => t.Day.ToString(inv).PadLeft(2),
                'H' => P(t.Hour, 2),
                'I' => P(hour12, 2),
                'M' => P(t.Minute, 2),
                'S' => P(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", inv),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => P(t.DayOfYear, 3),
                'a' => Days[(int)t.DayOfWeek][..3],
                'A' => Days[(int)t.DayOfWeek],
                'b' or 'h' => Months[t.Month - 1][..3],
                'B' => Months[t.Month - 1],
                'w' => ((int)t.DayOfWeek).ToString(inv),
                'Z' => t.Kind == DateTimeKind.Utc ? "UTC" : "",
                'z' => t.Kind == DateTimeKind.Utc ? "+0000" : "",
                'F' => t.ToString("yyyy-MM-dd", inv),
                'T' => t.ToString("HH:mm:ss", inv),
                'D' => t.ToString("MM/dd/yy", inv),
                '%' => "%",
                _ => "%" + (noPad ? "-" : "") + c,
            });
        }
        return sb.ToString();
    }
}
