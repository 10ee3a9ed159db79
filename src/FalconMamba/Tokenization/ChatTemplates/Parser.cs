namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// Recursive-descent parser from tokens to <see cref="Stmt"/> nodes. Operator precedence is Jinja2's
/// (jinja2/parser.py): ternary &lt; or &lt; and &lt; not &lt; comparisons/in &lt; + - &lt; ~ &lt; * / // % &lt; ** &lt; unary
/// &lt; postfix (. [] ()) and filters/tests (| and is), which bind to the unary operand.
/// </summary>
internal sealed class Parser
{
    readonly List<Token> _t;
    int _p;
    int _depth; // nesting of expressions and blocks: bounded so hostile input cannot overflow the stack

    // Inside an if statement or an inline if, Jinja2 defers unknown filter/test errors to render time
    // ("soft" frames in jinja2/compiler.py), so an unknown name in a branch never taken is not an error.
    int _soft;

    // for-loops around the current position; break/continue outside one is a compile-time error in Jinja2
    // (Python's SyntaxError), and macro/caller bodies start a new count.
    int _loops;

    /// <summary>Deepest nesting accepted (expressions plus blocks); real chat templates stay far below it.</summary>
    const int MaxDepth = 200;

    void Enter(Token at)
    {
        if (++_depth > MaxDepth) throw Error($"template nests deeper than {MaxDepth} levels", at);
    }

    Parser(List<Token> tokens) => _t = tokens;

    public static Stmt[] Parse(string template)
    {
        var p = new Parser(Lexer.Tokenize(template));
        var body = p.ParseBody([], out _);
        return body;
    }

    Token Cur => _t[_p];
    Token Peek(int k = 1) => _t[Math.Min(_p + k, _t.Count - 1)];
    Token Next() => _t[_p++];

    static TemplateException Error(string msg, Token at) => new(msg, at.Line, at.Column);

