"""Writes ../Fixtures/fuzz-whitespace.json and ../Fixtures/fuzz-expressions.json: seeded random templates rendered by
Python Jinja2 configured as transformers configures it (python-reference.py). @huggingface/jinja is not used here
because it lacks many of the operators and filters exercised. Rerun: python3 fuzz-fixtures.py

Excluded on purpose (Python-specific artefacts no chat template relies on): printing lazy generators returned by
select/reject/map/unique/batch/items/reverse, slicing literal constants (Jinja2's optimizer folds those), printing
dict views (dict_items([...])), and printf-style % with an undefined operand.
"""
import json
import random
import re
from pathlib import Path

here = Path(__file__).parent
exec((here / "python-reference.py").read_text().split("out = []")[0])  # defines `env`

# ---- whitespace control: random nesting of text, output, comments, set/if/for tags with -, + modifiers ----
TEXT = ["a", " ", "\n", "  ", "\t", "b\n  ", "\n\n", " c ", "\n  \n"]


def sign():
    return random.choice(["", "-", "+"]) if random.random() < 0.5 else ""


def block(name, rest=""):
    return "{%" + sign() + " " + name + rest + " " + sign() + "%}"


def gen_ws(depth):
    out = []
    for _ in range(random.randint(1, 5)):
        k = random.random()
        if k < 0.35:
            out.append(random.choice(TEXT))
        elif k < 0.5:
            out.append("{{" + random.choice(["", "-"]) + " 'x' " + random.choice(["", "-"]) + "}}")
        elif k < 0.58:
            out.append("{#" + random.choice(["", "-"]) + " c " + random.choice(["", "-"]) + "#}")
        elif k < 0.65:
            out.append(block("set", " v = 1"))
        elif depth < 3 and k < 0.8:
            body = block("if", " true") + gen_ws(depth + 1)
            if random.random() < 0.3:
                body += block("else") + gen_ws(depth + 1)
            out.append(body + block("endif"))
        elif depth < 3:
            out.append(block("for", " i in [1, 2]") + gen_ws(depth + 1) + block("endfor"))
        else:
            out.append(random.choice(TEXT))
    return "".join(out)


# ---- expressions: random operators, filters, tests, methods over a few literals and variables ----
LITS = ["0", "1", "2", "3", "-1", "7", "2.5", "0.1", "1.0", "10", "'a'", "'Ab c'", "''", "' x '", "'10'", "'3.5'",
        "[1, 2, 3]", "[]", "['b', 'a', 'B']", "[3, 1, 2]", "none", "true", "false", "(1, 2)", "{'k': 1, 'a': 2}", "{}",
        "x", "y", "missing", "s", "l", "d"]
FILTERS = ["length", "upper", "lower", "trim", "string", "int", "float", "abs", "round", "first", "last", "join",
           "sort", "list", "tojson", "capitalize", "title", "default('D')", "sum", "min", "max", "join(',')",
           "round(1)", "int(5)", "dictsort", "count", "wordcount", "replace('a', 'Z')", "tojson(indent=1)",
           "select | list", "unique | list", "map('string') | list", "batch(2) | list", "reverse | list"]
TESTS = ["defined", "undefined", "string", "number", "none", "integer", "float", "mapping", "iterable", "sequence",
         "boolean", "even", "odd", "divisibleby(2)", "in([1, 'a'])", "eq(1)", "lt(2)"]
OPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]
METHODS = ["upper()", "strip()", "split()", "keys() | list", "get('k')", "startswith('a')", "count('a')", "find('b')",
           "title()", "replace('a','b')", "index(1)"]


