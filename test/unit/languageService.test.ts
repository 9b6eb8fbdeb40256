/**
 * The editor's language service for notebooks (extension/language/service.ts), on multi-cell
 * notebooks given as strings, without VS Code; diagnostics compared with what the kernel's own check
 * (CellExecutor, tslab's converter) reports for the same cells. Needs dist/fernb-types and
 * dist/languageWorker.js (`npm run build`).
 */
import { test, after } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NotebookLanguageService, type CellDiagnostic, type Position } from "../../extension/language/service";
import { LanguageClient } from "../../extension/language/client";
import { topLevelNames } from "../../extension/language/cellNames";
import { CELL_LANGUAGE, toEditorLanguage, toFileLanguage } from "../../extension/language/languageId";
import { parseNotebook, serializeNotebook } from "../../extension/notebookFormat";
import { PRELUDE_DECLARATIONS } from "../../kernel/prelude";
import { CellExecutor } from "../../kernel/executor";

const root = path.resolve(import.meta.dirname, "../..");
/**
 * A copy of dist/fernb-types inside the repository (so the declarations' own imports resolve from its
 * node_modules): a build running meanwhile deletes and rewrites dist/fernb-types.
 */
const fernbTypesDir = copyFernbTypes();

function copyFernbTypes(): string {
  const built = path.join(root, "dist", "fernb-types");
  const copy = path.join(root, `.tmp-fernb-types-${process.pid}`);
  for (let tries = 0; ; tries++) {
    try {
      if (!fs.existsSync(path.join(built, "kernel", "fer", "index.d.ts"))) throw new Error("dist/fernb-types is missing: run `npm run build` first.");
      fs.cpSync(built, copy, { recursive: true });
      if (!fs.existsSync(path.join(copy, "kernel", "fer", "index.d.ts"))) throw new Error("dist/fernb-types was being rebuilt");
      return copy;
    } catch (e) {
      fs.rmSync(copy, { recursive: true, force: true });
      if (tries >= 60) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }
  }
}

const services: NotebookLanguageService[] = [];
after(() => {
  services.forEach((s) => s.dispose());
  fs.rmSync(fernbTypesDir, { recursive: true, force: true });
});

function notebook(cells: string[], notebookDir = root, fallbackTypesRoot?: string): NotebookLanguageService {
  const service = new NotebookLanguageService({ notebookDir, fernbTypesDir, preludeDeclarations: PRELUDE_DECLARATIONS, fallbackTypesRoot });
  services.push(service);
  service.setCells(cells);
  return service;
}

/** The position of the `n`-th occurrence of `marker` in cell `cell` (just after it with `after`). */
function at(cells: string[], cell: number, marker: string, opts: { after?: boolean; n?: number } = {}): Position {
  let index = -1;
  for (let i = 0; i <= (opts.n ?? 0); i++) index = cells[cell].indexOf(marker, index + 1);
  assert.ok(index >= 0, `${marker} not in cell ${cell}`);
  if (opts.after) index += marker.length;
  const before = cells[cell].slice(0, index).split("\n");
  return { line: before.length - 1, character: before[before.length - 1].length };
}

const names = (s: NotebookLanguageService, cell: number, pos: Position) => s.completions(cell, pos).entries.map((e) => e.name);

/** Runs cells through the kernel's executor and returns each cell's type errors as `line:column code message` (1-based). */
async function kernelTypeErrors(cells: string[]): Promise<string[][]> {
  const executor = new CellExecutor({
    rootDir: root,
    preludeDeclarations: PRELUDE_DECLARATIONS,
    preludeValues: { display: () => undefined, kernel: {} },
    builtinModules: { fernb: { value: {}, typesDir: fernbTypesDir } },
  });
  const out: string[][] = [];
  try {
    for (const [i, code] of cells.entries()) {
      const r = await executor.execute(code, `Cell ${i + 1}`);
      if (r.error?.name !== "TypeScript") {
        out.push([]);
        continue;
      }
      out.push(
        r.error.stack
          .split("\n")
          .map((l) => /^Cell \d+:(\d+):(\d+) - error TS(\d+): (.*)$/.exec(l))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => `${m[1]}:${m[2]} TS${m[3]} ${m[4]}`),
      );
    }
  } finally {
    executor.close();
  }
  return out;
}

const asKernel = (ds: CellDiagnostic[]) => ds.map((d) => `${d.start.line + 1}:${d.start.character + 1} TS${d.code} ${d.message.split("\n")[0]}`);

