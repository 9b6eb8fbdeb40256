/**
 * A full-size ResNet-18 (48×48, ImageNet stem, seeded weights saved by the test) through the bundled
 * CLI — the same bundle as the notebook kernel (dist/, `import("webgpu")` from CommonJS) —
 * on WebGPU against cpu: `fernb predict --backend webgpu|cpu`.
 *
 * Run: npm run test:webgpu (builds dist/ first).
 */
import { test, before } from "node:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { createResNet18 } from "../../kernel/fer/resnet";
import { saveModel } from "../../kernel/fer/modelIO";
import { EMOTIONS } from "../../kernel/fer/labels";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = path.join(__dirname, "..", "..");
const FACES = path.join(ROOT, "notebooks", "data", "sample", "val", "angry");
const MODEL = path.join(mkdtempSync(path.join(tmpdir(), "fernb-webgpu-cli-")), "resnet18");

before(async () => {
  await tf.setBackend("cpu");
  const model = createResNet18({ seed: 11 });
  await saveModel(model, MODEL, { name: "resnet18-test", classes: [...EMOTIONS], input: { height: 48, width: 48, channels: 1, mean: 0.5, std: 0.25 }, architecture: {} });
});

interface Output {
  predictions: { path: string; top: string; probabilities: Record<string, number> }[];
  failures: unknown[];
}

async function predict(backend: string): Promise<Output> {
  const env = { ...process.env };
  delete env.FERNB_BACKEND;
  const { stdout } = await run(process.execPath, [path.join(ROOT, "bin", "fernb.js"), "predict", "--model", MODEL, "--backend", backend, "--json", FACES], {
    cwd: ROOT,
    env,
    timeout: 120_000,
    maxBuffer: 16 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!) as Output;
}

test("fernb predict: ResNet-18 on WebGPU matches cpu", { skip: existsSync(path.join(ROOT, "dist", "cli.js")) ? false : "dist/ is not built (npm run build)" }, async () => {
  const [gpu, cpu] = await Promise.all([predict("webgpu"), predict("cpu")]);
  assert.equal(gpu.failures.length, 0);
  assert.ok(cpu.predictions.length >= 10, `${cpu.predictions.length} faces`);
  assert.deepEqual(gpu.predictions.map((p) => p.path), cpu.predictions.map((p) => p.path));
  let maxDiff = 0;
  cpu.predictions.forEach((c, i) => {
    for (const [k, v] of Object.entries(c.probabilities)) maxDiff = Math.max(maxDiff, Math.abs(gpu.predictions[i].probabilities[k] - v));
  });
  assert.ok(maxDiff < 1e-4, `max |probability difference| ${maxDiff}`);
  assert.deepEqual(gpu.predictions.map((p) => p.top), cpu.predictions.map((p) => p.top));
});
