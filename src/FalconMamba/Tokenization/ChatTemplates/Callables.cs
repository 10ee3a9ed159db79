namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>Positional and keyword arguments of one call, with Python-style lookup by position or name.</summary>
internal sealed class CallArgs(string function, List<object?> positional, Dictionary<string, object?> keywords)
{
    public string Function { get; } = function;
    public List<object?> Positional { get; } = positional;
    public Dictionary<string, object?> Keywords { get; } = keywords;

    public static CallArgs Of(string function, params object?[] positional) => new(function, [.. positional], []);

    public bool Has(int index, string name) => index < Positional.Count || Keywords.ContainsKey(name);

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback = null) =>
        index >= 0 && index < Positional.Count ? Positional[index] : Keywords.TryGetValue(name, out var v) ? v : fallback;

    public object? Required(int index, string name) =>
        Has(index, name) ? Get(index, name) : throw new TemplateRuntimeError($"{Function}() missing required argument '{name}'");

    public string String(int index, string name, string? fallback = null)
    {
        var v = Get(index, name, fallback);
        return v is string s ? s : throw new TemplateRuntimeError($"{Function}() argument '{name}' must be a string, not {Py.TypeName(v)}");
    }

    public long Int(int index, string name, long fallback)
    {
        var v = Get(index, name, fallback);
        return v switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw new TemplateRuntimeError($"{Function}() argument '{name}' must be an integer, not {Py.TypeName(v)}"),
        };
    }

    public bool Bool(int index, string name, bool fallback) => Py.Truthy(Get(index, name, fallback));
}

/// <summary>Anything a template can call: globals, macros, bound methods, loop.cycle, joiners.</summary>
internal interface ITemplateCallable
{
    object? Call(Interpreter interp, CallArgs args);
}

/// <summary>A global function implemented in C# (range, dict, namespace, raise_exception, strftime_now, ...).</summary>
internal sealed class BuiltinFunction(string name, Func<Interpreter, CallArgs, object?> body) : ITemplateCallable
{
    public string Name { get; } = name;
    public object? Call(Interpreter interp, CallArgs args) => body(interp, args);
    public override string ToString() => $"<built-in function {Name}>";
}

/// <summary>A method looked up on a value (<c>s.strip</c>) but not yet called.</summary>
internal sealed class BoundMethod(object? target, string name) : ITemplateCallable
{
    public object? Call(Interpreter interp, CallArgs args) => Methods.Call(interp, target, name, args);
    public override string ToString() => $"<built-in method {name} of {Py.TypeName(target)} object>";
}

/// <summary>A <c>{% macro %}</c> (or the <c>caller</c> of a <c>{% call %}</c> block), closed over its defining scope.</summary>
internal sealed class Macro(string name, MacroParam[] parameters, Stmt[] body, Scope closure) : ITemplateCallable
{
    public string Name { get; } = name;
    public MacroParam[] Parameters { get; } = parameters;
    public Stmt[] Body { get; } = body;
    public Scope Closure { get; } = closure;
    public bool CatchKwargs { get; } = AstNames.Mentions(body, "kwargs");
    public bool CatchVarargs { get; } = AstNames.Mentions(body, "varargs");
    public bool CatchCaller { get; } = AstNames.Mentions(body, "caller");

    public object? Call(Interpreter interp, CallArgs args) => interp.CallMacro(this, args, caller: null);
    public override string ToString() => $"<Macro '{Name}'>";
}

/// <summary>The <c>loop</c> variable of a for loop (jinja2.runtime.LoopContext).</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items, int depth)
{
    public int Index0 { get; set; }
    public IReadOnlyList<object?> Items { get; } = items;
    public int Depth { get; } = depth;

    public object? Attr(string name)
    {
        int n = Items.Count;
        return name switch
        {
            "index" => (long)(Index0 + 1),
            "index0" => (long)Index0,
            "revindex" => (long)(n - Index0),
            "revindex0" => (long)(n - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == n - 1,
            "length" => (long)n,
            "depth" => (long)Depth,
            "depth0" => (long)(Depth - 1),
            "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("there is no previous item"),
            "nextitem" => Index0 + 1 < n ? Items[Index0 + 1] : new Undefined("there is no next item"),
            "cycle" => new BuiltinFunction("loop.cycle", (_, a) =>
                a.Positional.Count == 0 ? throw new TemplateRuntimeError("no items for cycling given") : a.Positional[Index0 % a.Positional.Count]),
            _ => new Undefined($"'LoopContext' object has no attribute '{name}'"),
        };
    }
}

/// <summary><c>cycler(a, b, ...)</c>: <c>.next()</c> returns the items in turn, <c>.current</c> the current one, <c>.reset()</c>.</summary>
internal sealed class Cycler(List<object?> items)
{
    int _pos;

    public object? Attr(string name) => name switch
    {
        "current" => items[_pos],
        "next" => new BuiltinFunction("next", (_, _) => { var v = items[_pos]; _pos = (_pos + 1) % items.Count; return v; }),
        "reset" => new BuiltinFunction("reset", (_, _) => { _pos = 0; return null; }),
        "items" => items,
        _ => new Undefined($"'Cycler' object has no attribute '{name}'"),
    };
}

/// <summary><c>joiner(sep)</c>: returns "" on the first call and <c>sep</c> afterwards.</summary>
internal sealed class Joiner(string separator) : ITemplateCallable
{
    bool _used;

    public object? Call(Interpreter interp, CallArgs args)
    {
        if (!_used) { _used = true; return ""; }
        return separator;
    }
}
