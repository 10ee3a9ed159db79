namespace FalconMamba.Tokenization.ChatTemplates;

// The parsed template: immutable nodes, each with the 1-based line/column it came from (for error messages).
// Shapes follow jinja2/nodes.py loosely; only what chat templates use.

internal abstract record Node(int Line, int Col);

// ---- expressions ----
internal abstract record Expr(int Line, int Col) : Node(Line, Col);
internal sealed record LiteralExpr(object? Value, int Line, int Col) : Expr(Line, Col);
internal sealed record NameExpr(string Name, int Line, int Col) : Expr(Line, Col);
internal sealed record ListExpr(Expr[] Items, int Line, int Col) : Expr(Line, Col);
internal sealed record TupleExpr(Expr[] Items, int Line, int Col) : Expr(Line, Col);
internal sealed record DictExpr((Expr Key, Expr Value)[] Pairs, int Line, int Col) : Expr(Line, Col);
internal sealed record AttrExpr(Expr Target, string Name, int Line, int Col) : Expr(Line, Col);
internal sealed record ItemExpr(Expr Target, Expr Index, int Line, int Col) : Expr(Line, Col);
internal sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Line, int Col) : Expr(Line, Col);
internal sealed record CallExpr(Expr Callee, Expr[] Args, (string Name, Expr Value)[] Kwargs, int Line, int Col) : Expr(Line, Col);
internal sealed record FilterExpr(Expr? Target, string Name, Expr[] Args, (string Name, Expr Value)[] Kwargs, int Line, int Col) : Expr(Line, Col);
internal sealed record TestExpr(Expr Target, string Name, Expr[] Args, bool Negated, int Line, int Col) : Expr(Line, Col);
internal sealed record UnaryExpr(string Op, Expr Operand, int Line, int Col) : Expr(Line, Col);
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line, int Col) : Expr(Line, Col);
internal sealed record CompareExpr(Expr First, (string Op, Expr Operand)[] Rest, int Line, int Col) : Expr(Line, Col);
internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line, int Col) : Expr(Line, Col);

// ---- statements ----
internal abstract record Stmt(int Line, int Col) : Node(Line, Col);
internal sealed record TextStmt(string Text, int Line, int Col) : Stmt(Line, Col);
internal sealed record OutputStmt(Expr Value, int Line, int Col) : Stmt(Line, Col);
internal sealed record ForStmt(string[] Targets, bool TupleTarget, Expr Iterable, Expr? Filter, Stmt[] Body, Stmt[] Else, int Line, int Col) : Stmt(Line, Col);
internal sealed record IfStmt((Expr Cond, Stmt[] Body)[] Branches, Stmt[] Else, int Line, int Col) : Stmt(Line, Col);
/// <summary><c>set a = e</c>, <c>set a, b = e</c>, or <c>set ns.attr = e</c> (then <see cref="Attr"/> is set and Targets has one name).</summary>
internal sealed record SetStmt(string[] Targets, bool TupleTarget, string? Attr, Expr Value, int Line, int Col) : Stmt(Line, Col);
internal sealed record SetBlockStmt(string Target, string? Attr, FilterExpr[] Filters, Stmt[] Body, int Line, int Col) : Stmt(Line, Col);
internal sealed record MacroParam(string Name, Expr? Default);
internal sealed record MacroStmt(string Name, MacroParam[] Params, Stmt[] Body, int Line, int Col) : Stmt(Line, Col);
internal sealed record CallBlockStmt(MacroParam[] CallerParams, CallExpr Call, Stmt[] Body, int Line, int Col) : Stmt(Line, Col);
internal sealed record FilterBlockStmt(FilterExpr[] Filters, Stmt[] Body, int Line, int Col) : Stmt(Line, Col);
internal sealed record BreakStmt(int Line, int Col) : Stmt(Line, Col);
internal sealed record ContinueStmt(int Line, int Col) : Stmt(Line, Col);
