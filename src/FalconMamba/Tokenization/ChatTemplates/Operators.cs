using System.Text;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>Python semantics of Jinja's binary and unary operators (int stays int, / always gives a float, % is floored).</summary>
internal static class Operators
{
    static TemplateRuntimeError Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");

    static void CheckDefined(object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
    }

    static long L(object? v) => v is bool b ? (b ? 1 : 0) : (long)v!;
    static bool IsInt(object? v) => v is long or bool;

    public static object? Negate(object? v) => v switch
    {
        long l => (object)checked(-l), // (object): keep int and float arms from unifying to double
        bool b => b ? -1L : 0L,
        double d => -d,
        Undefined u => throw u.Fail(),
        _ => throw new TemplateRuntimeError($"bad operand type for unary -: '{Py.TypeName(v)}'"),
    };

    public static object? Plus(object? v) => v switch
    {
        long or double => v,
        bool b => (object)(b ? 1L : 0L),
        Undefined u => throw u.Fail(),
        _ => throw new TemplateRuntimeError($"bad operand type for unary +: '{Py.TypeName(v)}'"),
    };

    public static object? Binary(string op, object? a, object? b)
    {
        if (op == "~") return Py.Str(a) + Py.Str(b); // Undefined prints as "" here, as in Jinja
        CheckDefined(a, b);
        try
        {
            return op switch
            {
                "+" => Add(a, b),
                "-" => Arith(op, a, b, (x, y) => checked(x - y), (x, y) => x - y),
                "*" => Mul(a, b),
                "/" => Py.IsNumber(a) && Py.IsNumber(b)
                    ? (Py.ToDouble(b) == 0 ? throw new TemplateRuntimeError("division by zero") : Py.ToDouble(a) / Py.ToDouble(b))
                    : throw Unsupported("/", a, b),
                "//" => Arith(op, a, b, (x, y) => y == 0 ? throw new TemplateRuntimeError("integer division or modulo by zero") : FloorDiv(x, y),
                    (x, y) => y == 0 ? throw new TemplateRuntimeError("float floor division by zero") : FloatDivMod(x, y).Div),
                "%" when a is string fmt => PercentFormat(fmt, b),
                "%" => Arith(op, a, b, (x, y) => y == 0 ? throw new TemplateRuntimeError("integer modulo by zero") : x - FloorDiv(x, y) * y,
                    (x, y) => y == 0 ? throw new TemplateRuntimeError("float modulo") : FloatDivMod(x, y).Mod),
                "**" => Pow(a, b),
                _ => throw new TemplateRuntimeError($"unknown operator {op}"),
            };
        }
        catch (OverflowException) { throw new TemplateRuntimeError($"integer overflow in {op}"); }
    }

