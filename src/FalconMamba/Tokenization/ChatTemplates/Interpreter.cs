using System.Text;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>A variable scope: the template's top level, one for-loop iteration, or one macro call.</summary>
internal sealed class Scope(Scope? parent)
{
    readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);
    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s != null; s = s.Parent)
            if (s._vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _vars[name] = value;
}

/// <summary>
/// Walks the parsed template for one render. A new instance per render keeps <see cref="ChatTemplate"/> thread-safe:
/// the nodes are immutable and all mutable state (scopes, namespaces, output) lives here.
/// </summary>
internal sealed class Interpreter
{
    enum Flow { Normal, Break, Continue }

    const int MaxCallDepth = 100; // Python's own recursion limit stops runaway macros at a similar depth
    int _callDepth;
    int _loopDepth;

    public string Render(Stmt[] body, Scope scope)
    {
        var sb = new StringBuilder();
        Exec(body, scope, sb);
        return sb.ToString();
    }

    // ---------------- statements ----------------

    Flow Exec(Stmt[] body, Scope scope, StringBuilder o)
    {
        foreach (var s in body)
        {
            var f = ExecOne(s, scope, o);
            if (f != Flow.Normal) return f;
        }
        return Flow.Normal;
    }

    Flow ExecOne(Stmt s, Scope scope, StringBuilder o)
    {
        try
        {
            switch (s)
            {
                case TextStmt t: o.Append(t.Text); return Flow.Normal;
                case OutputStmt p: o.Append(Py.Str(Eval(p.Value, scope))); return Flow.Normal;
                case IfStmt i:
                    foreach (var (cond, b) in i.Branches)
                        if (Py.Truthy(Eval(cond, scope))) return Exec(b, scope, o);
                    return Exec(i.Else, scope, o);
                case ForStmt f: return ExecFor(f, scope, o);
                case SetStmt st:
                    Assign(st.Targets, st.TupleTarget, st.Attr, Eval(st.Value, scope), scope, st);
                    return Flow.Normal;
                case SetBlockStmt sb:
                {
                    // jinja2 visit_AssignBlock: the body runs in an inner frame (its sets do not leak), and a
                    // break/continue inside it leaves the loop before the assignment happens.
                    var inner = new StringBuilder();
                    var flow = Exec(sb.Body, new Scope(scope), inner);
                    if (flow != Flow.Normal) return flow;
                    object? v = inner.ToString();
                    foreach (var fl in sb.Filters) v = ApplyFilter(fl, v, scope);
                    Assign([sb.Target], false, sb.Attr, v, scope, sb);
                    return Flow.Normal;
                }
                case MacroStmt m: scope.Set(m.Name, new Macro(m.Name, m.Params, m.Body, scope)); return Flow.Normal;
                case CallBlockStmt cb:
                {
                    var caller = new Macro("caller", cb.CallerParams, cb.Body, scope);
                    var target = Eval(cb.Call.Callee, scope);
                    if (target is not Macro macro) throw new TemplateRuntimeError("'call' block needs a macro to call");
                    o.Append(Py.Str(CallMacro(macro, EvalArgs(cb.Call, scope, "macro"), caller)));
                    return Flow.Normal;
                }
                case FilterBlockStmt fb:
                {
                    var inner = new StringBuilder();
                    var flow = Exec(fb.Body, new Scope(scope), inner);
                    if (flow != Flow.Normal) return flow;
                    object? v = inner.ToString();
                    foreach (var fl in fb.Filters) v = ApplyFilter(fl, v, scope);
                    o.Append(Py.Str(v));
                    return Flow.Normal;
                }
                case BreakStmt:
                    if (_loopDepth == 0) throw new TemplateRuntimeError("'break' outside of a loop");
                    return Flow.Break;
                case ContinueStmt:
                    if (_loopDepth == 0) throw new TemplateRuntimeError("'continue' outside of a loop");
                    return Flow.Continue;
                default: throw new TemplateRuntimeError($"unsupported statement {s.GetType().Name}");
            }
        }
        catch (TemplateRuntimeError e) { throw new TemplateException(e.Message, s.Line, s.Col); }
    }

