/**
 * The kernel process (dist/kernel.js, built by `npm test`) given malformed IPC messages, as a
 * sender that skipped the bridge could send them: too deep, circular, BigInt, unknown types. It
 * answers renderer messages with an error, ignores the rest with a log line, and keeps working
 * (issue #16, defect 13, kernel side).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KernelClient } from "../../extension/kernelClient";

const kernelPath = path.resolve("dist/kernel.js");
let child: ChildProcess | undefined;

after(() => {
  child?.kill();
});

function deep(depth: number): unknown {
  let v: unknown = { requestId: 1 };
  for (let i = 0; i < depth; i++) v = { action: "relabel", requestId: 42, reviewId: "r", nested: v };
  return v;
}

test("malformed messages to the kernel: renderer messages answered with an error, others ignored, the kernel keeps working", { timeout: 120_000 }, async () => {
  let stderr = "";
  const messages: Record<string, unknown>[] = [];
  const waiters: { match: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  child = fork(kernelPath, [], { cwd: mkdtempSync(path.join(tmpdir(), "fernb-kmsg-")), execArgv: [], serialization: "advanced", stdio: ["ignore", "pipe", "pipe", "ipc"] });
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.on("message", (m: Record<string, unknown>) => {
    messages.push(m);
    for (const w of [...waiters]) if (w.match(m)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const next = (match: (m: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = messages.find(match);
      if (found) return resolve(found);
      waiters.push({ match, resolve });
      child!.once("exit", (code) => reject(new Error(`the kernel exited (${code}): ${stderr.slice(-2000)}`)));
    });
  await next((m) => m.type === "ready");

  // Not messages the kernel knows, some that cannot even be printed: ignored, with a log line.
  const circular: Record<string, unknown> = { type: "bogus" };
  circular.self = circular;
  for (const m of [{ type: "bogus", big: 10n }, circular, deep(300), { type: "renderer-message", rendererId: "../x", message: 1 }, null, "text"]) child.send(m as never);

  // A renderer message too deep: an error reply that carries its requestId.
  child.send({ type: "renderer-message", rendererId: "fernb-review", message: deep(300) } as never);
  const refused = await next((m) => m.type === "renderer-reply");
  const reply = refused.message as { ok: boolean; requestId?: number; error: string };
  assert.equal(reply.ok, false);
  assert.equal(reply.requestId, 42);
  assert.match(reply.error, /refused: the message is nested more than 32 levels deep/);

  // Still working: an ordinary renderer message gets the handler's answer, a cell runs.
  child.send({ type: "renderer-message", rendererId: "fernb-review", message: { action: "undo", reviewId: "none", requestId: 7 } } as never);
  const answered = await next((m) => m.type === "renderer-reply" && (m.message as { requestId?: number }).requestId === 7);
  assert.equal((answered.message as { ok: boolean }).ok, false, "no review is open");
  child.send({ type: "execute", executionId: 1, code: "1 + 1", cellLabel: "Cell 1" } as never);
  const result = await next((m) => m.type === "result" && m.executionId === 1);
  assert.equal(result.ok, true, JSON.stringify(result));
  const logged = messages.filter((m) => m.type === "stream").map((m) => String(m.text)).join("");
  assert.equal((logged.match(/ignored a malformed message/g) ?? []).length, 6, logged);
  assert.equal(child.exitCode, null, "the kernel is still running");
});

test("a cell that sends the client malformed messages (process.send: BigInt, circular, deep) cannot crash it: logged, and the next cell runs", { timeout: 120_000 }, async () => {
  const client = new KernelClient({ kernelPath, cwd: mkdtempSync(path.join(tmpdir(), "fernb-kmsg-client-")) });
  const logs: string[] = [];
  client.on("log", (text: string) => logs.push(text));
  try {
    await client.start();
    const streamed: string[] = [];
    const cell = [
      "const c: any = { type: 'zzz' }; c.self = c;",
      "let d: any = 1; for (let i = 0; i < 300; i++) d = { type: 'zzz', d };",
      "(process as any).send({ type: 'zzz', big: 10n }); (process as any).send(c); (process as any).send(d);",
      "await kernel.sleep(200);",
      "console.log('after');",
    ].join("\n");
    const first = await client.execute(cell, "Cell 1", { onStream: (_n, t) => streamed.push(t), onDisplay: () => undefined });
    assert.equal(first.ok, true, JSON.stringify(first.error));
    const second = await client.execute("console.log('second cell')", "Cell 2", { onStream: (_n, t) => streamed.push(t), onDisplay: () => undefined });
    assert.equal(second.ok, true);
    assert.match(streamed.join(""), /after\n[^]*second cell/);
    const ignored = logs.filter((l) => /ignored a malformed message from the kernel/.test(l));
    assert.equal(ignored.length, 3, logs.join(""));
  } finally {
    await client.stop();
  }
});