test("completion offers the names of earlier cells, not of later ones, and fernb's members after `d.`", () => {
  const cells = [
    `import { loadFolderDataset, AUGMENT_PRESETS } from "fernb";\nlet bestAccuracy = 0;\nfunction describeRun(epochs: number): string { return String(epochs); }`,
    `const d = await loadFolderDataset("faces");\nd.`,
    `bes`,
    `const laterOnly = 1;`,
  ];
  const s = notebook(cells);
  const global = names(s, 2, at(cells, 2, "bes", { after: true }));
  for (const n of ["bestAccuracy", "describeRun", "loadFolderDataset", "AUGMENT_PRESETS", "d", "display", "kernel"]) assert.ok(global.includes(n), `${n} offered in cell 3`);
  assert.ok(!global.includes("laterOnly"), "a later cell's name is not offered");
  assert.ok(!global.some((n) => n.startsWith("__fernb_")), "no virtual file names");

  const members = s.completions(1, at(cells, 1, "d.", { after: true }));
  assert.equal(members.isMemberCompletion, true);
  for (const n of ["fingerprint", "classCounts", "images", "report"]) assert.ok(members.entries.some((e) => e.name === n), `FaceDataset.${n} offered`);

  // A name from an earlier cell is described as declared there, not as an import of this cell.
  const details = s.completionDetails(2, at(cells, 2, "bes", { after: true }), "describeRun");
  assert.equal(details?.signature, "function describeRun(epochs: number): string");
  const kind = s.completions(2, at(cells, 2, "bes", { after: true })).entries.find((e) => e.name === "bestAccuracy")?.kind;
  assert.equal(kind, "let");
});

test("a type error the kernel reports is reported in the same cell, line, column and words; positions map to that cell", async () => {
  const cells = [
    `import { evaluate, type Evaluation } from "fernb";\ndeclare const ev: Evaluation;`,
    `// a comment line\nconst n: number = 1;\nconsole.log(n, ev.accuracy);`,
    `const total: number = "many";`,
  ];
  const s = notebook(cells);
  const editor = cells.map((_, i) => s.diagnostics(i));
  assert.deepEqual(editor[0], []);
  assert.equal(editor[1].length, 1);
  assert.deepEqual(
    { cell: editor[1][0].cell, start: editor[1][0].start, end: editor[1][0].end },
    { cell: 1, start: at(cells, 1, "accuracy"), end: at(cells, 1, "accuracy", { after: true }) },
  );
  assert.equal(editor[1][0].message, "Property 'accuracy' does not exist on type 'Evaluation'.");
  assert.equal(editor[2][0].start.line, 0);
  assert.equal(editor[2][0].cell, 2);

  const kernel = await kernelTypeErrors(cells);
  assert.deepEqual(editor.map(asKernel), kernel);
  assert.match(kernel[1][0], /^3:19 TS2339 Property 'accuracy' does not exist on type 'Evaluation'\.$/);
});

test("valid cross-cell code has no diagnostic, as in the kernel: imports used later, let reassigned, redeclared names, types, { name }, top-level await", async () => {
  const cells = [
    `import { AUGMENT_PRESETS, createResNet18, loadFolderDataset, type FaceDataset } from "fernb";\nimport * as fs from "node:fs";\nlet best = 0;\ninterface Run { name: string; epochs: number }\nconst label = "first";`,
    `const valSet: FaceDataset | undefined = undefined;\nfunction size(d: FaceDataset): number { return d.images.length; }`,
    `best = 5;\nbest++;\nconst label = 42;\nconst run: Run = { name: "x", epochs: best };\nconst options = { run, label };\nawait new Promise((r) => setTimeout(r, 1));\nconst augment = AUGMENT_PRESETS.standard;\nconst model = createResNet18({});\nconst exists: boolean = fs.existsSync(".");`,
    `const n: number = label + options.run.epochs;\nconst f: (d: FaceDataset) => number = size;\nconsole.log(valSet, augment, model, exists, n, f, loadFolderDataset);`,
  ];
  const s = notebook(cells);
  cells.forEach((_, i) => assert.deepEqual(s.diagnostics(i), [], `cell ${i + 1}`));
  assert.deepEqual(await kernelTypeErrors(cells), [[], [], [], []]);
});