    Flow ExecFor(ForStmt f, Scope scope, StringBuilder o)
    {
        var iterable = Eval(f.Iterable, scope);
        if (iterable is PyDict && f.Targets.Length > 1)
            throw new TemplateRuntimeError("cannot unpack dict keys; iterate over d.items() instead");
        var items = new List<object?>();
        foreach (var item in Py.Iterate(iterable))
        {
            if (f.Filter != null)
            {
                // jinja2: the loop filter sees the loop variables but not `loop`; filtered items are not counted.
                var fs = new Scope(scope);
                Assign(f.Targets, f.TupleTarget, null, item, fs, f);
                if (!Py.Truthy(Eval(f.Filter, fs))) continue;
            }
            items.Add(item);
        }
        var loop = new LoopContext(items, depth: 1); // depth counts recursive loops only (not supported), not nesting
        // jinja2 visit_For clears its "no iteration" flag at the end of the body, so {% else %} also runs when
        // every iteration left early through break/continue.
        bool completedOne = false;
        _loopDepth++;
        try
        {
            for (int i = 0; i < items.Count; i++)
            {
                loop.Index0 = i;
                var iter = new Scope(scope);
                iter.Set("loop", loop);
                Assign(f.Targets, f.TupleTarget, null, items[i], iter, f);
                var flow = Exec(f.Body, iter, o);
                if (flow == Flow.Normal) completedOne = true;
                else if (flow == Flow.Break) break;
            }
        }
        finally { _loopDepth--; }
        return completedOne ? Flow.Normal : Exec(f.Else, new Scope(scope), o); // else runs in an inner frame too
    }

    void Assign(string[] targets, bool tuple, string? attr, object? value, Scope scope, Node at)
    {
        if (attr != null)
        {
            if (!scope.TryGet(targets[0], out var ns) || ns is not Namespace n)
                throw new TemplateRuntimeError($"cannot assign attribute '{attr}' on '{targets[0]}': only namespace() objects take attribute assignment");
            n.Attrs[attr] = value;
            return;
        }
        if (!tuple && targets.Length == 1) { scope.Set(targets[0], value); return; }
        var parts = Py.ToList(value);
        if (parts.Count != targets.Length)
            throw new TemplateRuntimeError(parts.Count > targets.Length
                ? $"too many values to unpack (expected {targets.Length})"
                : $"not enough values to unpack (expected {targets.Length}, got {parts.Count})");
        for (int i = 0; i < targets.Length; i++) scope.Set(targets[i], parts[i]);
    }

    public object? CallMacro(Macro m, CallArgs args, Macro? caller)
    {
        if (++_callDepth > MaxCallDepth) throw new TemplateRuntimeError($"macro '{m.Name}' recursed more than {MaxCallDepth} levels");
        try
        {
            if (!m.CatchVarargs && args.Positional.Count > m.Parameters.Length)
                throw new TemplateRuntimeError($"macro '{m.Name}' takes not more than {m.Parameters.Length} argument(s)");
            if (!m.CatchKwargs)
                foreach (var k in args.Keywords.Keys)
                    if (!m.Parameters.Any(p => p.Name == k)) throw new TemplateRuntimeError($"macro '{m.Name}' takes no keyword argument '{k}'");
            if (caller != null && !m.CatchCaller) throw new TemplateRuntimeError($"macro '{m.Name}' takes no keyword argument 'caller'");
            var scope = new Scope(m.Closure);
            int i = 0;
            foreach (var p in m.Parameters)
            {
                if (i < args.Positional.Count) scope.Set(p.Name, args.Positional[i]);
                else if (args.Keywords.TryGetValue(p.Name, out var kv)) scope.Set(p.Name, kv);
                else scope.Set(p.Name, p.Default != null ? Eval(p.Default, scope) : Undefined.Named(p.Name));
                i++;
            }
            scope.Set("varargs", args.Positional.Skip(m.Parameters.Length).ToList());
            var extra = new PyDict();
            foreach (var kv in args.Keywords)
                if (!m.Parameters.Any(p => p.Name == kv.Key)) extra[kv.Key] = kv.Value;
            scope.Set("kwargs", extra);
            if (caller != null) scope.Set("caller", caller);
            var sb = new StringBuilder();
            int savedLoops = _loopDepth;
            _loopDepth = 0;
            try { Exec(m.Body, scope, sb); }
            finally { _loopDepth = savedLoops; }
            return sb.ToString();
        }
        finally { _callDepth--; }
    }

    // ---------------- expressions ----------------

