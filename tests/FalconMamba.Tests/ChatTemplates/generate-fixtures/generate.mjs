// Generates ../Fixtures/*.json: every case rendered by @huggingface/jinja (the JS Jinja that Hugging Face uses),
// plus, where Python Jinja2 as transformers configures it renders differently, an `override` with the reason.
// Rerun: cd tests/FalconMamba.Tests/ChatTemplates/generate-fixtures && npm install && node generate.mjs
// (needs python3 with jinja2 for python-reference.py). The C# tests only read the JSON, so CI needs neither.
import { Template } from "@huggingface/jinja";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { groups, features } from "./cases.mjs";

const version = JSON.parse(readFileSync(new URL("./node_modules/@huggingface/jinja/package.json", import.meta.url))).version;
const outDir = new URL("../Fixtures/", import.meta.url);
mkdirSync(outDir, { recursive: true });

function renderJs(template, variables) {
  try {
    return { expected: new Template(template).render(structuredClone(variables)) };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

const files = [
  ...groups.map((g) => ({ file: `${g.name}.json`, description: g.description, cases: g.cases.map((c) => ({ ...c, template: g.template })) })),
  { file: "features.json", description: "One small template per feature (whitespace control, expressions, loops, macros, filters, tests, methods, globals, errors)", cases: features },
];

const all = files.flatMap((f) => f.cases);
const py = JSON.parse(execFileSync("python3", [new URL("./python-reference.py", import.meta.url).pathname], {
  input: JSON.stringify(all.map((c) => ({ template: c.template, variables: c.variables }))),
  maxBuffer: 64 << 20,
}).toString());

let k = 0, problems = 0, total = 0, overrides = 0;
for (const f of files) {
  const cases = f.cases.map((c) => {
    const js = renderJs(c.template, c.variables);
    const p = py[k++];
    const same = ("error" in js && "error" in p) || (!("error" in js) && js.expected === p.expected);
    const out = { name: c.name, template: c.template, variables: c.variables, ...js };
    if (!same) {
      if (!c.pythonReason) { console.error(`UNEXPLAINED difference in ${f.file}/${c.name}:\n  js: ${JSON.stringify(js)}\n  py: ${JSON.stringify(p)}`); problems++; }
      out.override = { reason: c.pythonReason ?? "UNEXPLAINED", ...p };
      overrides++;
    } else if (c.pythonReason) {
      console.error(`note: ${f.file}/${c.name} has a pythonReason but JS and Python agree; no override written`);
    }
    for (const key of ["errorContains", "errorLine", "errorColumn"]) if (key in c) out[key] = c[key];
    total++;
    return out;
  });
  const fixture = { description: f.description, generator: `@huggingface/jinja ${version}; overrides from Python Jinja2 (python-reference.py)`, cases };
  writeFileSync(new URL(f.file, outDir), JSON.stringify(fixture, null, 2) + "\n");
}
console.log(`${total} cases in ${files.length} files, ${overrides} Python overrides, ${problems} unexplained`);
process.exit(problems ? 1 : 0);
