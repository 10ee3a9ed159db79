namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>Jinja2's built-in tests (<c>x is defined</c>, <c>x is divisibleby 3</c>, ...; jinja2/tests.py semantics).</summary>
internal static class Tests
{
    delegate bool Test(Interpreter it, object? v, List<object?> a);

    static object? Arg(List<object?> a, string test) =>
        a.Count > 0 ? a[0] : throw new TemplateRuntimeError($"test '{test}' needs an argument");

    static readonly Dictionary<string, Test> Table = new(StringComparer.Ordinal)
    {
        ["defined"] = (_, v, _) => v is not Undefined,
        ["undefined"] = (_, v, _) => v is Undefined,
        ["none"] = (_, v, _) => v is null,
        ["string"] = (_, v, _) => v is string,
        ["number"] = (_, v, _) => v is long or double or bool, // Python: bool is a numbers.Number
        ["integer"] = (_, v, _) => v is long,
        ["float"] = (_, v, _) => v is double,
        ["mapping"] = (_, v, _) => v is PyDict,
        ["iterable"] = (_, v, _) => v is string or List<object?> or object?[] or PyDict or Undefined,
        ["sequence"] = (_, v, _) => v is string or List<object?> or object?[] or PyDict or Undefined, // Undefined has __len__ and __getitem__
        ["boolean"] = (_, v, _) => v is bool,
        ["true"] = (_, v, _) => v is true,
        ["false"] = (_, v, _) => v is false,
        ["equalto"] = (_, v, a) => Py.Eq(v, Arg(a, "equalto")),
        ["eq"] = (_, v, a) => Py.Eq(v, Arg(a, "eq")),
        ["=="] = (_, v, a) => Py.Eq(v, Arg(a, "==")),
        ["ne"] = (_, v, a) => !Py.Eq(v, Arg(a, "ne")),
        ["!="] = (_, v, a) => !Py.Eq(v, Arg(a, "!=")),
        ["lt"] = (_, v, a) => Py.Compare(v, Arg(a, "lt")) < 0,
        ["lessthan"] = (_, v, a) => Py.Compare(v, Arg(a, "lessthan")) < 0,
        ["<"] = (_, v, a) => Py.Compare(v, Arg(a, "<")) < 0,
        ["le"] = (_, v, a) => Py.Compare(v, Arg(a, "le")) <= 0,
        ["<="] = (_, v, a) => Py.Compare(v, Arg(a, "<=")) <= 0,
        ["gt"] = (_, v, a) => Py.Compare(v, Arg(a, "gt")) > 0,
        ["greaterthan"] = (_, v, a) => Py.Compare(v, Arg(a, "greaterthan")) > 0,
        [">"] = (_, v, a) => Py.Compare(v, Arg(a, ">")) > 0,
        ["ge"] = (_, v, a) => Py.Compare(v, Arg(a, "ge")) >= 0,
        [">="] = (_, v, a) => Py.Compare(v, Arg(a, ">=")) >= 0,
        // value % 2 / value % n with Python's modulo, so floats work too (jinja2.tests.test_odd etc.).
        ["odd"] = (_, v, _) => Py.Eq(Operators.Binary("%", v, 2L), 1L),
        ["even"] = (_, v, _) => Py.Eq(Operators.Binary("%", v, 2L), 0L),
        ["divisibleby"] = (_, v, a) => Py.Eq(Operators.Binary("%", v, Arg(a, "divisibleby")), 0L),
        ["in"] = (_, v, a) => Py.Contains(Arg(a, "in"), v),
        ["callable"] = (_, v, _) => v is ITemplateCallable,
        ["sameas"] = (_, v, a) => Arg(a, "sameas") is var o && (v is null || v is bool || o is null || o is bool ? Equals(v, o) : ReferenceEquals(v, o) || (v is long && Equals(v, o))),
        ["lower"] = (_, v, _) => v is string s && Methods.Call(null!, s, "islower", CallArgs.Of("islower")) is true,
        ["upper"] = (_, v, _) => v is string s && Methods.Call(null!, s, "isupper", CallArgs.Of("isupper")) is true,
        ["escaped"] = (_, _, _) => false,
        ["filter"] = (_, v, _) => v is string s && Filters.Exists(s),
        ["test"] = (_, v, _) => v is string s && Table!.ContainsKey(s),
    };

    public static bool Exists(string name) => Table.ContainsKey(name);

    public static bool Apply(Interpreter it, string name, object? value, List<object?> args)
    {
        if (!Table.TryGetValue(name, out var t)) throw new TemplateRuntimeError($"unknown test '{name}'");
        return t(it, value, args);
    }
}