    public object? Eval(Expr e, Scope scope)
    {
        try { return EvalCore(e, scope); }
        catch (TemplateRuntimeError err) { throw new TemplateException(err.Message, e.Line, e.Col); }
    }

    object? EvalCore(Expr e, Scope scope)
    {
        switch (e)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : Undefined.Named(n.Name);
            case ListExpr l: return l.Items.Select(x => Eval(x, scope)).ToList();
            case TupleExpr t: return t.Items.Select(x => Eval(x, scope)).ToArray();
            case DictExpr d:
            {
                var r = new PyDict();
                foreach (var (k, val) in d.Pairs)
                {
                    var key = Eval(k, scope);
                    if (!Py.IsHashable(key)) throw new TemplateRuntimeError($"unhashable type: '{Py.TypeName(key)}'");
                    r[key!] = Eval(val, scope);
                }
                return r;
            }
            case AttrExpr a: return GetAttr(Eval(a.Target, scope), a.Name);
            case ItemExpr it:
            {
                var target = Eval(it.Target, scope);
                if (it.Index is SliceExpr sl)
                {
                    if (target is Undefined u) throw u.Fail();
                    return Slice(target, sl.Start == null ? null : Eval(sl.Start, scope), sl.Stop == null ? null : Eval(sl.Stop, scope),
                        sl.Step == null ? null : Eval(sl.Step, scope));
                }
                return GetItem(target, Eval(it.Index, scope));
            }
            case CallExpr c: return EvalCall(c, scope);
            case FilterExpr f: return ApplyFilter(f, Eval(f.Target!, scope), scope);
            case TestExpr t:
            {
                var val = Eval(t.Target, scope);
                var args = t.Args.Select(x => Eval(x, scope)).ToList();
                bool r = Tests.Apply(this, t.Name, val, args);
                return t.Negated ? !r : r;
            }
            case UnaryExpr u:
            {
                var val = Eval(u.Operand, scope);
                return u.Op switch
                {
                    "not" => !Py.Truthy(val),
                    "-" => Operators.Negate(val),
                    _ => Operators.Plus(val),
                };
            }
            case BinaryExpr b:
            {
                var left = Eval(b.Left, scope);
                if (b.Op == "and") return Py.Truthy(left) ? Eval(b.Right, scope) : left;
                if (b.Op == "or") return Py.Truthy(left) ? left : Eval(b.Right, scope);
                var right = Eval(b.Right, scope);
                return Operators.Binary(b.Op, left, right);
            }
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, operand) in c.Rest)
                {
                    var right = Eval(operand, scope);
                    if (!Operators.Compare(op, left, right)) return false;
                    left = right;
                }
                return true;
            }
            case CondExpr c:
                if (Py.Truthy(Eval(c.Test, scope))) return Eval(c.Then, scope);
                return c.Else != null ? Eval(c.Else, scope) : new Undefined("the inline if-expression evaluated to false and no else section was defined");
            case SliceExpr: throw new TemplateRuntimeError("a slice is only valid inside []");
            default: throw new TemplateRuntimeError($"unsupported expression {e.GetType().Name}");
        }
    }

    CallArgs EvalArgs(CallExpr c, Scope scope, string fn)
    {
        var pos = c.Args.Select(x => Eval(x, scope)).ToList();
        var kw = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, val) in c.Kwargs) kw[name] = Eval(val, scope);
        return new CallArgs(fn, pos, kw);
    }

    object? EvalCall(CallExpr c, Scope scope)
    {
        if (c.Callee is AttrExpr a)
        {
            // Method call on a value: dispatch directly (str/dict/list methods, namespace/loop/cycler members).
            var target = Eval(a.Target, scope);
            if (target is Undefined u) throw u.Fail();
            var args = EvalArgs(c, scope, a.Name);
            if (Methods.Has(target, a.Name)) return Methods.Call(this, target, a.Name, args);
            return Invoke(GetAttr(target, a.Name), args);
        }
        var callee = Eval(c.Callee, scope);
        string name = c.Callee is NameExpr n ? n.Name : "function";
        return Invoke(callee, EvalArgs(c, scope, name));
    }

    public object? Invoke(object? callee, CallArgs args) => callee switch
    {
        ITemplateCallable f => f.Call(this, args),
        Undefined u => throw u.Fail(),
        _ => throw new TemplateRuntimeError($"'{Py.TypeName(callee)}' object is not callable"),
    };

    object? ApplyFilter(FilterExpr f, object? value, Scope scope)
    {
        try
        {
            var pos = f.Args.Select(x => Eval(x, scope)).ToList();
            var kw = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (name, val) in f.Kwargs) kw[name] = Eval(val, scope);
            return Filters.Apply(this, f.Name, value, new CallArgs(f.Name, pos, kw));
        }
        catch (TemplateRuntimeError err) { throw new TemplateException(err.Message, f.Line, f.Col); }
    }

    // ---------------- attribute and item access (jinja2 sandbox getattr/getitem) ----------------

    /// <summary><c>x.name</c>: Jinja tries the Python attribute first (methods), then the item.</summary>
    public object? GetAttr(object? target, string name)
    {
        switch (target)
        {
            case Undefined u: throw u.Fail();
            case PyDict d:
                if (Methods.Has(d, name)) return new BoundMethod(d, name);
                return d.TryGetValue(name, out var v) ? v : new Undefined($"'dict object' has no attribute '{name}'");
            case Namespace n:
                return n.Attrs.TryGetValue(name, out var nv) ? nv : new Undefined($"'Namespace' object has no attribute '{name}'");
            case LoopContext l: return l.Attr(name);
            case Cycler c: return c.Attr(name);
            default:
                if (Methods.Has(target, name)) return Methods.IsUnsafe(target, name)
                    ? new Undefined($"access to attribute '{name}' of '{Py.TypeName(target)}' object is unsafe")
                    : new BoundMethod(target, name);
                return new Undefined($"'{Py.TypeName(target)} object' has no attribute '{name}'");
        }
    }

    /// <summary><c>x[key]</c>: Jinja tries the item first, then (for string keys) the attribute.</summary>
    public object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined u: throw u.Fail();
            case PyDict d:
                if (key is not null && Py.IsHashable(key) && d.TryGetValue(key, out var v)) return v;
                if (key is string ks && Methods.Has(d, ks)) return new BoundMethod(d, ks);
                return new Undefined($"'dict object' has no attribute {Py.Repr(key)}");
            case List<object?> or object?[] or string when key is long or bool:
            {
                long i = key is bool b ? (b ? 1 : 0) : (long)key!;
                if (target is string s)
                {
                    var chars = Py.StringChars(s).ToList();
                    if (i < 0) i += chars.Count;
                    return i >= 0 && i < chars.Count ? chars[(int)i] : new Undefined($"string index {key} out of range");
                }
                var list = (IList<object?>)target!;
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : new Undefined($"'{Py.TypeName(target)} object' has no attribute {key}");
            }
            default:
                if (key is string name) return GetAttr(target, name);
                return new Undefined($"'{Py.TypeName(target)} object' has no attribute {Py.Repr(key)}");
        }
    }

    /// <summary>Python slicing <c>x[start:stop:step]</c> of a list, tuple or string.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        long st = step is null ? 1 : step is long l ? l : throw new TemplateRuntimeError("slice indices must be integers or None");
        if (st == 0) throw new TemplateRuntimeError("slice step cannot be zero");
        IList<object?> seq = target switch
        {
            string s => Py.StringChars(s).ToList(),
            List<object?> li => li,
            object?[] t => t,
            // jinja2 compiles x[a:b] to a plain Python subscript (no getitem fallback), so these are TypeErrors.
            PyDict => throw new TemplateRuntimeError("unhashable type: 'slice'"),
            _ => throw new TemplateRuntimeError($"'{Py.TypeName(target)}' object is not subscriptable"),
        };
        long n = seq.Count;
        long Norm(object? v, long dflt, bool isStop)
        {
            if (v is null) return dflt;
            if (v is not long x) throw new TemplateRuntimeError("slice indices must be integers or None");
            if (x < 0) x += n;
            if (st > 0) return Math.Clamp(x, 0, n);
            return Math.Clamp(x, -1, n - 1);
        }
        long a = Norm(start, st > 0 ? 0 : n - 1, false);
        long b = Norm(stop, st > 0 ? n : -1, true);
        var result = new List<object?>();
        if (st > 0) for (long i = a; i < b; i += st) result.Add(seq[(int)i]);
        else for (long i = a; i > b; i += st) result.Add(seq[(int)i]);
        return target switch
        {
            string => string.Concat(result.Cast<string>()),
            object?[] => result.ToArray(),
            _ => result,
        };
    }
}
