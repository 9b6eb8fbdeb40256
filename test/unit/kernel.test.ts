/**
 * Drives the real kernel process (dist/kernel.js, built by `npm test`) through the same
 * KernelClient the extension uses.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
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

async function run(client: KernelClient, code: string, label = "Cell 1", onText?: (text: string) => void): Promise<Run> {
  const events: Event[] = [];
  const outcome = await client.execute(code, label, {
    onStream: (name, text) => {
      events.push({ kind: name, text, at: Date.now() });
      onText?.(events.filter((e) => e.kind === "stdout" || e.kind === "stderr").map((e) => e.text).join(""));
    },
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

/** A kernel of its own, for tests that restart, crash or wedge it (the shared one stays clean). */
async function withOwnKernel(body: (own: KernelClient) => Promise<void>): Promise<void> {
  const own = new KernelClient({ kernelPath, cwd: workdir });
  try {
    await own.start();
    await body(own);
  } finally {
    await own.stop();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a cell; `reached` resolves once its output so far matches `marker` (it is running, not just queued). */
function start(kernel: KernelClient, code: string, marker: RegExp, label = "Cell 1"): { done: Promise<Run>; reached: Promise<void> } {
  let reach!: () => void;
  const marked = new Promise<void>((r) => (reach = r));
  const done = run(kernel, code, label, (text) => {
    if (marker.test(text)) reach();
  });
  const ended = done.then((r) => {
    throw new Error(`the cell ended before it printed ${marker}: ${JSON.stringify(r.error ?? r.text)}`);
  });
  return { done, reached: Promise.race([marked, ended]) };
}

test("interrupt stops an awaiting loop and keeps every variable defined so far", { timeout: 180_000 }, async () => {
  assert.equal((await run(client, "const keptA = 'kept';")).ok, true);
  const cell = start(client, "let ticksA = 0;\nwhile (true) {\n  ticksA++;\n  if (ticksA === 6) console.log('six');\n  await new Promise((r) => setTimeout(r, 5));\n  kernel.throwIfInterrupted();\n}", /six/);
  await cell.reached;
  assert.equal(await client.interrupt(5000), true);
  const r = await cell.done;
  assert.equal(r.ok, false);
  assert.equal(r.interrupted, true);
  assert.equal(r.error!.name, "Interrupted");
  const after = await run(client, "`${keptA} ${ticksA > 5}`");
  assert.equal(after.text, "kept true");
});

test("interrupt breaks a synchronous loop in the cell itself and the kernel survives", { timeout: 180_000 }, async () => {
  assert.equal((await run(client, "const keptB = 'kept';")).ok, true);
  const cell = start(client, "let spins = 0;\nwhile (true) {\n  spins++;\n  if (spins === 1000) console.log('spinning');\n}", /spinning/);
  await cell.reached;
  assert.equal(await client.interrupt(5000), true);
  const r = await cell.done;
  assert.equal(r.interrupted, true);
  const after = await run(client, "spins > 0 && keptB === 'kept'");
  assert.equal(after.text, "true");
});

test("interrupt breaks a synchronous loop that follows an await (issue 16, defect 3); variables are kept", { timeout: 180_000 }, async () => {
  assert.equal((await run(client, "const keptC = 'kept';")).ok, true);
  const cell = start(client, "await kernel.sleep(10);\nlet n = 0;\nwhile (true) {\n  n++;\n  if (n === 1000) console.log('looping');\n}", /looping/);
  await cell.reached;
  assert.equal(await client.interrupt(5000), true, "the loop stopped: no restart needed");
  const r = await cell.done;
  assert.equal(r.interrupted, true);
  assert.equal(r.error!.name, "Interrupted");
  const after = await run(client, "`${keptC} ${n > 0}`");
  assert.equal(after.text, "kept true", JSON.stringify(after.error));
  // The same for a loop in a callback the cell scheduled, and in a function of an earlier cell.
  await run(client, "function spinForever() { let k = 0; for (;;) { k++; } }");
  for (const code of ["setTimeout(() => { console.log('go'); while (true) {} }, 0);\nawait kernel.sleep(60000);", "await null;\nconsole.log('go');\nspinForever();"]) {
    const other = start(client, code, /go/);
    await other.reached;
    assert.equal(await client.interrupt(5000), true, code);
    assert.equal((await other.done).interrupted, true, code);
  }
  assert.equal((await run(client, "keptC")).text, "kept");
});

test("an interrupted async cell runs no statement afterwards and its output never reaches later cells (defect 4)", { timeout: 180_000 }, async () => {
  const leftover: string[] = [];
  const onLeftover = (label: string, text: string) => leftover.push(`${label}: ${text}`);
  client.on("interrupted-output", onLeftover);
  try {
    const cell = start(client, [
      "let ticksD = 0;",
      "for (let i = 0; i < 1000; i++) {",
      "  await new Promise((r) => setTimeout(r, 50));",
      "  ticksD++;",
      "  console.log(`tick ${ticksD}`);",
      "}",
    ].join("\n"), /tick 3/, "Cell 9");
    await cell.reached;
    assert.equal(await client.interrupt(5000), true);
    const r = await cell.done;
    assert.equal(r.interrupted, true);
    const first = await run(client, "ticksD");
    const later = await run(client, "await new Promise((r) => setTimeout(r, 600));\nticksD", "Cell 10");
    assert.equal(later.ok, true, JSON.stringify(later.error));
    assert.equal(later.text, first.text, "ticksD did not grow after the interrupt");
    assert.doesNotMatch(later.text, /tick/, "no output of the interrupted cell in a later cell");
    assert.deepEqual(leftover, []);
  } finally {
    client.off("interrupted-output", onLeftover);
  }
});

test("a progress bar says where an interrupted cell stopped, before the cell ends", { timeout: 180_000 }, async () => {
  const cell = start(client, [
    'import { progressBar } from "fernb";',
    'const bar = progressBar("work", 160);',
    "for (let i = 1; i <= 160; i++) {",
    '  bar.update(i, "step", true);',
    "  if (i === 18) console.log('eighteen');",
    "  await kernel.sleep(40);",
    "}",
  ].join("\n"), /eighteen/);
  await cell.reached;
  assert.equal(await client.interrupt(5000), true);
  const r = await cell.done;
  assert.equal(r.interrupted, true);
  const last = r.events.filter((e) => e.kind === "update" || e.kind === "display").at(-1);
  assert.match(last?.text ?? "", /interrupted at (\d+)\/160/);
  const at = Number(/interrupted at (\d+)\//.exec(last!.text)![1]);
  assert.ok(at >= 18 && at < 160, String(at));
});

test("leftover output of an interrupted cell (a timer it started) is told apart, never shown in a later cell", { timeout: 180_000 }, async () => {
  const leftover: string[] = [];
  const onLeftover = (label: string, text: string) => leftover.push(`${label}: ${text}`);
  client.on("interrupted-output", onLeftover);
  try {
    const cell = start(client, 'const timerE = setInterval(() => console.log("still here"), 30);\nawait kernel.sleep(60000);', /still here/, "Cell 5");
    await cell.reached;
    assert.equal(await client.interrupt(5000), true);
    assert.equal((await cell.done).interrupted, true);
    const later = await run(client, "await kernel.sleep(300);\n'later'", "Cell 6");
    assert.equal(later.text, "later");
    assert.ok(leftover.length > 0 && leftover.every((l) => l.startsWith("Cell 5: ")), JSON.stringify(leftover.slice(0, 3)));
    await run(client, "clearInterval(timerE);");
  } finally {
    client.off("interrupted-output", onLeftover);
  }
});

test("a cell that blocks the event loop forever is reported, and a restart recovers", { timeout: 180_000 }, async () => {
  await withOwnKernel(async (own) => {
    await run(own, "const keptF = 'kept';");
    // A loop in code made at run time, not the cell's own: nothing can stop it but a restart.
    const cell = start(own, "setTimeout(() => { console.log('blocking'); new Function('while (true) {}')(); }, 0);\nawait kernel.sleep(60000);", /blocking/);
    await cell.reached;
    assert.equal(await own.interrupt(1500), false);
    const r = await cell.done;
    assert.equal(r.ok, false);
    assert.equal(r.error!.name, "KernelBusy");
    assert.equal(r.error!.message, KERNEL_NOT_RESPONDING);
    const refused = await run(own, "1");
    assert.equal(refused.error?.name, "KernelBusy", "a stuck kernel refuses new cells until restarted");
    const oldPid = own.pid;
    await own.restart();
    assert.notEqual(own.pid, oldPid);
    const fresh = await run(own, "keptF");
    assert.match(fresh.error?.message ?? "", /Cannot find name 'keptF'/, "a restart starts from a clean state");
    assert.equal((await run(own, "1 + 1")).text, "2");
  });
});

test("a kernel crash ends the running cell with an error that says so; the next run starts a fresh kernel", async () => {
  await withOwnKernel(async (own) => {
    await run(own, "const survivor = 1;");
    const r = await run(own, 'console.log("about to crash");\nawait kernel.sleep(50);\nprocess.exit(3);');
    assert.equal(r.ok, false);
    assert.equal(r.kernelLost, true);
    assert.equal(r.error!.name, "KernelCrashed");
    assert.match(r.error!.message, /stopped unexpectedly \(exit code 3\) while this cell was running/);
    assert.equal(r.text, "about to crash\n");
    const next = await run(own, "survivor");
    assert.match(next.error?.message ?? "", /Cannot find name 'survivor'/, "the fresh kernel has no old state");
    assert.equal((await run(own, "'fresh'")).text, "fresh");
  });
});

test("a kernel stops when its client process is gone, even while its cell spins (defect 12)", { timeout: 180_000 }, async () => {
  // A client in a process of its own that starts a kernel, runs `while (true) {}` and dies.
  const script = path.join(workdir, "dying-client.mts");
  writeFileSync(script, [
    `import { KernelClient } from ${JSON.stringify(path.resolve("extension/kernelClient.ts"))};`,
    `const client = new KernelClient({ kernelPath: ${JSON.stringify(kernelPath)}, cwd: ${JSON.stringify(workdir)} });`,
    "await client.start();",
    'void client.execute("await null;\\nwhile (true) {}", "Cell 1", { onStream() {}, onDisplay() {} });',
    "console.log(String(client.pid));",
    "setInterval(() => {}, 1000);",
  ].join("\n"));
  for (const how of ["SIGKILL", "SIGTERM"] as const) {
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: process.cwd(), stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
      child.once("exit", (code) => reject(new Error(`the client exited early (${code})`)));
    });
    assert.ok(pid > 0);
    await pause(500);
    assert.equal(isAlive(pid), true, "the kernel runs while its client lives");
    child.kill(how);
    await new Promise((r) => child.once("exit", r));
    const deadline = Date.now() + 30000;
    while (isAlive(pid) && Date.now() < deadline) await pause(200);
    const alive = isAlive(pid);
    if (alive) process.kill(pid, "SIGKILL");
    assert.equal(alive, false, `the kernel (pid ${pid}) outlived its client (${how})`);
  }
});

/** True while the process runs (a zombie left for its new parent to reap counts as gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return process.platform !== "linux";
  }
}

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