    /// <summary>Python printf-style <c>str % args</c> for %s %r %d %i %f %x %% (with width/precision); a tuple gives several args.</summary>
    static string PercentFormat(string fmt, object? args)
    {
        var list = args is object?[] t ? t.ToList() : [args];
        bool mappingLike = args is PyDict or List<object?>; // Python treats these as a mapping: no "not all converted" error
        int next = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < fmt.Length; i++)
        {
            if (fmt[i] != '%') { sb.Append(fmt[i]); continue; }
            int j = i + 1;
            while (j < fmt.Length && "-+ 0#".Contains(fmt[j])) j++;
            while (j < fmt.Length && (char.IsAsciiDigit(fmt[j]) || fmt[j] == '.')) j++;
            if (j >= fmt.Length) throw new TemplateRuntimeError("incomplete format");
            char conv = fmt[j];
            string flags = fmt[(i + 1)..j];
            i = j;
            if (conv == '%') { sb.Append('%'); continue; }
            if (next >= list.Count || (mappingLike && args is PyDict)) throw new TemplateRuntimeError("not enough arguments for format string");
            var v = list[next++];
            string spec = flags.StartsWith('-') ? "<" + flags[1..] : flags;
            sb.Append(conv switch
            {
                's' => Methods.FormatSpec(Py.Str(v), spec),
                'r' => Methods.FormatSpec(Py.Repr(v), spec),
                'd' or 'i' => Methods.FormatSpec(v is double d ? (long)Math.Truncate(d) : v, spec + "d"),
                'f' or 'F' or 'e' or 'x' => Methods.FormatSpec(v, spec + conv),
                _ => throw new TemplateRuntimeError($"unsupported format character '{conv}'"),
            });
        }
        if (next < list.Count && !mappingLike) throw new TemplateRuntimeError("not all arguments converted during string formatting");
        return sb.ToString();
    }

    /// <summary>CPython's float divmod (Objects/floatobject.c float_divmod): fmod-based, so 7 // 0.1 == 69.0 as in Python.</summary>
    static (double Div, double Mod) FloatDivMod(double vx, double wx)
    {
        double mod = vx % wx; // C# % on doubles is C's fmod
        double div = (vx - mod) / wx;
        if (mod != 0)
        {
            if ((wx < 0) != (mod < 0)) { mod += wx; div -= 1.0; }
        }
        else mod = Math.CopySign(0.0, wx);
        double floordiv;
        if (div != 0)
        {
            floordiv = Math.Floor(div);
            if (div - floordiv > 0.5) floordiv += 1.0;
        }
        else floordiv = Math.CopySign(0.0, vx / wx);
        return (floordiv, mod);
    }

    static long FloorDiv(long x, long y)
    {
        long q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
        return q;
    }

    static object Arith(string op, object? a, object? b, Func<long, long, long> ints, Func<double, double, double> floats)
    {
        if (IsInt(a) && IsInt(b)) return ints(L(a), L(b));
        if (Py.IsNumber(a) && Py.IsNumber(b)) return floats(Py.ToDouble(a), Py.ToDouble(b));
        throw Unsupported(op, a, b);
    }

    static object Add(object? a, object? b)
    {
        if (a is string sa && b is string sb) return sa + sb;
        if (a is List<object?> la && b is List<object?> lb) return la.Concat(lb).ToList();
        if (a is object?[] ta && b is object?[] tb) return ta.Concat(tb).ToArray();
        if (a is string || b is string) throw new TemplateRuntimeError($"can only concatenate str (not \"{Py.TypeName(a is string ? b : a)}\") to str");
        return Arith("+", a, b, (x, y) => checked(x + y), (x, y) => x + y);
    }

    static object Mul(object? a, object? b)
    {
        if (a is string s && IsInt(b)) return Repeat(s, L(b));
        if (b is string s2 && IsInt(a)) return Repeat(s2, L(a));
        if (a is List<object?> l && IsInt(b)) return RepeatList(l, L(b));
        if (b is List<object?> l2 && IsInt(a)) return RepeatList(l2, L(a));
        if (a is object?[] t && IsInt(b)) return RepeatList([.. t], L(b)).ToArray();
        if (b is object?[] t2 && IsInt(a)) return RepeatList([.. t2], L(a)).ToArray();
        return Arith("*", a, b, (x, y) => checked(x * y), (x, y) => x * y);
    }

    static string Repeat(string s, long n)
    {
        if (n <= 0) return "";
        if (s.Length * n > 100_000_000) throw new TemplateRuntimeError("string repetition result is too large");
        var sb = new StringBuilder((int)(s.Length * n));
        for (long i = 0; i < n; i++) sb.Append(s);
        return sb.ToString();
    }

    static List<object?> RepeatList(List<object?> l, long n)
    {
        var r = new List<object?>();
        for (long i = 0; i < n; i++) r.AddRange(l);
        return r;
    }

    static object Pow(object? a, object? b)
    {
        if (IsInt(a) && IsInt(b) && L(b) >= 0)
        {
            long x = L(a), y = L(b), r = 1;
            while (y > 0) // exponentiation by squaring
            {
                if ((y & 1) != 0) r = checked(r * x);
                y >>= 1;
                if (y > 0) x = checked(x * x);
            }
            return r;
        }
        if (Py.IsNumber(a) && Py.IsNumber(b))
        {
            if (Py.ToDouble(a) == 0 && Py.ToDouble(b) < 0) throw new TemplateRuntimeError("0.0 cannot be raised to a negative power");
            return Math.Pow(Py.ToDouble(a), Py.ToDouble(b));
        }
        throw Unsupported("** or pow()", a, b);
    }

    public static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => Py.Eq(a, b),
        "!=" => !Py.Eq(a, b),
        "<" => Py.Compare(a, b, op) < 0,
        "<=" => Py.Compare(a, b, op) <= 0,
        ">" => Py.Compare(a, b, op) > 0,
        ">=" => Py.Compare(a, b, op) >= 0,
        "in" => Py.Contains(b, a),
        "not in" => !Py.Contains(b, a),
        _ => throw new TemplateRuntimeError($"unknown comparison {op}"),
    };
}