test("assigning to an earlier cell's const is the kernel's error, not an import's", async () => {
  const cells = [`const limit = 3;\nfunction step() {}`, `limit = 4;\nstep = () => {};`];
  const s = notebook(cells);
  const editor = asKernel(s.diagnostics(1));
  assert.deepEqual(editor, ["1:1 TS2588 Cannot assign to 'limit' because it is a constant.", "2:1 TS2630 Cannot assign to 'step' because it is a function."]);
  assert.deepEqual(editor, (await kernelTypeErrors(cells))[1]);
});

test("no 'unused' mark for an import or a declaration used only in a later cell", () => {
  const cells = [`import { AUGMENT_PRESETS, createResNet18 } from "fernb";\nconst valSet = 1;`, `console.log(AUGMENT_PRESETS, createResNet18, valSet);`];
  const s = notebook(cells);
  const all = [...s.diagnostics(0), ...s.diagnostics(1)];
  assert.ok(!all.some((d) => /never (used|read)/.test(d.message)));
  assert.deepEqual(all, []);
});

test("hover shows types and doc comments; go to definition reaches the earlier cell and fernb's declarations; signature help", () => {
  const cells = [
    `import { loadFolderDataset, evaluate } from "fernb";\n/** How many epochs to train. */\nconst epochs = 3;`,
    `const d = await loadFolderDataset("x");\nconsole.log(epochs);\nevaluate(`,
  ];
  const s = notebook(cells);
  const onEpochs = s.hover(1, at(cells, 1, "epochs"));
  assert.equal(onEpochs?.signature, "const epochs: 3");
  assert.equal(onEpochs?.documentation, "How many epochs to train.");
  assert.deepEqual(onEpochs?.range, { cell: 1, start: at(cells, 1, "epochs"), end: at(cells, 1, "epochs", { after: true }) });

  const onLoad = s.hover(1, at(cells, 1, "loadFolderDataset"));
  assert.match(onLoad?.signature ?? "", /loadFolderDataset\(root: string, options\?: LoadOptions\): Promise<FaceDataset>/);
  assert.match(onLoad?.documentation ?? "", /<emotion>/);
  assert.equal(s.hover(1, at(cells, 1, "d "))?.signature, "const d: FaceDataset");

  assert.deepEqual(s.definition(1, at(cells, 1, "epochs")), [{ kind: "cell", cell: 0, start: at(cells, 0, "epochs", { n: 1 }), end: at(cells, 0, "epochs", { n: 1, after: true }) }]);
  const def = s.definition(1, at(cells, 1, "loadFolderDataset"));
  assert.equal(def.length, 1);
  assert.equal(def[0].kind, "file");
  assert.ok(def[0].kind === "file" && def[0].path === path.join(fernbTypesDir, "kernel", "fer", "dataset.d.ts"), JSON.stringify(def));

  const help = s.signatureHelp(1, at(cells, 1, "evaluate(", { after: true }));
  assert.ok(help);
  assert.match(help.signatures[0].label, /^evaluate\(model: LayersModel, data: FaceDataset, options: EvaluationOptions\): Promise<Evaluation>$/);
  assert.equal(help.activeParameter, 0);
  assert.deepEqual(help.signatures[0].label.slice(...help.signatures[0].parameters[1].label), "data: FaceDataset");
});