def expr(d):
    r = random.random()
    if d <= 0 or r < 0.3:
        return random.choice(LITS)
    if r < 0.55:
        return "(" + expr(d - 1) + " " + random.choice(OPS) + " " + expr(d - 1) + ")"
    if r < 0.7:
        return "(" + expr(d - 1) + " | " + random.choice(FILTERS) + ")"
    if r < 0.78:
        return "(" + expr(d - 1) + " is " + random.choice(["", "not "]) + random.choice(TESTS) + ")"
    if r < 0.83:
        return random.choice(["not ", "-"]) + expr(d - 1)
    if r < 0.88:
        return "(" + expr(d - 1) + " if " + expr(d - 1) + " else " + expr(d - 1) + ")"
    if r < 0.94:
        return random.choice(["s", "l", "d", "x"]) + "[" + random.choice(["0", "-1", "1:", ":2", "::-1", "'k'", "1"]) + "]"
    return "(" + expr(d - 1) + ")." + random.choice(METHODS)


# ---- statements: loops with else/break/continue, set and block set, namespace, macros, if/elif ----
NAMES = ["a", "b", "i", "x"]


def val():
    return random.choice(["1", "2", "'s'", "a", "b", "i", "x", "ns.n", "loop.index", "loop.first", "[1, 2]", "a ~ b", "(a or 0) + 1"])


def stmt(d, in_loop):
    r = random.random()
    if r < 0.2:
        return "{{ " + val() + " }}"
    if r < 0.35:
        return "{% set " + random.choice(NAMES) + " = " + val() + " %}"
    if r < 0.42:
        return "{% set ns.n = " + val() + " %}"
    if r < 0.47:
        return random.choice(["{% break %}", "{% continue %}"]) if in_loop else "|"
    if r < 0.55:
        return "{{ m(" + val() + ") }}"
    if d < 3 and r < 0.7:
        cond = " if " + val() if random.random() < 0.2 else ""
        alt = "{% else %}E" + stmts(d + 1, in_loop) if random.random() < 0.2 else ""
        it = random.choice(["[1, 2, 3]", "range(2)", "'ab'", "[]", "l"])
        return "{% for " + random.choice(["i", "x", "a"]) + " in " + it + cond + " %}" + stmts(d + 1, True) + alt + "{% endfor %}"
    if d < 3 and r < 0.85:
        t = "{% if " + val() + " %}" + stmts(d + 1, in_loop)
        if random.random() < 0.3:
            t += "{% elif " + val() + " %}" + stmts(d + 1, in_loop)
        if random.random() < 0.3:
            t += "{% else %}" + stmts(d + 1, in_loop)
        return t + "{% endif %}"
    if d < 3 and r < 0.92:
        return "{% set " + random.choice(NAMES) + " %}" + stmts(d + 1, in_loop) + "{% endset %}"
    return random.choice([",", ";", " "])


def stmts(d, in_loop):
    return "".join(stmt(d, in_loop) for _ in range(random.randint(1, 4)))


# ---- macros: defaults, varargs/kwargs, caller with arguments, call blocks, loop attributes seen from callers ----
def mval():
    return random.choice(["1", "'s'", "a", "b", "c", "loop.index", "loop.revindex", "loop.revindex0", "loop.length", "loop.previtem",
                          "loop.nextitem", "loop.depth", "loop.cycle('p', 'q')", "varargs | length", "kwargs", "caller is defined",
                          "(a | string) + 'x'", "ns.n", "k", "w"])


