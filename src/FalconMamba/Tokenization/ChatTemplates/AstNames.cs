namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// Which names a macro body reads, for Jinja2's macro calling rules (jinja2/compiler.py <c>macro_body</c> uses
/// <c>find_undeclared</c> for "caller", "kwargs" and "varargs"): a macro that never mentions <c>kwargs</c> rejects
/// unknown keyword arguments, one without <c>varargs</c> rejects extra positional ones, one without <c>caller</c>
/// cannot be used in a call block.
/// </summary>
internal static class AstNames
{
    public static bool Mentions(IEnumerable<Stmt> body, string name) => body.Any(s => Mentions(s, name));

    static bool Mentions(Stmt s, string name) => s switch
    {
        OutputStmt o => Mentions(o.Value, name),
        ForStmt f => Mentions(f.Iterable, name) || (f.Filter != null && Mentions(f.Filter, name)) || Mentions(f.Body, name) || Mentions(f.Else, name),
        IfStmt i => i.Branches.Any(b => Mentions(b.Cond, name) || Mentions(b.Body, name)) || Mentions(i.Else, name),
        SetStmt st => Mentions(st.Value, name),
        SetBlockStmt sb => sb.Filters.Any(f => Mentions(f, name)) || Mentions(sb.Body, name),
        MacroStmt m => m.Params.Any(p => p.Default != null && Mentions(p.Default, name)) || Mentions(m.Body, name),
        CallBlockStmt cb => Mentions(cb.Call, name) || Mentions(cb.Body, name),
        FilterBlockStmt fb => fb.Filters.Any(f => Mentions(f, name)) || Mentions(fb.Body, name),
        _ => false,
    };

    static bool Mentions(Expr e, string name) => e switch
    {
        NameExpr n => n.Name == name,
        ListExpr l => l.Items.Any(x => Mentions(x, name)),
        TupleExpr t => t.Items.Any(x => Mentions(x, name)),
        DictExpr d => d.Pairs.Any(p => Mentions(p.Key, name) || Mentions(p.Value, name)),
        AttrExpr a => Mentions(a.Target, name),
        ItemExpr i => Mentions(i.Target, name) || Mentions(i.Index, name),
        SliceExpr s => (s.Start != null && Mentions(s.Start, name)) || (s.Stop != null && Mentions(s.Stop, name)) || (s.Step != null && Mentions(s.Step, name)),
        CallExpr c => Mentions(c.Callee, name) || c.Args.Any(x => Mentions(x, name)) || c.Kwargs.Any(k => Mentions(k.Value, name)),
        FilterExpr f => (f.Target != null && Mentions(f.Target, name)) || f.Args.Any(x => Mentions(x, name)) || f.Kwargs.Any(k => Mentions(k.Value, name)),
        TestExpr t => Mentions(t.Target, name) || t.Args.Any(x => Mentions(x, name)),
        UnaryExpr u => Mentions(u.Operand, name),
        BinaryExpr b => Mentions(b.Left, name) || Mentions(b.Right, name),
        CompareExpr c => Mentions(c.First, name) || c.Rest.Any(r => Mentions(r.Operand, name)),
        CondExpr c => Mentions(c.Test, name) || Mentions(c.Then, name) || (c.Else != null && Mentions(c.Else, name)),
        _ => false,
    };
}
