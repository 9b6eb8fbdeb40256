/**
 * `npm run bench:completion`: how fast the editor's completion answers in a 30-cell notebook
 * (extension/language/service.ts, the service VS Code asks on every completion request).
 *
 * The notebook: the code cells of the bundled notebooks (quickstart, train, evaluate, curate,
 * hello: 27 cells, and their first two again: 29) and a 30th cell being typed. Each round types one character into the last cell,
 * as a keystroke does (so the service builds a new program, as it does in the editor), and asks for
 *   - member completion after `dataset.` (a fernb type, FaceDataset), and
 *   - name completion at the start of a line (everything in scope: the earlier cells' names, fernb's
 *     imports, globals, keywords).
 * The first request (loading TypeScript's libraries, Node's and fernb's declarations) is reported
 * on its own: the extension pays it when a notebook opens (warm-up), before the user types.
 * Prints median, 95th percentile and maximum of each, and one JSON line last. Goal: under 100 ms.
 */
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseNotebook } from "../extension/notebookFormat";
import { NotebookLanguageService } from "../extension/language/service";
import { PRELUDE_DECLARATIONS } from "../kernel/prelude";

const root = resolve(import.meta.dirname, "..");
const rounds = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 40);

const cells: string[] = [];
for (const name of ["quickstart", "train", "evaluate", "curate", "hello"]) {
  const nb = parseNotebook(readFileSync(join(root, "notebooks", `${name}.fernb`)), name);
  for (const c of nb.cells) if (c.kind === "code") cells.push(c.source);
}
// 27 code cells in the bundled notebooks: the first two again make 29.
for (let i = 0; cells.length < 29; i++) cells.push(cells[i]);
cells.length = 29;
const last = (i: number) => `import { loadFolderDataset } from "fernb";\nconst dataset = await loadFolderDataset("faces");\n// typed ${"x".repeat(i)}\ndataset.`;
const memberAt = { line: 3, character: "dataset.".length };
const nameAt = { line: 3, character: 0 };

const service = new NotebookLanguageService({
  notebookDir: join(root, "notebooks"),
  fernbTypesDir: join(root, "dist", "fernb-types"),
  preludeDeclarations: PRELUDE_DECLARATIONS,
  fallbackTypesRoot: join(root, "node_modules", "@types"),
});

/** Wall-clock and CPU milliseconds of `f` (CPU time says what the request costs when other processes share the cores). */
const cpu: { member: number[]; names: number[] } = { member: [], names: [] };
function time<T>(f: () => T, cpuInto?: number[]): [number, T] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  cpuInto?.push((c.user + c.system) / 1000);
  return [wall, r];
}

service.setCells([...cells, last(0)]);
const lastCell = cells.length;
const [first, firstList] = time(() => service.completions(lastCell, memberAt));
if (!firstList.entries.some((e) => e.name === "fingerprint")) throw new Error("member completion did not list FaceDataset's members");

const member: number[] = [];
const names: number[] = [];
for (let i = 1; i <= rounds; i++) {
  const [m, list] = time(() => {
    service.setCells([...cells, last(i)]);
    return service.completions(lastCell, memberAt);
  }, cpu.member);
  if (!list.entries.some((e) => e.name === "fingerprint")) throw new Error("member completion lost FaceDataset's members");
  member.push(m);
  const [n, all] = time(() => {
    service.setCells([...cells, last(i) + " "]);
    return service.completions(lastCell, nameAt);
  }, cpu.names);
  if (!all.entries.some((e) => e.name === "loadFolderDataset")) throw new Error("name completion lost the imported names");
  names.push(n);
}

function stats(xs: number[]): { median: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: round(at(0.5)), p95: round(at(0.95)), max: round(s[s.length - 1]) };
}
const round = (x: number) => Math.round(x * 10) / 10;

const result = {
  cells: lastCell + 1,
  rounds,
  firstRequestMs: round(first),
  member: stats(member),
  names: stats(names),
  cpu: { member: stats(cpu.member), names: stats(cpu.names) },
  cores: availableParallelism(),
  loadAverage: round(loadavg()[0]),
};
console.log(`Completion in a ${result.cells}-cell notebook, ${rounds} keystrokes:`);
console.log(`  first request (loads libraries and declarations): ${result.firstRequestMs} ms`);
console.log(`  member completion (dataset.): median ${result.member.median} ms, p95 ${result.member.p95} ms, max ${result.member.max} ms`);
console.log(`  name completion: median ${result.names.median} ms, p95 ${result.names.p95} ms, max ${result.names.max} ms`);
console.log(`  CPU time: member median ${result.cpu.member.median} ms (p95 ${result.cpu.member.p95}), names median ${result.cpu.names.median} ms (p95 ${result.cpu.names.p95})`);
console.log(`  machine: ${result.cores} cores, load average ${result.loadAverage} (wall times grow with the load; CPU time does not)`);
console.log(JSON.stringify(result));
service.dispose();