def mstmt(d, in_loop, in_macro):
    r = random.random()
    if r < 0.25:
        return "{{ " + mval() + " }}"
    if r < 0.35:
        return "{% set " + random.choice(["a", "b", "c"]) + " = " + mval() + " %}"
    if r < 0.42:
        return "{% set ns.n = " + mval() + " %}"
    if r < 0.5:
        args = random.choice(["", "1", "1, 2", "a=3", "1, c=4", "1, 2, 3", "b=5, z=6"])
        return "{{ " + random.choice(["m1(", "m2(", "m3("]) + args + ") }}"
    if r < 0.56 and in_macro:
        return "{{ caller(" + random.choice(["", "1", "a"]) + ") if caller is defined else 'nc' }}"
    if d < 3 and r < 0.66:
        return "{% for " + random.choice(["k", "w", "a"]) + " in " + random.choice(["[1, 2, 3]", "'xy'", "l", "[]"]) + " %}" + mstmts(d + 1, True, in_macro) + "{% endfor %}"
    if d < 3 and r < 0.74:
        return ("{% call" + random.choice(["", "(w)", "(w, k=9)"]) + " " + random.choice(["m1", "m2", "m3"]) + "("
                + random.choice(["", "7", "a=8"]) + ") %}" + mstmts(d + 1, False, True) + "{% endcall %}")
    if d < 3 and r < 0.82:
        return "{% if " + mval() + " %}" + mstmts(d + 1, in_loop, in_macro) + "{% else %}" + mstmts(d + 1, in_loop, in_macro) + "{% endif %}"
    if r < 0.86 and in_loop:
        return random.choice(["{% break %}", "{% continue %}"])
    return random.choice([",", " "])


def mstmts(d, in_loop, in_macro):
    return "".join(mstmt(d, in_loop, in_macro) for _ in range(random.randint(1, 3)))


MACROS = ("{% set ns = namespace(n=0) %}{% macro m1(a, b=2) %}[1:{{ a }},{{ b }},{{ c }}{{ caller() if caller is defined }}]{% endmacro %}"
          "{% macro m2() %}[2:{{ varargs | join('/') }}{{ kwargs | dictsort | join('/') }}{{ caller(5) if caller is defined }}]{% endmacro %}"
          "{% macro m3(a=1, c=none) %}[3:{{ a }}{{ c }}{% for k in [1, 2] %}{{ loop.index }}{% endfor %}]{% endmacro %}")

VARS = {"x": 5, "y": 2.5, "s": "Hello World", "l": [1, 2, 3], "d": {"k": "v", "b": 2}}
SKIP = re.compile(r"generator|object at 0x|dict_(items|keys|values)|reversed")


def render(t, variables):
    try:
        return {"expected": env.from_string(t).render(**variables)}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def write(name, description, templates, variables, messages):
    cases, seen = [], set()
    for t in templates:
        if t in seen or re.search(r"%\s*missing", t):
            continue
        seen.add(t)
        r = render(t, dict(variables, messages=messages))
        if SKIP.search(json.dumps(r)) or ("error" in r and sum("error" in c for c in cases) >= 250):
            continue
        cases.append({"name": f"{name}-{len(cases)}", "template": t,
                      "variables": dict(variables, messages=messages, tools=None, add_generation_prompt=False), **r})
    fixture = {"description": description, "generator": "Python Jinja2 (transformers configuration) via fuzz-fixtures.py", "cases": cases}
    (here.parent / "Fixtures" / f"{name}.json").write_text(json.dumps(fixture, ensure_ascii=False) + "\n")
    print(f"{name}: {len(cases)} cases, {sum('error' in c for c in cases)} errors")


random.seed(20260103)
write("fuzz-statements", "Random statements: for/else with break/continue, set, block set, namespace, macros, if/elif/else",
      ["{% set ns = namespace(n=0) %}{% macro m(v) %}<{{ v }}{{ a }}>{% endmacro %}" + stmts(0, False) for _ in range(500)],
      {"l": [3, 4]}, [])
random.seed(20260104)
write("fuzz-macros", "Random macro use: defaults, varargs/kwargs, call blocks with caller arguments, loop attributes",
      [MACROS + mstmts(0, False, False) for _ in range(500)], {"l": [3, 4]}, [])
random.seed(20260101)
write("fuzz-whitespace", "Random nestings of whitespace control (-, +, trim_blocks, lstrip_blocks)",
      [gen_ws(0) + random.choice(["", "\n", "\n\n"]) for _ in range(400)], {}, [])
random.seed(20260102)
write("fuzz-expressions", "Random expressions: operators, filters, tests, methods, slicing, undefined",
      ["{{ " + expr(3) + " }}" for _ in range(1500)], VARS, [])
