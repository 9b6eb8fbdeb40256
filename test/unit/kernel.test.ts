/**
 * Drives the real kernel process (dist/kernel.js, built by `npm test`) through the same
 * KernelClient the extension uses.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KernelClient, KERNEL_NOT_RESPONDING, type ExecutionOutcome } from "../../extension/kernelClient";
import type { OutputItem } from "../../protocol";

const kernelPath = path.resolve("dist/kernel.js");

interface Event {
  kind: "stdout" | "stderr" | "display" | "update";
  text: string;
  at: number;
  items?: OutputItem[];
}

interface Run extends ExecutionOutcome {
  events: Event[];
  endedAt: number;
  text: string;
}

async function run(client: KernelClient, code: string, label = "Cell 1"): Promise<Run> {
  const events: Event[] = [];
  const outcome = await client.execute(code, label, {
    onStream: (name, text) => events.push({ kind: name, text, at: Date.now() }),
    onDisplay: (_id, update, items) =>
      events.push({ kind: update ? "update" : "display", text: items.map((i) => (typeof i.data === "string" ? i.data : `<${i.data.length} bytes>`)).join("|"), at: Date.now(), items }),
  });
  return { ...outcome, events, endedAt: Date.now(), text: events.map((e) => e.text).join("") };
}

let workdir: string;
let client: KernelClient;

before(async () => {
  workdir = mkdtempSync(path.join(tmpdir(), "fernb-kernel-test-"));
  // A package installed in the notebook's project.
  const pkg = path.join(workdir, "node_modules", "greeter");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "greeter", version: "1.0.0", main: "index.js", types: "index.d.ts" }));
  writeFileSync(path.join(pkg, "index.js"), "exports.greet = (n) => `hello ${n}`;\n");
  writeFileSync(path.join(pkg, "index.d.ts"), "export declare function greet(name: string): string;\n");
  client = new KernelClient({ kernelPath, cwd: workdir });
  await client.start();
});

after(async () => {
  await client.stop();
  rmSync(workdir, { recursive: true, force: true });
});

test("declarations carry across cells and the last expression is shown", async () => {
  assert.equal((await run(client, "const base: number = 40;\nfunction add(x: number) { return base + x; }")).ok, true);
  const r = await run(client, "add(2)", "Cell 2");
  assert.equal(r.ok, true);
  assert.equal(r.text, "42");
});

test("shorthand properties see variables of earlier cells (tslab gap worked around)", async () => {
  await run(client, "const width = 48;\nlet height = 40;");
  const r = await run(client, "const size = { width, height };\nlet w = 0;\n({ width: w } = size);\n`${size.width}x${size.height} ${w}`");
  assert.equal(r.ok, true, JSON.stringify(r.error));
  assert.equal(r.text, "48x40 48");
});

test("top-level await works", async () => {
  const r = await run(client, "const v = await new Promise<number>((res) => setTimeout(() => res(7), 20));\nv * 6");
  assert.equal(r.ok, true, JSON.stringify(r.error));
  assert.equal(r.text, "42");
});

test("types are checked against earlier cells", async () => {
  await run(client, "let label: string = 'x';");
  const r = await run(client, "const n: number = 1;\nlabel = n;", "Cell 7");
  assert.equal(r.ok, false);
  assert.equal(r.error!.name, "TypeScript");
  assert.match(r.error!.message, /Type 'number' is not assignable to type 'string'/);
  assert.match(r.error!.stack, /^Cell 7:2:1 - error TS2322/);
});

test("an import of a package installed in the project works, with its types", async () => {
  const r = await run(client, 'import { greet } from "greeter";\ngreet("fernb")');
  assert.equal(r.ok, true, JSON.stringify(r.error));
  assert.equal(r.text, "hello fernb");
  const bad = await run(client, 'import { greet } from "greeter";\ngreet(5)');
  assert.equal(bad.ok, false);
  assert.match(bad.error!.message, /not assignable to parameter of type 'string'/);
});

test("output streams while the cell runs, in order with displays", async () => {
  const r = await run(client, [
    'console.log("first");',
    'display.html("<b>second</b>");',
    'console.error("third");',
    "await kernel.sleep(400);",
    'console.log("fourth");',
  ].join("\n"));
  assert.equal(r.ok, true);
  assert.deepEqual(r.events.map((e) => [e.kind, e.text]), [
    ["stdout", "first\n"],
    ["display", "<b>second</b>"],
    ["stderr", "third\n"],
    ["stdout", "fourth\n"],
  ]);
  assert.ok(r.endedAt - r.events[0].at >= 300, "the first line arrived well before the cell ended");
});

test("display API: MIME types, images and in-place updates", async () => {
  const r = await run(client, [
    "display.png(new Uint8Array([137, 80, 78, 71]));",
    'const h = display.chart({ mark: "line", data: { values: [{ x: 1 }] } });',
    'h.update({ mark: "line", data: { values: [{ x: 1 }, { x: 2 }] } });',
    'display.mime({ "application/vnd.fernb.custom+json": { a: 1 }, "text/plain": "fallback" });',
    "display.json({ k: [1, 2] });",
    "display.text('last')",
  ].join("\n"));
  assert.equal(r.ok, true, JSON.stringify(r.error));
  const [png, chart, update, custom, json] = r.events;
  assert.equal(png.items![0].mime, "image/png");
  assert.ok(png.items![0].data instanceof Uint8Array);
  assert.equal(chart.items![0].mime, "application/vnd.fernb.chart+json");
  assert.equal(update.kind, "update");
  assert.deepEqual(JSON.parse(update.items![0].data as string).data.values, [{ x: 1 }, { x: 2 }]);
  assert.deepEqual(custom.items!.map((i) => i.mime), ["application/vnd.fernb.custom+json", "text/plain"]);
  assert.deepEqual(JSON.parse(json.items![0].data as string), { k: [1, 2] });
  assert.equal(r.events.length, 6, "a cell ending in display.x(...) shows the output, not also the handle");
});

test("a runtime error reports the cell's own line numbers", async () => {
  const r = await run(client, [
    "type Face = { label: string };", // 1
    "const faces: Face[] = [];", // 2
    "function check(f: Face[]) {", // 3
    "  if (f.length === 0) {", // 4
    '    throw new RangeError("no faces loaded");', // 5
    "  }", // 6
    "}", // 7
    'console.log("checking");', // 8
    "check(faces);", // 9
  ].join("\n"), "Cell 4");
  assert.equal(r.ok, false);
  assert.equal(r.error!.name, "RangeError");
  assert.equal(r.error!.message, "no faces loaded");
  const frames = r.error!.stack.split("\n").filter((l) => l.trim().startsWith("at "));
  assert.match(frames[0], /at check \(Cell 4:5\)/);
  assert.match(frames[1], /Cell 4:9/);
  assert.doesNotMatch(r.error!.stack, /kernel\.js|node:internal|fernb-cell/);
  assert.equal(r.text, "checking\n", "output before the error is kept");
});

test("interrupt stops an awaiting loop and keeps every variable defined so far", async () => {
  await run(client, "const before = 'kept';");
  const running = run(client, "let ticks = 0;\nwhile (true) {\n  ticks++;\n  await new Promise((r) => setTimeout(r, 5));\n  kernel.throwIfInterrupted();\n}");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await client.interrupt(5000), true);
  const r = await running;
  assert.equal(r.ok, false);
  assert.equal(r.interrupted, true);
  assert.equal(r.error!.name, "Interrupted");
  const after = await run(client, "`${before} ${ticks > 5}`");
  assert.equal(after.text, "kept true");
});

test("interrupt breaks a synchronous loop in the cell itself (SIGINT) and the kernel survives", async () => {
  const running = run(client, "let spins = 0;\nwhile (true) { spins++; }");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await client.interrupt(5000), true);
  const r = await running;
  assert.equal(r.interrupted, true);
  const after = await run(client, "spins > 0 && before === 'kept'");
  assert.equal(after.text, "true");
});

test("a cell that blocks the event loop forever is reported, and a restart recovers", async () => {
  const running = run(client, "setTimeout(() => { while (true) {} }, 0);\nawait kernel.sleep(60000);");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await client.interrupt(1500), false);
  const r = await running;
  assert.equal(r.ok, false);
  assert.equal(r.error!.name, "KernelBusy");
  assert.equal(r.error!.message, KERNEL_NOT_RESPONDING);
  const refused = await run(client, "1");
  assert.equal(refused.error?.name, "KernelBusy", "a stuck kernel refuses new cells until restarted");
  const oldPid = client.pid;
  await client.restart();
  assert.notEqual(client.pid, oldPid);
  const fresh = await run(client, "before");
  assert.match(fresh.error?.message ?? "", /Cannot find name 'before'/, "a restart starts from a clean state");
  assert.equal((await run(client, "1 + 1")).text, "2");
});

test("a kernel crash ends the running cell with an error that says so; the next run starts a fresh kernel", async () => {
  await run(client, "const survivor = 1;");
  const r = await run(client, 'console.log("about to crash");\nawait kernel.sleep(50);\nprocess.exit(3);');
  assert.equal(r.ok, false);
  assert.equal(r.kernelLost, true);
  assert.equal(r.error!.name, "KernelCrashed");
  assert.match(r.error!.message, /stopped unexpectedly \(exit code 3\) while this cell was running/);
  assert.equal(r.text, "about to crash\n");
  const next = await run(client, "survivor");
  assert.match(next.error?.message ?? "", /Cannot find name 'survivor'/, "the fresh kernel has no old state");
  assert.equal((await run(client, "'fresh'")).text, "fresh");
});

test("background errors are reported without killing the kernel", async () => {
  await run(client, "const alive = 'yes';");
  const r = await run(client, 'setTimeout(() => { throw new Error("late failure"); }, 10);\nawait kernel.sleep(200);');
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.match(r.text, /Uncaught exception from background code:\nError: late failure/);
  assert.equal((await run(client, "alive")).text, "yes");
});

test("cells import the FER library as \"fernb\", type-checked against its declarations", async () => {
  const r = await run(client, 'import { EMOTIONS, tf, activeBackend } from "fernb";\nconst t = tf.tensor1d([1, 2, 3]);\n`${EMOTIONS.length} ${t.sum().dataSync()[0]} ${activeBackend()?.tfBackend === tf.getBackend()}`');
  assert.equal(r.ok, true, JSON.stringify(r.error));
  assert.equal(r.text, "7 6 true");
  const bad = await run(client, 'import { EMOTIONS } from "fernb";\nconst first: number = EMOTIONS[0];');
  assert.equal(bad.ok, false);
  assert.match(bad.error!.message, /Type '("anger"|string)' is not assignable to type 'number'/, "typed, not any");
});

test("the kernel reports its TensorFlow.js backend when it is ready", () => {
  assert.match(client.backend ?? "", /^(tensorflow-gpu|webgpu|tensorflow|wasm|cpu): /);
});
