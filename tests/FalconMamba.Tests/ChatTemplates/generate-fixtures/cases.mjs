// Fixture definitions: each group is one template and the variable sets it is rendered with.
// A case may carry `pythonReason`: @huggingface/jinja differs from Python Jinja2 as transformers configures it, and the
// fixture's `override` (rendered by python-reference.py) is what the C# engine must produce; the reason says why.
// `errorContains` / `errorLine` / `errorColumn` are extra checks on the C# TemplateException.
import * as T from "./templates.mjs";

const conv = [
  { role: "user", content: "Hello!" },
  { role: "assistant", content: "Hi, how can I help?" },
  { role: "user", content: "  What is 2+2?  " },
];
const sysConv = [{ role: "system", content: " You are terse. " }, ...conv];
const unicodeConv = [{ role: "user", content: "Grüße, 世界 🌍 \"quoted\" \\ back\nslash\ttab" }];
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", description: "City name, e.g. Paris" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      },
      required: ["city"],
    },
    return: { type: "number" },
  },
};
const toolConv = [
  { role: "system", content: "You can call tools." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", tool_calls: [{ id: "abc123def", type: "function", function: { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } } }] },
  { role: "tool", tool_call_id: "abc123def", content: "22" },
  { role: "assistant", content: "It is 22 °C in Paris." },
  { role: "user", content: "Thanks" },
];
const base = { tools: null, add_generation_prompt: false, bos_token: "<s>", eos_token: "</s>" };
const chat = (messages, extra = {}) => ({ ...base, messages, ...extra });

export const groups = [
  {
    name: "chatml",
    description: "ChatML (OpenAI/Qwen style) without a default system message",
    template: T.chatml,
    cases: [
      { name: "user-only-gen", variables: chat([{ role: "user", content: "Hi" }], { add_generation_prompt: true }) },
      { name: "conversation-no-gen", variables: chat(conv) },
      { name: "with-system-gen", variables: chat(sysConv, { add_generation_prompt: true }) },
      { name: "unicode", variables: chat(unicodeConv, { add_generation_prompt: true }) },
      { name: "empty", variables: chat([], { add_generation_prompt: true }) },
    ],
  },
  {
    name: "chatml-default-system",
    description: "ChatML with a default system message when none is given, and bos_token",
    template: T.chatmlDefaultSystem,
    cases: [
      { name: "no-system-gen", variables: chat(conv, { add_generation_prompt: true }) },
      { name: "system-no-gen", variables: chat(sysConv) },
      { name: "no-bos", variables: { messages: conv, tools: null, add_generation_prompt: true } },
    ],
  },
  {
    name: "falcon-instruct",
    description: "falcon-7b-instruct style: User:/Assistant: lines, .strip(), raise_exception when roles do not alternate",
    template: T.falconInstruct,
    cases: [
      { name: "conversation-gen", variables: chat(conv, { add_generation_prompt: true }) },
      { name: "system-no-gen", variables: chat(sysConv) },
      {
        name: "roles-not-alternating", variables: chat([{ role: "user", content: "a" }, { role: "user", content: "b" }], { add_generation_prompt: true }),
        errorContains: "Conversation roles must alternate user/assistant/user/assistant/...", errorLine: 12, errorColumn: 13,
      },
    ],
  },
  {
    name: "llama31-tools",
    description: "Llama 3.1 style: tools as tojson(indent=4) in the first user message, tool_calls, tool role, date_string",
    template: T.llama31,
    cases: [
      { name: "no-tools-gen", variables: chat(sysConv, { add_generation_prompt: true, bos_token: "<|begin_of_text|>" }) },
      { name: "tools-gen", variables: chat(toolConv, { tools: [weatherTool], add_generation_prompt: true, bos_token: "<|begin_of_text|>" }) },
      { name: "tools-in-system-no-gen", variables: chat(toolConv, { tools: [weatherTool], tools_in_user_message: false, date_string: "01 Jan 2025", bos_token: "<|begin_of_text|>" }) },
      { name: "builtin-tools", variables: chat([{ role: "user", content: "Search" }, { role: "assistant", tool_calls: [{ type: "function", function: { name: "brave_search", arguments: { query: "falcon mamba" } } }] }], { builtin_tools: ["brave_search", "code_interpreter"], bos_token: "<|begin_of_text|>" }), pythonReason: "@huggingface/jinja has no reject filter" },
      { name: "tool-content-string-is-iterable", variables: chat([{ role: "user", content: "x" }, { role: "tool", content: "ok \"done\"" }], { bos_token: "<|begin_of_text|>" }) },
      {
        name: "two-tool-calls-error",
        variables: chat([{ role: "user", content: "x" }, { role: "assistant", tool_calls: [{ function: { name: "a", arguments: {} } }, { function: { name: "b", arguments: {} } }] }]),
        errorContains: "This model only supports single tool-calls at once!",
      },
    ],
  },
  {
    name: "mistral-tools",
    description: "Mistral v3 style: namespace() counter, loop.last, selectattr, dict equality, tool_calls, tool results, raise_exception",
    template: T.mistral,
    cases: [
      { name: "conversation", variables: chat(conv) },
      { name: "system-last-user", variables: chat(sysConv) },
      { name: "tools", variables: chat(toolConv.slice(1), { tools: [weatherTool] }) },
      { name: "bad-alternation", variables: chat([{ role: "assistant", content: "x" }]), errorContains: "conversation roles must alternate" },
      {
        name: "bad-tool-id", variables: chat([{ role: "user", content: "x" }, { role: "assistant", tool_calls: [{ id: "short", function: { name: "f", arguments: {} } }] }]),
        errorContains: "Tool call IDs should be alphanumeric strings with length 9!",
      },
    ],
  },
  {
    name: "qwen25-tools",
    description: "Qwen2.5 style: tools as tojson lines, <tool_call> blocks, consecutive tool responses grouped, loop.last lookahead",
    template: T.qwen25,
    cases: [
      { name: "no-tools-gen", variables: chat(conv, { add_generation_prompt: true }) },
      { name: "tools-conversation", variables: chat([...toolConv, { role: "tool", content: "second" }], { tools: [weatherTool] }) },
      { name: "tools-string-arguments", variables: chat([{ role: "user", content: "x" }, { role: "assistant", content: "Let me check.", tool_calls: [{ function: { name: "f", arguments: "{\"a\": 1}" } }] }], { tools: [weatherTool], add_generation_prompt: true }) },
    ],
  },
  {
    name: "qwen3-thinking",
    description: "Qwen3 style: reversed scan with namespace, string methods split/rstrip/lstrip/strip on <think> blocks, enable_thinking is false",
    template: T.qwen3Thinking,
    cases: [
      { name: "history-with-think", variables: chat([{ role: "user", content: "q1" }, { role: "assistant", content: "<think>\nr1\n</think>\n\na1" }, { role: "user", content: "q2" }, { role: "assistant", content: "<think>r2</think>a2" }], {}) },
      { name: "gen-no-thinking", variables: chat(conv, { add_generation_prompt: true, enable_thinking: false }) },
      { name: "reasoning-content-field", variables: chat([{ role: "user", content: "q" }, { role: "assistant", content: "a", reasoning_content: "because" }], { add_generation_prompt: true }) },
    ],
  },
  {
    name: "gemma",
    description: "Gemma style: assistant renamed model, filter precedence in 'a + b | trim + c', system role refused",
    template: T.gemma,
    cases: [
      { name: "conversation-gen", variables: chat(conv, { add_generation_prompt: true, bos_token: "<bos>" }) },
      { name: "system-refused", variables: chat(sysConv, { bos_token: "<bos>" }), errorContains: "System role not supported" },
    ],
  },
  {
    name: "llama2",
    description: "Llama 2 style: <<SYS>> merged into the first user turn, system_message != false, bos/eos per turn",
    template: T.llama2,
    cases: [
      { name: "system-conversation", variables: chat(sysConv) },
      { name: "no-system", variables: chat(conv) },
    ],
  },
  {
    name: "hermes-tools",
    description: "Hermes style: recursive macro mapping JSON schema to Python types; json_spec.items is dict.items (attribute before key)",
    template: T.hermesTools,
    cases: [
      {
        name: "tools", pythonReason: "Jinja2 resolves json_spec.items to the dict's items method (getattr before getitem), so the nested call sees a method whose .type is undefined (and undefined is iterable): an array prints list[Union[]]. @huggingface/jinja fails on it",
        variables: chat(conv, { add_generation_prompt: true, tools: [weatherTool, { type: "function", function: { name: "tag", description: "Tag things", parameters: { type: "object", properties: { tags: { type: "array", items: { type: "string" } }, meta: { type: "object", additionalProperties: { type: "integer" } }, v: { type: ["string", "number"] }, any: {} } }, return: { type: "boolean" } } }] }),
      },
    ],
  },
];

// ---------------- feature templates: one template, one case each ----------------
const feature = (name, template, variables = {}, more = {}) => ({ name, template, variables: { ...base, messages: conv, ...variables }, ...more });

export const features = [
  // whitespace control
  feature("ws-trim-lstrip", "<start>\n  {% if true %}\n    yes\n  {% endif %}\n  {# comment #}\n{% for i in [1, 2] %}\n  item {{ i }}\n{% endfor %}\n<end>\n"),
  feature("ws-minus", "a  {{- 'b' -}}  c\n{%- if true -%}  d  {%- endif -%}\n e {#- x -#} f"),
  feature("ws-plus", "x\n  {%+ if true +%}\n  y\n  {% endif %}\nz", {}, { pythonReason: "`{%+` (keep lstrip) and `+%}` (keep newline) are Jinja2 whitespace modifiers that @huggingface/jinja does not implement" }),
  feature("ws-trailing-newline", "line\n\n"),
  feature("ws-var-no-trim", "{{ 'a' }}\n{{ 'b' }}\n  {{ 'c' }}"),
  feature("ws-text-braces", "a } b }} c {x}"),
  // expressions
  feature("expr-arith", "{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 - 2 - 3 }} {{ 4 / 2 }} {{ -3 + 1 }}"),
  feature("expr-floor-mod-negative", "{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }}", {}, { pythonReason: "Python floors // and takes the divisor's sign for %" }),
  feature("expr-float-repr", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 2.5e-5 }} {{ 3 * 1.5 }} {{ 10 / 4 }}", {}, { pythonReason: "@huggingface/jinja cannot parse exponent literals (1e20); Python prints floats with repr (1e+20, 2.5e-05)" }),
  feature("expr-literals-print", "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", {}, { pythonReason: "Python prints True/False/None; JS prints true/false and an empty string for none" }),
  feature("expr-concat", "{{ 'ab' ~ 1 ~ 'c' }} {{ 'a' * 3 }} {{ 'a' + 'b' }} {{ ([1, 2] + [3]) | join(',') }}", {}, { pythonReason: "@huggingface/jinja has no str * int" }),
  feature("expr-concat-none", "{{ 'x' ~ none ~ true }}", {}, { pythonReason: "@huggingface/jinja refuses ~ with none; Python str() gives None and True" }),
  feature("expr-compare", "{{ 'y' if 1 < 2 < 3 else 'n' }}{{ 'y' if 3 > 2 >= 2 else 'n' }}{{ 'y' if 1 == 1.0 else 'n' }}{{ 'y' if 'a' != 'b' else 'n' }}{{ 'y' if 'abc' < 'abd' else 'n' }}{{ 'y' if [1, 2] == [1, 2] else 'n' }}", {}, { pythonReason: "@huggingface/jinja does not chain comparisons (Python: 1 < 2 < 3 means 1 < 2 and 2 < 3)" }),
  feature("expr-in", "{{ 'y' if 'a' in 'cat' else 'n' }}{{ 'y' if 2 in [1, 2] else 'n' }}{{ 'y' if 'k' in {'k': 1} else 'n' }}{{ 'y' if 3 not in [1, 2] else 'n' }}{{ 'y' if not 'z' in 'cat' else 'n' }}"),
  feature("expr-and-or-values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' or [] or 'z' }} {{ 'q' if (none or 0) else 'r' }}"),
  feature("expr-ternary-no-else", "[{{ 'a' if false }}][{{ 'b' if true }}]"),
  feature("expr-slicing", "{{ [1, 2, 3, 4, 5][1:3] | join(',') }} {{ 'hello'[::-1] }} {{ 'hello'[-3:] }} {{ [1, 2, 3, 4, 5][::2] | join(',') }} {{ 'abcdef'[1:-1:2] }} {{ messages[1:] | length }} {{ [1, 2, 3][-1] }}"),
  feature("expr-indexing", "{{ messages[0].content }}|{{ messages[-1]['role'] }}|{{ d.a.b }}|{{ d['a']['b'] }}|{{ d.a['list'][1] }}", { d: { a: { b: "deep", list: [10, 20] } } }),
  feature("expr-tuple-dict-literals", "{% set t = (1, 2) %}{{ t[0] + t[1] }} {% set d = {'x': 1, 'y': [1, 2], \"z\": {'w': 'v'}} %}{{ d.y[1] }}{{ d.z.w }} {{ {'a': 1}['a'] }}"),
  feature("expr-string-escapes", "{{ 'a\\nb\\t\"c\"\\'d\\\\e\\u00e9' }}|{{ \"double \\\"q\\\" 'single'\" }}"),
  feature("expr-unary-precedence", "{{ -2 ** 2 }} {{ not true and false }} {{ -(3) }}", {}, { pythonReason: "Python prints booleans as True/False (both parse -2 ** 2 as (-2) ** 2)" }),
  feature("expr-list-print", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }}", {}, { pythonReason: "printing a list or dict gives Python's repr" }),
  feature("expr-undefined", "[{{ missing }}][{{ missing | default('d') }}][{% for x in missing %}x{% endfor %}][{{ d.nokey }}][{{ 'D' if missing is defined else 'U' }}][{{ missing | length }}]", { d: {} }, { pythonReason: "@huggingface/jinja refuses to iterate an undefined value; Jinja2's Undefined iterates as empty" }),
  feature("expr-undefined-attribute", "{{ missing.attr }}", {}, { pythonReason: "Jinja2's default Undefined raises UndefinedError on attribute access", errorContains: "'missing' is undefined", errorLine: 1, errorColumn: 4 }),
  // loops
  feature("loop-vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.length }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}[{{ loop.previtem }}|{{ loop.nextitem }}];{% endfor %}"),
  feature("loop-else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}"),
  feature("loop-if-filter", "{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}:{{ m.content | trim }};{% endfor %}"),
  feature("loop-unpack-items", "{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a * b }}{% endfor %}"),
  feature("loop-filtered-iterable", "{% for m in messages | selectattr('role', 'equalto', 'assistant') %}{{ m.content }}{% endfor %}|{% for m in messages | rejectattr('role', 'eq', 'assistant') | list %}{{ loop.index }}{% endfor %}"),
  feature("loop-break-continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
  feature("loop-scope", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}", {}, { pythonReason: "Jinja2: a set inside a for body is local to each iteration and never leaks out" }),
  feature("loop-namespace", "{% set ns = namespace(found=false, n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ 'yes' if ns.found else 'no' }}"),
  feature("loop-nested-cycle", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{{ loop.cycle('+', '-') }}{% endfor %}{{ loop.index }}|{% endfor %}", {}, { pythonReason: "@huggingface/jinja cannot iterate over a string" }),
  feature("loop-range", "{{ range(3) | join(',') }} {{ range(1, 10, 3) | join(',') }} {{ range(5, 0, -2) | join(',') }} {{ range(0) | length }}"),
  // set
  feature("set-block", "{% set s %}hello {{ 'world' }}{% endset %}{{ s | upper }}|{{ s | length }}"),
  feature("set-multiple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c | length }}"),
  // macros, call, filter block, generation
  feature("macro-basic", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }} {{ greet('D', '.') }}"),
  feature("macro-caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ messages[0].content }}{% endcall %}"),
  feature("macro-caller-args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}", {}),
  feature("macro-recursive", "{% macro render(v) %}{% if v is mapping %}{% for k, x in v.items() %}{{ k }}:({{ render(x) }}){% endfor %}{% else %}{{ v }}{% endif %}{% endmacro %}{{ render(d) }}", { d: { a: { b: "1", c: { d: "2" } } } }),
  feature("filter-block", "{% filter upper %}abc {{ 'def' }}{% endfilter %}", {}),
  feature("generation-block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}"),
  // filters
  feature("filters-strings", "{{ '  pad  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello wORLD-foo(bar' | title }}|{{ 'hELLO world' | capitalize }}|{{ 'aaa' | replace('a', 'b') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'one two  three' | wordcount }}|{{ 42 | string }}|{{ 'x' | safe }}", {}, { pythonReason: "@huggingface/jinja has no trim(chars); Jinja2's title filter also starts words after '-' and '('" }),
  feature("filters-length-count", "{{ messages | length }} {{ 'héllo' | length }} {{ {'a': 1} | count }} {{ [] | length }}", {}, { pythonReason: "@huggingface/jinja has no count filter for dicts" }),
  feature("filters-join-default", "{{ ['a', 'b'] | join }}|{{ ['a', 'b'] | join('-') }}|{{ messages | join(', ', attribute='role') }}|{{ missing | default('dflt') }}|{{ '' | default('e', true) }}|{{ '' | d('e') }}|{{ none | default('n') }}", {}, { pythonReason: "@huggingface/jinja has no `d` alias; default() keeps none unless boolean=true, and none prints None" }),
  feature("filters-first-last-list", "{{ [3, 4] | first }} {{ [3, 4] | last }} {{ 'abc' | first }} {{ 'ab' | list | join('.') }} {{ [] | first }}", {}, { pythonReason: "@huggingface/jinja has no first filter for strings" }),
  feature("filters-items", "{% for k, v in {'x': 1, 'y': 2} | items %}{{ k }}{{ v }}{% endfor %}{% for k, v in missing | items %}never{% endfor %}", {}, { pythonReason: "@huggingface/jinja refuses items on undefined; Jinja2 3.1 gives an empty sequence" }),
  feature("filters-numbers", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3 | float }}", {}, { pythonReason: "@huggingface/jinja has no round on floats; Python: -3 | abs is -(3 | abs) = -3, round(2.5) = 2.0 (half to even), 3 | float prints 3.0" }),
  feature("filters-selectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | map('trim') | join('/') }}|{{ items | selectattr('on') | map(attribute='n') | join(',') }}|{{ items | rejectattr('on') | map(attribute='n') | join(',') }}|{{ items | map(attribute='missing', default='z') | join(',') }}", { items: [{ n: 1, on: true }, { n: 2, on: false }, { n: 3, on: true }] }, { pythonReason: "@huggingface/jinja map needs attribute= (no map('trim'))" }),
  feature("filters-select-reject", "{{ [1, 2, 3, 4, 5, 6] | select('even') | join(',') }} {{ [1, 2, 3, 4] | reject('odd') | join(',') }} {{ [0, 1, '', 'a', none] | select | list | length }} {{ [1, 2, 3, 4, 5, 6] | select('divisibleby', 3) | join(',') }} {{ ['a', 'b'] | select('in', ['b', 'c']) | join }}", {}, { pythonReason: "@huggingface/jinja has no select/reject filters" }),
  feature("filters-map-filter-name", "{{ ['a', 'b'] | map('upper') | join }} {{ [1.4, 2.6] | map('round') | map('int') | join(',') }}", {}, { pythonReason: "@huggingface/jinja map needs attribute= (no map('upper'))" }),
  feature("filters-unique", "{{ ['a', 'A', 'b', 'a'] | unique | join(',') }} {{ [3, 1, 3, 2, 1] | unique | join(',') }}", {}, { pythonReason: "Jinja2's unique compares strings case-insensitively by default" }),
  feature("filters-indent", "[{{ 'a\\nb\\n\\nc' | indent }}][{{ 'a\\nb' | indent(2, true) }}][{{ 'a\\n\\nb' | indent(2, blank=true) }}]", {}),
  feature("filters-batch", "{% for row in [1, 2, 3, 4, 5] | batch(2) %}{{ row | join }};{% endfor %}{% for row in [1, 2, 3] | batch(2, 0) %}{{ row | join }};{% endfor %}", {}, { pythonReason: "@huggingface/jinja has no batch filter" }),
  feature("filters-sort", "{{ [3, 1, 2] | sort | join }} {{ [3, 1, 2] | sort(reverse=true) | join }} {{ ['b', 'A', 'c'] | sort | join }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) | join }} {{ items | sort(attribute='n') | map(attribute='k') | join }}", { items: [{ n: 2, k: "x" }, { n: 1, k: "y" }] }),
  feature("filters-dictsort", "{% for k, v in {'b': 1, 'a': 2, 'C': 0} | dictsort %}{{ k }}{{ v }}{% endfor %} {% for k, v in {'b': 1, 'a': 2} | dictsort(by='value', reverse=true) %}{{ k }}{% endfor %}", {}),
  feature("filters-reverse-min-max-sum", "{{ [1, 2, 3] | reverse | join }} {{ 'abc' | reverse }} {{ [4, 2, 8] | min }} {{ [4, 2, 8] | max }} {{ [1, 2, 3] | sum }} {{ items | sum(attribute='n') }} {{ ['b', 'A'] | max }}", { items: [{ n: 2 }, { n: 5 }] }, { pythonReason: "@huggingface/jinja has no reverse filter for strings" }),
  feature("filters-tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ [1, none, true] | tojson }}|{{ {} | tojson(indent=2) }}", { d: { z: 1, a: ["x", { b: null }], s: "Grüße" } }),
  feature("filters-tojson-sort-keys", "{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}", { d: { z: 1, a: 2 } }),
  feature("filters-tojson-float", "{{ 1.5 | tojson }} {{ 2.0 | tojson }} {{ x | tojson }}", { x: 3 }, { pythonReason: "json.dumps writes Python floats with repr: 2.0" }),
  // tests
  feature("tests-types", "{% for v in [none, 'a', 1, 1.5, true, [1], {'a': 1}] %}{{ 'N' if v is none }}{{ 'S' if v is string }}{{ 'n' if v is number }}{{ 'I' if v is integer }}{{ 'F' if v is float }}{{ 'M' if v is mapping }}{{ 'i' if v is iterable }}{{ 'q' if v is sequence }}{{ 'B' if v is boolean }}{{ 'T' if v is true }}{{ 'f' if v is false }};{% endfor %}", {}, { pythonReason: "@huggingface/jinja has no float test; Python: True is a number (bool subclasses int)" }),
  feature("tests-compare", "{{ 'a' if 3 is equalto 3 }}{{ 'b' if 3 is eq(3) }}{{ 'c' if 3 is ne 4 }}{{ 'd' if 2 is lt 3 }}{{ 'e' if 4 is gt 3 }}{{ 'f' if 3 is odd }}{{ 'g' if 4 is even }}{{ 'h' if 9 is divisibleby 3 }}{{ 'i' if 'x' is in 'xyz' }}{{ 'j' if 3 is not even }}{{ 'k' if range is callable }}{{ 'l' if missing is undefined }}{{ 'm' if messages is defined }}", {}, { pythonReason: "@huggingface/jinja cannot parse a test argument without parentheses (9 is divisibleby 3)" }),
  // methods
  feature("methods-str", "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'x  '.rstrip() }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('lo', 'zz')) }}|{{ 'a,b,,c'.split(',') | join('/') }}|{{ ' a  b '.split() | join('/') }}|{{ 'a-b-c'.split('-', 1) | join('/') }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aXa'.replace('a', 'b') }}|{{ '-'.join(['a', 'b']) }}|{{ 'banana'.count('a') }}|{{ 'banana'.find('n') }}|{{ 'banana'.find('z') }}", {}, { pythonReason: "@huggingface/jinja lacks some str methods used here; Python prints bools as True/False" }),
  feature("methods-format", "{{ '{} and {}'.format('a', 'b') }}|{{ '{1}{0}'.format('x', 'y') }}|{{ '{name}!'.format(name='n') }}|{{ '{:>5}|{:<4}|{:^5}'.format('r', 'l', 'c') }}|{{ '{:.2f}'.format(3.14159) }}|{{ '{:03d}'.format(7) }}", {}, { pythonReason: "str.format is Python's, which @huggingface/jinja does not implement" }),
  feature("methods-dict-list", "{{ d.keys() | join }}|{{ d.values() | join }}|{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}|{{ d.get('a') }}|{{ d.get('zz', 'dflt') }}|{{ d.get('zz') is none }}|{{ [1, 2, 3].index(2) }}|{{ [1, 1, 2].count(1) }}", { d: { a: 1, b: 2 } }, { pythonReason: "@huggingface/jinja lacks list.index/list.count; d.get('zz') is None, and bools print as True" }),
  feature("methods-list-append-unsafe", "{% set l = [] %}{% set _ = l.append(1) %}{{ l }}", {}, { errorContains: "unsafe" }),
  // globals
  feature("globals-dict-namespace", "{% set d = dict(a=1, b='x') %}{{ d.a }}{{ d.b }} {% set ns = namespace(d) %}{{ ns.b }}{% set ns.c = 3 %}{{ ns.c }}", {}, { pythonReason: "@huggingface/jinja has no dict() global; Jinja2's namespace() also takes a mapping" }),
  feature("globals-cycler-joiner", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }} {% set j = joiner('|') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}, { pythonReason: "@huggingface/jinja has no cycler/joiner globals" }),
  feature("globals-strftime", "{{ strftime_now('%Y-%m-%d') | length }} {{ strftime_now('%d %b %Y')[2:3] }}"),
  feature("globals-raise-exception", "line one\n{% if true %}\n  {{ raise_exception('custom failure: ' ~ messages[0].role) }}\n{% endif %}", {}, { errorContains: "custom failure: user", errorLine: 3, errorColumn: 6 }),
  // scoping (Python Jinja2 is the authority here)
  feature("scope-loop-var-after-loop", "{% for i in [1, 2] %}{% endfor %}[{{ i }}]"),
  feature("scope-macro-sees-later-top-level-set", "{% macro m() %}{{ x }}{% endmacro %}{% set x = 5 %}{{ m() }}"),
  feature("scope-macro-no-caller-locals", "{% macro m() %}[{{ i }}]{% endmacro %}{% for i in [1, 2] %}{{ m() }}{% endfor %}", {}, { pythonReason: "Jinja2 macros are lexically scoped: they do not see the caller's loop variables (@huggingface/jinja scopes dynamically)" }),
  feature("scope-macro-in-loop-closure", "{% for i in [1, 2] %}{% macro m() %}{{ i }}{% endmacro %}{{ m() }}{% endfor %}"),
  feature("scope-set-in-macro-no-leak", "{% set x = 1 %}{% macro m() %}{% set x = 2 %}{{ x }}{% endmacro %}{{ m() }}{{ x }}"),
  feature("scope-set-in-if", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"),
  feature("scope-outer-loop", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ loop.index }}{% if loop.last and outer.last %}!{% endif %} {% endfor %}{% endfor %}", {}, { pythonReason: "@huggingface/jinja cannot iterate over a string" }),
  feature("scope-break-inner-only", "{% for a in [1, 2] %}{% for b in [1, 2, 3] %}{% if b == 2 %}{% break %}{% endif %}{{ a }}{{ b }} {% endfor %}{% endfor %}"),
  feature("scope-filtered-else", "{% for m in messages if m.role == 'tool' %}{{ m }}{% else %}no tools{% endfor %}"),
  feature("scope-filtered-previtem", "{% for x in [1, 2, 3, 4, 5] if x is odd %}{{ loop.previtem }}>{{ x }}<{{ loop.nextitem }} {% endfor %}"),
  feature("scope-namespace-in-macro", "{% macro count(items) %}{% set ns = namespace(n=0) %}{% for i in items %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}{% endmacro %}{{ count([1, 2, 3]) }} {{ count([]) }}"),
  feature("scope-caller-sees-call-site", "{% macro twice() %}{{ caller() }}{{ caller() }}{% endmacro %}{% for i in [7] %}{% call twice() %}<{{ i }}>{% endcall %}{% endfor %}"),
  feature("scope-set-loop-target-in-body", "{% for t in tools %}{% if t.function is defined %}{% set t = t.function %}{% endif %}{{ t.name }};{% endfor %}", { tools: [{ function: { name: "a" } }, { name: "b" }] }),
  feature("loop-else-after-break", "{% for i in [1, 2] %}{% break %}{% else %}else-ran{% endfor %}|{% for i in [1, 2] %}{% if i == 2 %}{% break %}{% endif %}{% else %}not-run{% endfor %}"),
  feature("scope-set-block-inner-frame", "{% set s %}{% set inner = 1 %}body{% endset %}[{{ inner }}]{{ s }}|{% for i in [1, 2] %}{% set t %}{{ i }}{% if i == 1 %}{% continue %}{% endif %}{% endset %}{{ t }}{% endfor %}", {}, { pythonReason: "Jinja2 runs a block set's body in an inner frame, so its sets do not leak (@huggingface/jinja leaks them)" }),
  feature("error-break-outside-loop", "{% if false %}{% break %}{% endif %}", {}, { pythonReason: "Jinja2 compiles templates to Python, where break outside a loop is a SyntaxError even in an untaken branch", errorContains: "'break' outside of a for loop", errorLine: 1, errorColumn: 18 }),
  // parse errors (the C# message must name line and column)
  feature("error-unterminated-block", "hello\n  {% if x", {}, { errorContains: "unterminated", errorLine: 2, errorColumn: 3 }),
  feature("error-unterminated-var", "a {{ x + 1", {}, { errorContains: "unterminated", errorLine: 1, errorColumn: 3 }),
  feature("error-unterminated-string", "{{ 'abc }}", {}, { errorContains: "unterminated string", errorLine: 1, errorColumn: 4 }),
  feature("error-unknown-filter", "ok\n{{ messages | frobnicate }}", {}, { errorContains: "unknown filter 'frobnicate'", errorLine: 2, errorColumn: 15 }),
  feature("unknown-filter-untaken-branch", "{% if false %}\n  {{ x | frobnicate }}\n{% endif %}ok{{ 'y' if true else (1 is frobnicated) }}"),
  feature("error-unknown-filter-taken-branch", "{% if true %}\n  {{ x | frobnicate }}\n{% endif %}", {}, { errorContains: "unknown filter 'frobnicate'", errorLine: 2, errorColumn: 10 }),
  feature("error-unknown-test", "{{ 1 is frobnicated }}", {}, { errorContains: "unknown test 'frobnicated'", errorLine: 1, errorColumn: 9 }),
  feature("error-unknown-tag", "{% frobnicate %}", {}, { errorContains: "unknown tag 'frobnicate'", errorLine: 1, errorColumn: 4 }),
  feature("error-unclosed-if", "{% if true %}a", {}, { errorContains: "never closed", errorLine: 1, errorColumn: 4 }),
  feature("error-bad-expression", "{{ 1 + }}", {}, { errorContains: "unexpected", errorLine: 1, errorColumn: 8 }),
  feature("error-stray-endfor", "{% endfor %}", {}, { errorContains: "endfor", errorLine: 1, errorColumn: 4 }),
];