    static string Describe(Token t) => t.Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.VarEnd => "'}}'",
        TokenKind.Text => "template text",
        TokenKind.String => "a string",
        _ => $"'{t.Text}'",
    };

    bool IsOp(string op) => Cur.Kind == TokenKind.Op && Cur.Text == op;
    bool IsName(string name) => Cur.Kind == TokenKind.Name && Cur.Text == name;

    bool SkipOp(string op)
    {
        if (!IsOp(op)) return false;
        _p++;
        return true;
    }

    bool SkipName(string name)
    {
        if (!IsName(name)) return false;
        _p++;
        return true;
    }

    Token ExpectOp(string op)
    {
        if (!IsOp(op)) throw Error($"expected '{op}' but found {Describe(Cur)}", Cur);
        return Next();
    }

    string ExpectName(string what = "a name")
    {
        if (Cur.Kind != TokenKind.Name) throw Error($"expected {what} but found {Describe(Cur)}", Cur);
        return Next().Text;
    }

    void ExpectBlockEnd(string tag)
    {
        if (Cur.Kind != TokenKind.BlockEnd) throw Error($"expected '%}}' to close '{tag}' but found {Describe(Cur)}", Cur);
        _p++;
    }

    // ---------------- statements ----------------

    /// <summary>Parses until a block tag whose name is in <paramref name="ends"/>; consumes "{% name", not the rest of that tag.</summary>
    Stmt[] ParseBody(string[] ends, out string endName, Token? opener = null, string? openerTag = null)
    {
        var list = new List<Stmt>();
        while (true)
        {
            var tok = Cur;
            switch (tok.Kind)
            {
                case TokenKind.Eof:
                    if (ends.Length > 0)
                        throw Error($"'{openerTag}' tag is never closed (expected '{{% {ends[0]} %}}')", opener ?? tok);
                    endName = "";
                    return [.. list];
                case TokenKind.Text:
                    _p++;
                    list.Add(new TextStmt((string)tok.Value!, tok.Line, tok.Column));
                    break;
                case TokenKind.VarBegin:
                    _p++;
                    var e = ParseTuple(allowCond: true);
                    if (Cur.Kind != TokenKind.VarEnd) throw Error($"expected '}}}}' but found {Describe(Cur)}", Cur);
                    _p++;
                    list.Add(new OutputStmt(e, tok.Line, tok.Column));
                    break;
                case TokenKind.BlockBegin:
                    var nameTok = Peek();
                    if (nameTok.Kind != TokenKind.Name) throw Error($"expected a tag name after '{{%' but found {Describe(nameTok)}", nameTok);
                    if (Array.IndexOf(ends, nameTok.Text) >= 0)
                    {
                        _p += 2;
                        endName = nameTok.Text;
                        return [.. list];
                    }
                    _p += 2;
                    list.AddRange(ParseStatement(nameTok));
                    break;
                default:
                    throw Error($"unexpected {Describe(tok)}", tok);
            }
        }
    }

    IEnumerable<Stmt> ParseStatement(Token tag)
    {
        Enter(tag);
        try { return ParseStatementCore(tag); }
        finally { _depth--; }
    }

    IEnumerable<Stmt> ParseStatementCore(Token tag)
    {
        switch (tag.Text)
        {
            case "for": return [ParseFor(tag)];
            case "if": return [ParseIf(tag)];
            case "set": return [ParseSet(tag)];
            case "macro": return [ParseMacro(tag)];
            case "call": return [ParseCallBlock(tag)];
            case "filter": return [ParseFilterBlock(tag)];
            case "break" or "continue" when _loops == 0:
                throw Error($"'{tag.Text}' outside of a for loop", tag);
            case "break": ExpectBlockEnd("break"); return [new BreakStmt(tag.Line, tag.Column)];
            case "continue": ExpectBlockEnd("continue"); return [new ContinueStmt(tag.Line, tag.Column)];
            case "generation":
                // transformers' AssistantTracker extension: marks assistant text for masks; for rendering it is transparent.
                ExpectBlockEnd("generation");
                var body = ParseBody(["endgeneration"], out _, tag, "generation");
                ExpectBlockEnd("endgeneration");
                return body;
            case "endfor" or "endif" or "endset" or "endmacro" or "endcall" or "endfilter" or "endgeneration" or "else" or "elif":
                throw Error($"unexpected '{tag.Text}' tag: no open block it could close", tag);
            default:
                throw Error($"unknown tag '{tag.Text}'", tag);
        }
    }

    string[] ParseTargets(out bool isTuple)
    {
        bool paren = SkipOp("(");
        var names = new List<string> { ExpectName("a variable name") };
        isTuple = paren;
        while (SkipOp(","))
        {
            isTuple = true;
            if (Cur.Kind != TokenKind.Name) break;
            names.Add(ExpectName("a variable name"));
        }
        if (paren) ExpectOp(")");
        return [.. names];
    }

    Stmt ParseFor(Token tag)
    {
        var targets = ParseTargets(out bool isTuple);
        if (!SkipName("in")) throw Error($"expected 'in' in 'for' tag but found {Describe(Cur)}", Cur);
        var iter = ParseTuple(allowCond: false);
        Expr? filter = null;
        if (SkipName("if")) filter = ParseExpression();
        if (IsName("recursive")) throw Error("recursive for loops are not supported", Cur);
        ExpectBlockEnd("for");
        _loops++;
        Stmt[] body;
        string end;
        try { body = ParseBody(["endfor", "else"], out end, tag, "for"); }
        finally { _loops--; }
        Stmt[] elseBody = [];
        if (end == "else")
        {
            ExpectBlockEnd("else");
            elseBody = ParseBody(["endfor"], out _, tag, "for");
        }
        ExpectBlockEnd("endfor");
        return new ForStmt(targets, isTuple, iter, filter, body, elseBody, tag.Line, tag.Column);
    }

    Stmt ParseIf(Token tag)
    {
        _soft++;
        try { return ParseIfCore(tag); }
        finally { _soft--; }
    }

    Stmt ParseIfCore(Token tag)
    {
        var branches = new List<(Expr, Stmt[])>();
        Stmt[] elseBody = [];
        var cond = ParseTuple(allowCond: true);
        while (true)
        {
            ExpectBlockEnd("if");
            var body = ParseBody(["elif", "else", "endif"], out string end, tag, "if");
            branches.Add((cond, body));
            if (end == "elif") { cond = ParseTuple(allowCond: true); continue; }
            if (end == "else")
            {
                ExpectBlockEnd("else");
                elseBody = ParseBody(["endif"], out _, tag, "if");
            }
            ExpectBlockEnd("endif");
            return new IfStmt([.. branches], elseBody, tag.Line, tag.Column);
        }
    }

    Stmt ParseSet(Token tag)
    {
        string? attr = null;
        string[] targets;
        bool isTuple = false;
        if (Cur.Kind == TokenKind.Name && Peek().Kind == TokenKind.Op && Peek().Text == ".")
        {
            targets = [Next().Text];
            _p++;
            attr = ExpectName("an attribute name");
        }
        else targets = ParseTargets(out isTuple);
        if (SkipOp("="))
        {
            var value = ParseTuple(allowCond: true);
            ExpectBlockEnd("set");
            return new SetStmt(targets, isTuple, attr, value, tag.Line, tag.Column);
        }
        if (isTuple || targets.Length != 1) throw Error("a block 'set' assigns exactly one name", tag);
        var filters = new List<FilterExpr>();
        while (SkipOp("|")) filters.Add(ParseFilter(null));
        ExpectBlockEnd("set");
        var body = ParseBody(["endset"], out _, tag, "set");
        ExpectBlockEnd("endset");
        return new SetBlockStmt(targets[0], attr, [.. filters], body, tag.Line, tag.Column);
    }

    MacroParam[] ParseParams()
    {
        ExpectOp("(");
        var ps = new List<MacroParam>();
        while (!IsOp(")"))
        {
            if (ps.Count > 0) ExpectOp(",");
            if (IsOp(")")) break;
            string name = ExpectName("a parameter name");
            Expr? def = SkipOp("=") ? ParseExpression() : null;
            ps.Add(new MacroParam(name, def));
        }
        ExpectOp(")");
        return [.. ps];
    }

    Stmt ParseMacro(Token tag)
    {
        string name = ExpectName("a macro name");
        var ps = ParseParams();
        ExpectBlockEnd("macro");
        int loops = _loops;
        _loops = 0;
        Stmt[] body;
        try { body = ParseBody(["endmacro"], out _, tag, "macro"); }
        finally { _loops = loops; }
        if (Cur.Kind == TokenKind.Name) _p++; // {% endmacro name %}
        ExpectBlockEnd("endmacro");
        return new MacroStmt(name, ps, body, tag.Line, tag.Column);
    }

    Stmt ParseCallBlock(Token tag)
    {
        MacroParam[] ps = IsOp("(") ? ParseParams() : [];
        var call = ParseExpression();
        if (call is not CallExpr ce) throw Error("'call' tag needs a macro call such as {% call m(x) %}", tag);
        ExpectBlockEnd("call");
        int loops = _loops;
        _loops = 0;
        Stmt[] body;
        try { body = ParseBody(["endcall"], out _, tag, "call"); }
        finally { _loops = loops; }
        ExpectBlockEnd("endcall");
        return new CallBlockStmt(ps, ce, body, tag.Line, tag.Column);
    }

    Stmt ParseFilterBlock(Token tag)
    {
        var filters = new List<FilterExpr> { ParseFilter(null) };
        while (SkipOp("|")) filters.Add(ParseFilter(null));
        ExpectBlockEnd("filter");
        var body = ParseBody(["endfilter"], out _, tag, "filter");
        ExpectBlockEnd("endfilter");
        return new FilterBlockStmt([.. filters], body, tag.Line, tag.Column);
    }

    // ---------------- expressions ----------------

    /// <summary>An expression, or a bare tuple <c>a, b</c> (used by output, set, for and if).</summary>
    Expr ParseTuple(bool allowCond)
    {
        var first = allowCond ? ParseExpression() : ParseOr();
        if (!IsOp(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOp(","))
        {
            if (Cur.Kind is TokenKind.BlockEnd or TokenKind.VarEnd || IsOp(")") || IsName("if")) break;
            items.Add(allowCond ? ParseExpression() : ParseOr());
        }
        return new TupleExpr([.. items], first.Line, first.Col);
    }

    Expr ParseExpression()
    {
        Enter(Cur);
        try { return ParseExpressionCore(); }
        finally { _depth--; }
    }

    Expr ParseExpressionCore()
    {
        var e = ParseOr();
        while (IsName("if"))
        {
            var tok = Next();
            _soft++;
            try
            {
                var cond = ParseOr();
                Expr? other = SkipName("else") ? ParseExpression() : null;
                e = new CondExpr(cond, e, other, tok.Line, tok.Column);
            }
            finally { _soft--; }
        }
        return e;
    }

    Expr ParseOr()
    {
        var e = ParseAnd();
        while (IsName("or")) { var t = Next(); e = new BinaryExpr("or", e, ParseAnd(), t.Line, t.Column); }
        return e;
    }

    Expr ParseAnd()
    {
        var e = ParseNot();
        while (IsName("and")) { var t = Next(); e = new BinaryExpr("and", e, ParseNot(), t.Line, t.Column); }
        return e;
    }

    Expr ParseNot()
    {
        if (IsName("not"))
        {
            var t = Next();
            Enter(t);
            try { return new UnaryExpr("not", ParseNot(), t.Line, t.Column); }
            finally { _depth--; }
        }
        return ParseCompare();
    }

    static readonly HashSet<string> CompareOps = ["==", "!=", "<", "<=", ">", ">="];

    Expr ParseCompare()
    {
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Cur.Kind == TokenKind.Op && CompareOps.Contains(Cur.Text)) { string op = Next().Text; rest.Add((op, ParseMath1())); }
            else if (IsName("in")) { _p++; rest.Add(("in", ParseMath1())); }
            else if (IsName("not") && Peek().Kind == TokenKind.Name && Peek().Text == "in") { _p += 2; rest.Add(("not in", ParseMath1())); }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, [.. rest], first.Line, first.Col);
    }

    Expr ParseMath1()
    {
        var e = ParseConcat();
        while (IsOp("+") || IsOp("-")) { var t = Next(); e = new BinaryExpr(t.Text, e, ParseConcat(), t.Line, t.Column); }
        return e;
    }

    Expr ParseConcat()
    {
        var e = ParseMath2();
        while (IsOp("~")) { var t = Next(); e = new BinaryExpr("~", e, ParseMath2(), t.Line, t.Column); }
        return e;
    }

    Expr ParseMath2()
    {
        var e = ParsePow();
        while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) { var t = Next(); e = new BinaryExpr(t.Text, e, ParsePow(), t.Line, t.Column); }
        return e;
    }

    Expr ParsePow()
    {
        var e = ParseUnary(withFilter: true);
        while (IsOp("**")) { var t = Next(); e = new BinaryExpr("**", e, ParseUnary(withFilter: true), t.Line, t.Column); }
        return e;
    }

    Expr ParseUnary(bool withFilter)
    {
        Enter(Cur);
        try { return ParseUnaryCore(withFilter); }
        finally { _depth--; }
    }

    Expr ParseUnaryCore(bool withFilter)
    {
        Expr e;
        if (IsOp("-") || IsOp("+")) { var t = Next(); e = new UnaryExpr(t.Text, ParseUnary(withFilter: false), t.Line, t.Column); }
        else e = ParsePrimary();
        e = ParsePostfix(e);
        if (withFilter) e = ParseFilterTests(e);
        return e;
    }

    Expr ParsePrimary()
    {
        var t = Cur;
        switch (t.Kind)
        {
            case TokenKind.Name:
                _p++;
                return t.Text switch
                {
                    "true" or "True" => new LiteralExpr(true, t.Line, t.Column),
                    "false" or "False" => new LiteralExpr(false, t.Line, t.Column),
                    "none" or "None" => new LiteralExpr(null, t.Line, t.Column),
                    _ => new NameExpr(t.Text, t.Line, t.Column),
                };
            case TokenKind.String:
                _p++;
                string s = (string)t.Value!;
                while (Cur.Kind == TokenKind.String) s += (string)Next().Value!;
                return new LiteralExpr(s, t.Line, t.Column);
            case TokenKind.Integer:
            case TokenKind.Float:
                _p++;
                return new LiteralExpr(t.Value, t.Line, t.Column);
            case TokenKind.Op when t.Text == "(":
                _p++;
                if (SkipOp(")")) return new TupleExpr([], t.Line, t.Column);
                var inner = ParseExpression();
                if (IsOp(","))
                {
                    var items = new List<Expr> { inner };
                    while (SkipOp(",") && !IsOp(")")) items.Add(ParseExpression());
                    ExpectOp(")");
                    return new TupleExpr([.. items], t.Line, t.Column);
                }
                ExpectOp(")");
                return inner;
            case TokenKind.Op when t.Text == "[":
                _p++;
                var list = new List<Expr>();
                while (!IsOp("]"))
                {
                    if (list.Count > 0) { ExpectOp(","); if (IsOp("]")) break; }
                    list.Add(ParseExpression());
                }
                _p++;
                return new ListExpr([.. list], t.Line, t.Column);
            case TokenKind.Op when t.Text == "{":
                _p++;
                var pairs = new List<(Expr, Expr)>();
                while (!IsOp("}"))
                {
                    if (pairs.Count > 0) { ExpectOp(","); if (IsOp("}")) break; }
                    var k = ParseExpression();
                    ExpectOp(":");
                    pairs.Add((k, ParseExpression()));
                }
                _p++;
                return new DictExpr([.. pairs], t.Line, t.Column);
            default:
                throw Error($"unexpected {Describe(t)} in expression", t);
        }
    }

    Expr ParsePostfix(Expr e)
    {
        while (true)
        {
            var t = Cur;
            if (IsOp("."))
            {
                _p++;
                if (Cur.Kind == TokenKind.Name) e = new AttrExpr(e, Next().Text, e.Line, e.Col);
                else if (Cur.Kind == TokenKind.Integer) e = new ItemExpr(e, new LiteralExpr(Next().Value, t.Line, t.Column), e.Line, e.Col);
                else throw Error($"expected an attribute name after '.' but found {Describe(Cur)}", Cur);
            }
            else if (IsOp("["))
            {
                _p++;
                e = new ItemExpr(e, ParseSubscript(), e.Line, e.Col);
                ExpectOp("]");
            }
            else if (IsOp("("))
            {
                _p++;
                ParseArgs(out var args, out var kwargs);
                e = new CallExpr(e, args, kwargs, e.Line, e.Col);
            }
            else return e;
        }
    }

    Expr ParseSubscript()
    {
        var t = Cur;
        Expr? start = null, stop = null, step = null;
        if (!IsOp(":"))
        {
            start = ParseExpression();
            if (!IsOp(":")) return start;
        }
        _p++; // ':'
        if (!IsOp("]") && !IsOp(":")) stop = ParseExpression();
        if (SkipOp(":") && !IsOp("]")) step = ParseExpression();
        return new SliceExpr(start, stop, step, t.Line, t.Column);
    }

    /// <summary>Arguments after '(' up to and including ')'.</summary>
    void ParseArgs(out Expr[] args, out (string, Expr)[] kwargs)
    {
        var a = new List<Expr>();
        var kw = new List<(string, Expr)>();
        while (!IsOp(")"))
        {
            if (a.Count + kw.Count > 0) { ExpectOp(","); if (IsOp(")")) break; }
            if (Cur.Kind == TokenKind.Name && Peek().Kind == TokenKind.Op && Peek().Text == "=")
            {
                string name = Next().Text;
                _p++;
                kw.Add((name, ParseExpression()));
            }
            else
            {
                if (kw.Count > 0) throw Error("positional argument after keyword argument", Cur);
                a.Add(ParseExpression());
            }
        }
        _p++;
        args = [.. a];
        kwargs = [.. kw];
    }

    FilterExpr ParseFilter(Expr? target)
    {
        var t = Cur;
        string name = ExpectName("a filter name");
        while (IsOp(".") && Peek().Kind == TokenKind.Name) { _p++; name += "." + Next().Text; }
        // Jinja2 rejects unknown filters when it compiles the template, except inside if/inline-if (see _soft).
        if (_soft == 0 && !Filters.Exists(name)) throw Error($"unknown filter '{name}'", t);
        Expr[] args = [];
        (string, Expr)[] kwargs = [];
        if (SkipOp("(")) ParseArgs(out args, out kwargs);
        return new FilterExpr(target, name, args, kwargs, t.Line, t.Column);
    }

    Expr ParseFilterTests(Expr e)
    {
        while (true)
        {
            if (SkipOp("|")) e = ParseFilter(e);
            else if (IsName("is"))
            {
                var t = Next();
                bool neg = SkipName("not");
                var nameTok = Cur;
                string name = ExpectName("a test name");
                while (IsOp(".") && Peek().Kind == TokenKind.Name) { _p++; name += "." + Next().Text; }
                if (_soft == 0 && !Tests.Exists(name)) throw Error($"unknown test '{name}'", nameTok);
                Expr[] args = [];
                if (SkipOp("("))
                {
                    ParseArgs(out args, out var kw);
                    if (kw.Length > 0) throw Error("tests take positional arguments only", t);
                }
                else if ((Cur.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || IsOp("[") || IsOp("{"))
                         && !(IsName("else") || IsName("or") || IsName("and")))
                {
                    // jinja2 parse_test: `x is divisibleby 3` takes one primary argument without parentheses.
                    args = [ParsePostfix(ParsePrimary())];
                }
                e = new TestExpr(e, name, args, neg, t.Line, t.Column);
            }
            else return e;
        }
    }
}
