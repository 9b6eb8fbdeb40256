/**
 * The variables view's data: the kernel's description of its variables (kernel/inspect.ts), the
 * inspect/variables messages and their checks, the view's text, and the real kernel process
 * (dist/kernel.js, `npm run build`) answering through KernelClient, during a running cell too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describeValue, describeVariables } from "../../kernel/inspect";
import { parseFromKernel, parseToKernel } from "../../protocol";
import { describeVariable, formatBytes } from "../../extension/variablesText";
import { KernelClient } from "../../extension/kernelClient";

test("tensors, models, arrays of tensors and plain values are described; hidden names are left out", () => {
  const x = tf.zeros([2, 3]);
  const gone = tf.ones([4], "int32");
  gone.dispose();
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] })] });
  class Point {
    constructor(readonly x = 1) {}
  }
  const locals: Record<string, unknown> = {
    display: () => undefined,
    n: 3,
    label: "happiness",
    x,
    gone,
    model,
    batch: [x, tf.scalar(1)],
    add: (a: number, b: number) => a + b,
    Point,
    p: new Point(),
    options: { epochs: 3, lr: 0.05 },
    nothing: null,
    tricky: Object.defineProperty({}, "boom", { enumerable: true, get: () => { throw new Error("getter ran"); } }),
  };
  const { variables, memory } = describeVariables(locals, ["display"], () => tf.memory());
  const by = Object.fromEntries(variables.map((v) => [v.name, v]));
  assert.deepEqual(variables.map((v) => v.name), ["n", "label", "x", "gone", "model", "batch", "add", "Point", "p", "options", "nothing", "tricky"]);
  assert.deepEqual({ type: by.n.type, preview: by.n.preview }, { type: "number", preview: "3" });
  assert.equal(by.label.preview, "'happiness'");
  assert.deepEqual(by.x.tensor, { shape: [2, 3], dtype: "float32", bytes: 24 });
  assert.equal(by.x.type, "Tensor2D");
  assert.deepEqual(by.gone.tensor, { shape: [4], dtype: "int32", bytes: 16, disposed: true });
  assert.deepEqual(by.model.model, { parameters: 16, layers: 1, bytes: 64 });
  assert.equal(by.model.type, "Sequential");
  assert.deepEqual(by.batch.tensors, { count: 2, bytes: 28 });
  assert.match(by.batch.preview, /^Array\(2\) \[Tensor float32 \[2, 3\], Tensor float32 \[\]\]$/);
  assert.deepEqual({ type: by.add.type, preview: by.add.preview }, { type: "function", preview: "add(2 parameters)" });
  assert.equal(by.Point.type, "class");
  assert.equal(by.p.type, "Point");
  assert.equal(by.options.preview, "{ epochs: 3, lr: 0.05 }");
  assert.equal(by.nothing.type, "null");
  assert.doesNotMatch(by.tricky.preview, /getter ran/);
  assert.ok(memory && memory.numTensors >= 3 && memory.numBytes >= 24 + 4 + 64);
  tf.dispose([x, ...(locals.batch as tf.Tensor[])]);
  model.dispose();
});

test("a value whose description throws is listed with the reason", () => {
  const hostile = new Proxy({}, { getPrototypeOf: () => { throw new Error("no prototype for you"); } });
  const v = describeValue("hostile", hostile);
  assert.equal(v.name, "hostile");
  assert.ok(typeof v.preview === "string");
});

test("inspect and variables messages are checked", () => {
  assert.deepEqual(parseToKernel({ type: "inspect", requestId: 7 }), { type: "inspect", requestId: 7 });
  assert.equal(parseToKernel({ type: "inspect" }), undefined);
  const ok = { type: "variables", requestId: 7, variables: [{ name: "x", type: "Tensor2D", preview: "float32 [2, 3]", tensor: { shape: [2, 3], dtype: "float32", bytes: 24 } }], memory: { numTensors: 1, numBytes: 24, numDataBuffers: 1 } };
  assert.deepEqual(parseFromKernel(ok), ok);
  assert.equal(parseFromKernel({ ...ok, variables: {} }), undefined);
  assert.equal(parseFromKernel({ ...ok, variables: [{ name: "x", type: "T", preview: "", tensor: { shape: ["2"], dtype: "float32", bytes: 1 } }] }), undefined);
  assert.equal(parseFromKernel({ ...ok, memory: { numTensors: "1" } }), undefined);
});

test("the view's text: bytes, tensors, models, values", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(589824), "576 KB");
  assert.equal(formatBytes(44.7 * 1024 * 1024), "44.7 MB");
  assert.equal(describeVariable({ name: "x", type: "Tensor4D", preview: "", tensor: { shape: [64, 48, 48, 1], dtype: "float32", bytes: 589824 } }), "Tensor4D float32 [64, 48, 48, 1] · 576 KB");
  assert.equal(describeVariable({ name: "m", type: "LayersModel", preview: "", model: { parameters: 11170247, layers: 60, bytes: 44680988 } }), "LayersModel · 11,170,247 parameters · 42.6 MB");
  assert.equal(describeVariable({ name: "n", type: "number", preview: "3" }), "number · 3");
});

test("the kernel process lists its variables with tensor shapes and tf.memory(), during a running cell too", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fernb-vars-"));
  const client = new KernelClient({ kernelPath: path.resolve("dist/kernel.js"), cwd: dir });
  const observer = { onStream: () => undefined, onDisplay: () => undefined };
  try {
    assert.equal(await client.inspect(), undefined, "no kernel, no answer (and none is started)");
    await client.start();
    const first = await client.execute(`import { tf } from "fernb";\nconst batch = tf.zeros([64, 48, 48, 1]);\nconst epochs = 3;\nfunction twice(a: number) { return 2 * a; }`, "Cell 1", observer);
    assert.equal(first.ok, true, JSON.stringify(first.error));
    const answer = await client.inspect();
    assert.ok(answer);
    const by = Object.fromEntries(answer.variables.map((v) => [v.name, v]));
    assert.deepEqual(by.batch?.tensor, { shape: [64, 48, 48, 1], dtype: "float32", bytes: 64 * 48 * 48 * 4 });
    assert.equal(by.epochs?.preview, "3");
    assert.equal(by.twice?.type, "function");
    assert.ok(!("display" in by) && !("kernel" in by), "the kernel's own globals are not listed");
    assert.ok(answer.memory && answer.memory.numTensors >= 1 && answer.memory.numBytes >= 64 * 48 * 48 * 4);

    // A long cell that awaits (as training does each batch): the kernel answers meanwhile.
    let finished = false;
    const running = client.execute(`let step = 0;\nfor (; step < 60; step++) await kernel.sleep(100);`, "Cell 2", observer).finally(() => (finished = true));
    const seen: string[] = [];
    while (!finished) {
      const during = await client.inspect();
      const step = during?.variables.find((v) => v.name === "step")?.preview;
      if (!finished) seen.push(step ?? "-");
      if (step !== undefined && Number(step) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(seen.some((s) => Number(s) > 0 && Number(s) < 60), `the loop's counter seen mid-run: ${seen.join(" ")}`);
    assert.equal((await running).ok, true);
  } finally {
    await client.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
