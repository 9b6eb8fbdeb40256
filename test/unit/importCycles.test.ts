/**
 * No import cycle among fernb's source files (issue #15): the import graph of extension/, kernel/,
 * cli/ and protocol/ is parsed with TypeScript's own parser and searched for cycles.
 *
 * What is an edge: every relative `import … from`, `import type … from`, `export … from`,
 * `import x = require(…)`, `require(…)` and type reference `import("./x").T`. Type-only imports count:
 * a cycle through types is still two files that must be read (and changed) together, and today's
 * type-only import is tomorrow's value import. Dynamic `import("./x")` expressions do not count: they
 * run later, when called, after both files have loaded, and are how a heavy optional part (face
 * detection) is loaded only when asked for.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PARTS = ["extension", "kernel", "cli", "protocol"];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx|mts|cts)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** The file a relative specifier names, as TypeScript would find it (undefined: not a source file, e.g. JSON). */
function resolveSpecifier(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  const stem = base.replace(/\.(m|c)?js$/, "");
  const candidates = [base, `${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, `${stem}.cts`, `${stem}.d.ts`, path.join(base, "index.ts"), path.join(base, "index.tsx")];
  return candidates.find((c) => /\.(ts|tsx|mts|cts)$/.test(c) && existsSync(c) && statSync(c).isFile());
}

/** Relative module specifiers a file depends on (see the header for what counts). */
export function relativeImports(file: string, text = readFileSync(file, "utf8")): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const specs: string[] = [];
  const add = (node: ts.Node | undefined) => {
    if (node && ts.isStringLiteralLike(node) && node.text.startsWith(".")) specs.push(node.text);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "require" && node.arguments.length === 1) add(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specs;
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const part of PARTS) {
    for (const file of sourceFiles(path.join(ROOT, part))) {
      const targets = new Set<string>();
      for (const spec of relativeImports(file)) {
        const target = resolveSpecifier(file, spec);
        if (target && target !== file) targets.add(target);
      }
      graph.set(file, [...targets].sort());
    }
  }
  return graph;
}

/** Every cycle's files (strongly connected components with more than one file, or a file importing itself). */
export function importCycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative so a deep import chain cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  for (const start of [...graph.keys()].sort()) {
    if (index.has(start)) continue;
    const work: { node: string; edge: number }[] = [{ node: start, edge: 0 }];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const top = work[work.length - 1];
      const edges = graph.get(top.node) ?? [];
      if (top.edge < edges.length) {
        const to = edges[top.edge++];
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let n: string;
        do {
          n = stack.pop()!;
          onStack.delete(n);
          component.push(n);
        } while (n !== top.node);
        if (component.length > 1 || (graph.get(top.node) ?? []).includes(top.node)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

/** One concrete loop through a cycle's files, for the message (a → b → … → a). */
function loopThrough(graph: Map<string, string[]>, files: string[]): string[] {
  const inside = new Set(files);
  const start = files[0];
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const n = queue.shift()!;
    for (const to of graph.get(n) ?? []) {
      if (!inside.has(to)) continue;
      if (to === start) {
        const path: string[] = [start];
        for (let m: string | undefined = n; m !== undefined && m !== start; m = previous.get(m)) path.unshift(m);
        path.unshift(start);
        return path;
      }
      if (!previous.has(to) && to !== start) {
        previous.set(to, n);
        queue.push(to);
      }
    }
  }
  return [...files, start];
}

test("the cycle finder finds a cycle, and only real ones", () => {
  const g = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a", "d"]],
    ["d", []],
    ["e", ["e"]],
  ]);
  assert.deepEqual(importCycles(g), [["a", "b", "c"], ["e"]]);
  assert.deepEqual(loopThrough(g, ["a", "b", "c"]), ["a", "b", "c", "a"]);
  assert.deepEqual(importCycles(new Map([["a", ["b"]], ["b", []]])), []);
});

test("the parser sees every kind of import that counts, and not dynamic import()", () => {
  const text = [
    `import { a } from "./a";`,
    `import type { B } from "./b";`,
    `export { c } from "./c";`,
    `export * from "./d";`,
    `import e = require("./e");`,
    `const f = require("./f");`,
    `let g: import("./g").G;`,
    `const h = await import("./h");`,
    `import * as fs from "node:fs";`,
  ].join("\n");
  assert.deepEqual(relativeImports("x.ts", text), ["./a", "./b", "./c", "./d", "./e", "./f", "./g"]);
});

test("no import cycle among the source files of extension/, kernel/, cli/ and protocol/", () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `only ${graph.size} source files found under ${PARTS.join(", ")}`);
  const rel = (f: string) => path.relative(ROOT, f).split(path.sep).join("/");
  const cycles = importCycles(graph).map((files) => `${loopThrough(graph, files).map(rel).join(" → ")}${files.length > 2 ? ` (files importing each other in all: ${files.map(rel).join(", ")})` : ""}`);
  assert.deepEqual(cycles, [], `import cycles (a file imports, through the others, itself):\n  ${cycles.join("\n  ")}`);
});

test("the data core does not import the curation ledger, and a curated view is loaded in one place (kernel/fer/dataset.ts)", () => {
  const graph = importGraph();
  const rel = (f: string) => path.relative(ROOT, f).split(path.sep).join("/");
  const edges = [...graph].flatMap(([from, tos]) => tos.map((to) => [rel(from), rel(to)] as const));
  // kernel/fer/data/ may use the ledger's vocabulary (curation/report.ts: the report a curated view
  // carries, types and sentences) but nothing else of curation/.
  const dataToCuration = edges.filter(([from, to]) => from.startsWith("kernel/fer/data/") && to.startsWith("kernel/fer/curation/") && to !== "kernel/fer/curation/report.ts");
  assert.deepEqual(dataToCuration, [], "kernel/fer/data/ imports curation/ beyond its report vocabulary");
  const reportImports = edges.filter(([from]) => from === "kernel/fer/curation/report.ts").map(([, to]) => to);
  assert.deepEqual(reportImports, ["kernel/fer/labels.ts"], "curation/report.ts is a leaf (types and sentences)");
  // The raw folder loader is used only where a folder load meets its ledger.
  const folderLoaders = edges.filter(([, to]) => to === "kernel/fer/data/folder.ts").map(([from]) => from);
  assert.deepEqual(folderLoaders, ["kernel/fer/dataset.ts"]);
  assert.ok(edges.some(([from, to]) => from === "kernel/fer/dataset.ts" && to === "kernel/fer/curation/ledger.ts"), "dataset.ts replays the ledger");
});
