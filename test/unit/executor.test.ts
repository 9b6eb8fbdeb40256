import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CellExecutor } from "../../kernel/executor";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writePackage(dir: string, declarations: string, js: string): void {
  const pkg = path.join(dir, "node_modules", "churn");
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "churn", main: "index.js", types: "index.d.ts" }));
  fs.writeFileSync(path.join(pkg, "index.d.ts"), declarations);
  fs.writeFileSync(path.join(pkg, "index.js"), js);
}

test("a package reinstalled while the kernel runs raises no background error, and the next cell sees the new types", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-exec-"));
  const cwd = process.cwd();
  const uncaught: string[] = [];
  let executor: CellExecutor | undefined;
  const onUncaught = (e: unknown) => uncaught.push(e instanceof Error ? e.message : String(e));
  process.on("uncaughtException", onUncaught);
  try {
    writePackage(dir, "export declare const a: number;", "exports.a = 1;");
    process.chdir(dir);
    executor = new CellExecutor({ rootDir: dir, preludeDeclarations: "", preludeValues: {} });
    const first = await executor.execute(`import { a } from "churn"; a`, "cell 1");
    assert.equal(first.value, 1);
    // As `npm install` does: the package folder disappears and comes back, several times, with no cell run between.
    for (let i = 0; i < 3; i++) {
      fs.rmSync(path.join(dir, "node_modules"), { recursive: true });
      await sleep(250);
      writePackage(dir, "export declare const a: number;\nexport declare const b: string;", "exports.a = 1; exports.b = 'new';");
      await sleep(500);
    }
    // Type checking sees the new declaration (the module itself stays cached by Node, as in any REPL).
    const second = await executor.execute(`import { b } from "churn"; const s: string = b; typeof s`, "cell 2");
    assert.equal(second.ok, true, JSON.stringify(second.error));
    const third = await executor.execute(`import { c } from "churn"; c`, "cell 3");
    assert.equal(third.ok, false);
    assert.match(third.error?.message ?? "", /no exported member named 'c'|has no exported member 'c'/);
    assert.deepEqual(uncaught, []);
  } finally {
    executor?.close();
    process.off("uncaughtException", onUncaught);
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- interrupt (issue 16: loops after an await, async cells that kept running) ----------------

import { Worker } from "node:worker_threads";

function newExecutor(): CellExecutor {
  return new CellExecutor({ rootDir: process.cwd(), preludeDeclarations: "", preludeValues: {} });
}

/** Asks for the interrupt of `executionId` from another thread after `ms`, as the kernel's watchdog does. */
function interruptFromThread(executor: CellExecutor, executionId: number, ms: number): Worker {
  const worker = new Worker(
    `const { workerData } = require("node:worker_threads");
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms);
     Atomics.store(new Int32Array(workerData.buffer), 0, workerData.executionId);`,
    { eval: true, workerData: { buffer: executor.interruptRequests.buffer, executionId, ms } },
  );
  return worker;
}

test("a synchronous loop that follows an await is stopped by the interrupt, and the variables are kept", { timeout: 60000 }, async () => {
  const executor = newExecutor();
  try {
    assert.equal((await executor.execute("const before = 'kept';", "Cell 1", 1)).ok, true);
    const worker = interruptFromThread(executor, 2, 300);
    const r = await executor.execute("await new Promise((r) => setTimeout(r, 10));\nlet n = 0;\nwhile (true) { n++; }", "Cell 2", 2);
    await worker.terminate();
    assert.equal(r.ok, false);
    assert.equal(r.interrupted, true);
    assert.equal(r.error?.name, "Interrupted");
    assert.ok((executor.variables.n as number) > 0, "the loop ran before the interrupt");
    const after = await executor.execute("`${before} ${n > 0}`", "Cell 3", 3);
    assert.equal(after.value, "kept true");
    // The same with the loop in a function of the cell, a for-of, and a do-while without braces.
    for (const [k, body] of [
      "function spin() { let i = 0; for (;;) i++; }\nspin();",
      "for (const x of (function* () { while (true) yield 1; })()) { }",
      "let m = 0;\ndo m++; while (m > 0);",
    ].entries()) {
      const id = 10 + k;
      const w = interruptFromThread(executor, id, 200);
      const s = await executor.execute(`await null;\n${body}`, `Cell ${id}`, id);
      await w.terminate();
      assert.equal(s.interrupted, true, body);
    }
  } finally {
    executor.close();
  }
});

test("an interrupted async cell runs none of its statements afterwards; the kernel stays usable", { timeout: 60000 }, async () => {
  const executor = newExecutor();
  try {
    const running = executor.execute(
      "let ticks = 0;\nfor (let i = 0; i < 50; i++) {\n  await new Promise((r) => setTimeout(r, 20));\n  ticks++;\n}",
      "Cell 1",
      1,
    );
    await sleep(200);
    executor.interrupt(1);
    const r = await running;
    assert.equal(r.interrupted, true);
    const ticksAtInterrupt = executor.variables.ticks as number;
    assert.ok(ticksAtInterrupt > 0);
    await sleep(300);
    assert.equal(executor.variables.ticks, ticksAtInterrupt, "the interrupted loop did not go on");
    const next = await executor.execute("ticks + 1", "Cell 2", 2);
    assert.equal(next.value, ticksAtInterrupt + 1);
  } finally {
    executor.close();
  }
});

test("an awaited call that returns after the interrupt does not let the cell's next line run", { timeout: 60000 }, async () => {
  const executor = newExecutor();
  try {
    // Like train(): it notices the interrupt at its next batch and returns normally.
    const running = executor.execute(
      [
        "let nextLineRan = false;",
        "let caught = false;",
        "async function work() { for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 30)); return 1; }",
        "try { await work(); } catch (e) { caught = true; }",
        "nextLineRan = true;",
      ].join("\n"),
      "Cell 1",
      1,
    );
    await sleep(150);
    executor.interrupt(1);
    assert.equal((await running).interrupted, true);
    await sleep(800);
    assert.equal(executor.variables.nextLineRan, false);
    assert.equal(executor.variables.caught, false, "a catch block of the cell does not swallow the interrupt");
  } finally {
    executor.close();
  }
});

test("functions of an interrupted cell still work in later cells; an interrupt for an older cell is ignored", { timeout: 60000 }, async () => {
  const executor = newExecutor();
  try {
    const running = executor.execute(
      "function total(k: number) { let s = 0; for (let i = 0; i < k; i++) s += i; return s; }\nasync function later() { await null; return total(4); }\nawait new Promise(() => {});",
      "Cell 1",
      1,
    );
    await sleep(50);
    executor.interrupt(1);
    assert.equal((await running).interrupted, true);
    const worker = interruptFromThread(executor, 1, 0);
    await new Promise((r) => worker.once("exit", r));
    const r = await executor.execute("let s = 0;\nfor (let i = 0; i < 3; i++) s += total(1000);\ns + (await later())", "Cell 2", 2);
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal(r.value, 3 * 499500 + 6);
    let caught = "";
    const a = executor.execute("await null;\nfor await (const x of (async function* () { while (true) { yield 1; await new Promise(() => {}); } })()) { }", "Cell 3", 3);
    await sleep(50);
    executor.interrupt(3);
    const outcome = await a;
    caught = outcome.error?.name ?? "";
    assert.equal(caught, "Interrupted");
  } finally {
    executor.close();
  }
});

test("instrumented cells keep their meaning: labels, loops without braces, for-await, static blocks, await in templates and last expressions", { timeout: 60000 }, async () => {
  const executor = newExecutor();
  try {
    const cases: [string, unknown][] = [
      ["let s = 0;\nouter: for (let i = 0; i < 5; i++) { for (let j = 0; j < 5; j++) { if (j > i) continue outer; s += j; } }\ns", 20],
      ["let k = 3;\ndo k--\nwhile (k > 0)\nk + 10", 10],
      ["async function* gen() { for (let i = 0; i < 3; i++) { await null; yield i; } }\nlet t = 0;\nfor await (const v of gen()) t += v;\nt + 10", 13],
      ["class A { static n = 0; static { for (let i = 0; i < 4; i++) A.n += i; } }\nA.n", 6],
      ["const tpl = `${await Promise.resolve(2)}-${[1, 2, 3].map((x) => x * 2).join(',')}`;\ntpl", "2-2,4,6"],
      ["let f = 0;\ntry { for (;;) { f++; if (f > 3) throw new Error('x'); } } catch (e) { f += 100; } finally { f += 1000; }\nf", 1104],
      ["if (true) for (let i = 0; i < 2; i++) ; else while (false);\n'ok'", "ok"],
      ["let w = 0;\nwhile (w < 3) w++\nw + 10", 13],
      ["for (const key in { a: 1 }) key;\nawait (async () => { let q = 0; while (q < 10) q = await Promise.resolve(q + 1); return q; })()", 10],
    ];
    for (const [code, expected] of cases) {
      const r = await executor.execute(code, "Cell 1");
      assert.equal(r.ok, true, `${code}: ${JSON.stringify(r.error)}`);
      assert.deepEqual(r.value, expected, code);
    }
  } finally {
    executor.close();
  }
});
