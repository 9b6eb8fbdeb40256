/**
 * Kernel state you can see (issue #21): the status bar's words (state, backend, memory, the
 * fast-path warning), the note on the first error that names a variable from before a restart,
 * and, on the real kernel process (dist/kernel.js, built by `npm test`), the client's states, the
 * kernel's memory, the restart note and the cell names errors use.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { explainRestart, KernelClient, type KernelState } from "../../extension/kernelClient";
import { describeKernelStatus, fastPathNotice } from "../../extension/kernelStatus";

const at = new Date(2026, 10, 29, 8, 12, 30);

test("explainRestart: a type error naming a variable from before the restart says the kernel was restarted, with the time", () => {
  const error = { name: "TypeScript", message: "Cannot find name 'limit'. (line 1)", stack: "Cell [1]:1:13 - error TS2304: Cannot find name 'limit'." };
  const explained = explainRestart(error, { at, names: ["limit", "d"] });
  assert.ok(explained);
  assert.equal(explained.name, "TypeScript");
  assert.ok(explained.message.startsWith("Cannot find name 'limit'. (line 1)\n"), explained.message);
  assert.match(explained.message, /'limit' was declared before the FER Kernel was restarted at 08:12, so variables from before are gone: run the cells above again\./);
  assert.ok(explained.stack.startsWith(`${error.stack}\n'limit' was declared before the FER Kernel was restarted at 08:12`), "the note is in the stack too (VS Code shows the stack)");
});

test("explainRestart: a run-time ReferenceError, and the first of several type errors in the stack", () => {
  const reference = explainRestart({ name: "ReferenceError", message: "model is not defined", stack: "ReferenceError: model is not defined\n    at Cell [2]:3" }, { at, names: ["model"] });
  assert.match(reference?.message ?? "", /'model' was declared before the FER Kernel was restarted at 08:12/);
  const several = explainRestart(
    { name: "TypeScript", message: "2 type errors; first: Type 'string' is not assignable to type 'number'. (line 1)", stack: "Cell [3]:1:7 - error TS2322: …\nCell [3]:2:1 - error TS2304: Cannot find name 'valSet'." },
    { at, names: ["valSet"] },
  );
  assert.match(several?.message ?? "", /'valSet' was declared before/);
});

test("explainRestart: errors about names the old kernel did not have are left alone", () => {
  assert.equal(explainRestart({ name: "TypeScript", message: "Cannot find name 'typo'. (line 1)", stack: "" }, { at, names: ["limit"] }), undefined);
  assert.equal(explainRestart({ name: "Error", message: "limit exceeded", stack: "" }, { at, names: ["limit"] }), undefined);
  assert.equal(explainRestart({ name: "ReferenceError", message: "limitless is not defined", stack: "" }, { at, names: ["limit"] }), undefined);
});

test("status bar: each state in the text; backend and memory in the tooltip", () => {
  const notStarted = describeKernelStatus({ state: "not started" });
  assert.equal(notStarted.text, "$(circle-outline) FER: not started");
  assert.match(notStarted.tooltip, /starts when you run a cell/);
  assert.doesNotMatch(notStarted.tooltip, /Memory/);
  assert.equal(describeKernelStatus({ state: "starting", pid: 42 }).text, "$(loading~spin) FER: starting");
  const backend = "wasm: WebAssembly (SIMD, 2 threads), native kernels (OpenBLAS)";
  const idle = describeKernelStatus({ state: "idle", backend, pid: 42, rssBytes: 512 * 1024 * 1024 });
  assert.equal(idle.text, "$(circle-outline) FER: idle");
  assert.match(idle.tooltip, /Backend: wasm: WebAssembly \(SIMD, 2 threads\), native kernels \(OpenBLAS\)/);
  assert.match(idle.tooltip, /Memory: 512 MB \(resident, kernel process 42\)/);
  assert.match(idle.tooltip, /restart, interrupt and the kernel's log/);
  assert.equal(idle.warning, false);
  assert.equal(describeKernelStatus({ state: "busy", backend, pid: 42, rssBytes: 2.5 * 1024 ** 3 }).text, "$(circle-filled) FER: busy");
  assert.match(describeKernelStatus({ state: "busy", backend, pid: 42, rssBytes: 2.5 * 1024 ** 3 }).tooltip, /Memory: 2\.50 GB/);
  const dead = describeKernelStatus({ state: "dead", crash: "killed by SIGKILL" });
  assert.equal(dead.text, "$(error) FER: dead");
  assert.match(dead.tooltip, /killed by SIGKILL.*next run starts a fresh kernel/);
  assert.match(describeKernelStatus({ state: "not responding", pid: 1 }).tooltip, /restart the kernel/);
});

test("status bar: a backend without its fast path shows a warning icon and the notice in the tooltip", () => {
  const backend =
    "wasm: WebAssembly (SIMD, 2 threads) — fast path missing: native kernels not built; training is about 3× slower. Install it with: bash kernel/fer/backends/native/setup.sh && npm run build";
  assert.equal(fastPathNotice(backend), "fast path missing: native kernels not built; training is about 3× slower. Install it with: bash kernel/fer/backends/native/setup.sh && npm run build");
  const view = describeKernelStatus({ state: "idle", backend, pid: 7, rssBytes: 300 * 1024 * 1024 });
  assert.equal(view.text, "$(warning) FER: idle");
  assert.equal(view.warning, true);
  assert.match(view.tooltip, /Backend: wasm: WebAssembly \(SIMD, 2 threads\)\n/);
  assert.match(view.tooltip, /⚠ Fast path missing: native kernels not built; training is about 3× slower\. Install it with: /);
  assert.equal(fastPathNotice("wasm: WebAssembly (SIMD, 2 threads)"), undefined);
});

test("the real kernel: states, memory, cell names in errors, and the restart note on the first error only", { timeout: 120_000 }, async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), "fernb-status-test-"));
  const client = new KernelClient({ kernelPath: path.resolve("dist/kernel.js"), cwd });
  const states: KernelState[] = [];
  client.on("state", (s: KernelState) => states.push(s));
  const quiet = { onStream: () => undefined, onDisplay: () => undefined };
  try {
    assert.equal(client.state, "not started");
    await client.start();
    assert.equal(client.state, "idle");
    assert.deepEqual(states, ["starting", "idle"]);

    // Busy while a cell runs, idle after.
    let seenWhileRunning: KernelState | undefined;
    const first = await client.execute("const limit = 3;\nawait new Promise((r) => setTimeout(r, 200));", "Cell [1]", {
      onStream: () => undefined,
      onDisplay: () => undefined,
    });
    assert.equal(first.ok, true);
    assert.deepEqual(states.slice(2), ["busy", "idle"]);
    const running = client.execute("await new Promise((r) => setTimeout(r, 300)); console.log('x')", "Cell [2]", {
      onStream: () => {
        seenWhileRunning = client.state;
      },
      onDisplay: () => undefined,
    });
    await running;
    assert.equal(seenWhileRunning, "busy");
    assert.equal(client.state, "idle");

    // Memory: the kernel process's resident set, from /proc or from the kernel itself.
    const rss = await client.memory();
    assert.ok(rss !== undefined && rss > 20 * 1024 * 1024, `kernel RSS ${rss}`);
    const answer = await client.inspect();
    assert.ok(answer?.process && answer.process.rss > 20 * 1024 * 1024 && answer.process.heapUsed > 0, JSON.stringify(answer?.process));

    // Errors name the cell as the label given (the extension passes the execution order "[n]").
    const typeError = await client.execute("const s: string = 1;", "Cell [3]", quiet);
    assert.match(typeError.error!.stack, /^Cell \[3\]:1:7 - error TS2322/);

    await client.restart();
    assert.equal(client.state, "idle");
    assert.deepEqual(client.lastRestart?.names.includes("limit"), true);
    const after = await client.execute("limit + 1", "Cell [1]", quiet);
    assert.equal(after.ok, false);
    assert.match(after.error!.message, /Cannot find name 'limit'/);
    assert.match(after.error!.message, /'limit' was declared before the FER Kernel was restarted at \d\d:\d\d, so variables from before are gone: run the cells above again\./);
    const again = await client.execute("limit + 2", "Cell [2]", quiet);
    assert.equal(again.ok, false);
    assert.doesNotMatch(again.error!.message, /restarted/, "only the first such error carries the note");

    // A crash: the state is dead, with how the process ended.
    process.kill(client.pid!, "SIGKILL");
    await new Promise<void>((resolve) => client.once("exit", () => resolve()));
    assert.equal(client.state, "dead");
    assert.equal(client.crashDescription, "killed by SIGKILL");
    assert.equal(states[states.length - 1], "dead");
  } finally {
    await client.stop();
    rmSync(cwd, { recursive: true, force: true });
  }
});