test("packages installed in the notebook's folder and Node's built-ins are typed", () => {
  const dir = fs.mkdtempSync(path.join(root, ".tmp-ls-"));
  try {
    const pkg = path.join(dir, "node_modules", "greeter");
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "greeter", types: "index.d.ts" }));
    fs.writeFileSync(path.join(pkg, "index.d.ts"), "/** Says hello. */\nexport declare function greet(name: string): string;\n");
    const cells = [`import { greet } from "greeter";\nimport * as os from "node:os";`, `const g: number = greet("x");`, `os.`];
    const s = notebook(cells, dir);
    assert.deepEqual(asKernel(s.diagnostics(1)), ["1:7 TS2322 Type 'string' is not assignable to type 'number'."]);
    assert.equal(s.hover(1, at(cells, 1, "greet"))?.documentation, "Says hello.");
    assert.ok(names(s, 2, at(cells, 2, "os.", { after: true })).includes("cpus"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a package installed after the notebook was checked is found by the next check", () => {
  const dir = fs.mkdtempSync(path.join(root, ".tmp-ls-"));
  try {
    const service = new NotebookLanguageService({ notebookDir: dir, fernbTypesDir, preludeDeclarations: PRELUDE_DECLARATIONS, retryUnresolvedMs: 0 });
    services.push(service);
    service.setCells([`import { greet } from "greeter";\nconst n: number = greet("x");`]);
    assert.deepEqual(service.diagnostics(0).map((d) => d.code), [2307]);
    const pkg = path.join(dir, "node_modules", "greeter");
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "greeter", types: "index.d.ts" }));
    fs.writeFileSync(path.join(pkg, "index.d.ts"), "export declare function greet(name: string): string;\n");
    assert.deepEqual(asKernel(service.diagnostics(0)), ["2:7 TS2322 Type 'string' is not assignable to type 'number'."]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a notebook in a folder without node_modules still gets fernb's and Node's types", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-ls-"));
  try {
    const cells = [`import { EMOTIONS, loadFolderDataset } from "fernb";\nimport * as fs from "node:fs";`, `const n: number = EMOTIONS.length;\nconsole.log(n, fs.existsSync("x"), process.pid);\nconst d = await loadFolderDataset("faces");`];
    // The extension passes its own node_modules/@types for a folder whose tree has no @types/node.
    const s = notebook(cells, dir, path.join(root, "node_modules", "@types"));
    cells.forEach((_, i) => assert.deepEqual(s.diagnostics(i), [], `cell ${i + 1}`));
    assert.equal(s.hover(1, at(cells, 1, "d ="))?.signature, "const d: FaceDataset");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the bundled notebooks have no diagnostics", () => {
  for (const name of ["quickstart", "train", "evaluate", "curate", "hello"]) {
    const nb = parseNotebook(fs.readFileSync(path.join(root, "notebooks", `${name}.fernb`)), name);
    const cells = nb.cells.filter((c) => c.kind === "code").map((c) => c.source);
    const s = notebook(cells, path.join(root, "notebooks"));
    cells.forEach((_, i) => assert.deepEqual(s.diagnostics(i), [], `${name}.fernb, code cell ${i + 1}`));
  }
});

test("top-level names: variables (destructured too), functions, classes, types, imports; not block-scoped ones", () => {
  const found = topLevelNames(`import a, { b as c } from "x";\nimport * as ns from "y";\nconst { d, e: [f] } = obj;\nlet g; var h;\nfunction i() { const inner = 1; }\nclass J {}\ninterface K {}\ntype L = 1;\nenum M {}\nfor (var n = 0;;) {}\nfor (let o = 0;;) {}\n{ const p = 1; }`);
  assert.deepEqual(
    found.map((n) => `${n.name}:${n.kind}`),
    ["a:import", "c:import", "ns:import", "d:const", "f:const", "g:let", "h:var", "i:function", "J:class", "K:interface", "L:type", "M:enum", "n:var"],
  );
});

test("code cells open as fernb-ts and are saved as typescript: a bundled notebook keeps its bytes", () => {
  const bytes = fs.readFileSync(path.join(root, "notebooks", "quickstart.fernb"));
  const nb = parseNotebook(bytes, "quickstart");
  const opened = nb.cells.map((c) => ({ ...c, language: c.kind === "code" ? toEditorLanguage(c.language) : c.language }));
  assert.ok(opened.some((c) => c.kind === "code") && opened.filter((c) => c.kind === "code").every((c) => c.language === CELL_LANGUAGE));
  const saved = opened.map((c) => ({ ...c, language: c.kind === "code" ? toFileLanguage(c.language) : c.language }));
  assert.equal(Buffer.from(serializeNotebook({ metadata: nb.metadata, cells: saved })).toString("utf8"), bytes.toString("utf8"));
  assert.equal(toEditorLanguage("python"), "python");
});

test("the extension's bundled worker (dist/languageWorker.js) answers completion and diagnostics", async () => {
  const client = new LanguageClient(path.join(root, "dist", "languageWorker.js"), { fernbTypesDir, preludeDeclarations: PRELUDE_DECLARATIONS });
  try {
    const ref = { notebook: "file:///nb.fernb", notebookDir: root, cells: [`import { EMOTIONS } from "fernb";`, `EMOTIONS.`] };
    const list = await client.completions(ref, 1, { line: 0, character: 9 });
    assert.ok(list.entries.some((e) => e.name === "length"));
    const diags = await client.diagnostics({ ...ref, cells: [ref.cells[0], `const x: string = EMOTIONS.length;`] }, 1);
    assert.deepEqual(asKernel(diags), ["1:7 TS2322 Type 'number' is not assignable to type 'string'."]);
  } finally {
    client.dispose();
  }
});
