/**
 * fernb on the WebGPU backend (Dawn) against the cpu backend, on small cases: forward pass and
 * prediction, loss and gradients, training steps (SGD, AdamW), one epoch of `train`, evaluation,
 * Grad-CAM / Grad-CAM++ and `predictFiles`. Each runs the same model (same weights, same data)
 * on both backends in one process and compares the numbers within float32 tolerance.
 *
 * Run: npm run test:webgpu (Mesa's software Vulkan driver, FERNB_BACKEND=webgpu), after
 * `bash test/webgpu/setup-mesa.sh`. A hardware GPU works too: FERNB_BACKEND=webgpu node --import
 * tsx --test test/webgpu/*.test.ts
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendInfo } from "../../kernel/fer/backend";
import { classActivationMaps } from "../../kernel/fer/cam/index";
import { FaceDataset } from "../../kernel/fer/dataset";
import { evaluate } from "../../kernel/fer/evaluate";
import { encodePng } from "../../kernel/fer/images";
import { EMOTIONS } from "../../kernel/fer/labels";
import type { ModelCard } from "../../kernel/fer/modelIO";
import { predictFiles } from "../../kernel/fer/predict";
import { createResNet18, logitsModel, type ResNetConfig } from "../../kernel/fer/resnet";
import { createTrainingStep, train, type TrainOptions } from "../../kernel/fer/train";
import { SyntheticFaces } from "../helpers/syntheticFaces";
import { assertClose, rand } from "../helpers/numeric";

/** The tiny ResNet: 12×12×1, 3×3 stem without pooling, one block per stage, widths 4-8-8-8. */
const TINY: Partial<ResNetConfig> = { height: 12, width: 12, channels: 1, stem: "cifar", widths: [4, 8, 8, 8], blocks: [1, 1, 1, 1], seed: 7 };
const GPU = "webgpu";



interface Weights {
  values: Float32Array;
  shape: number[];
}

function snapshot(model: tf.LayersModel): Weights[] {
  return model.getWeights().map((w) => ({ values: Float32Array.from(w.dataSync() as Float32Array), shape: w.shape }));
}

/** The tiny ResNet on the current backend, with the given weights. */
function tinyModel(weights: Weights[]): tf.LayersModel {
  const model = createResNet18(TINY);
  const tensors = weights.map((w) => tf.tensor(w.values, w.shape));
  model.setWeights(tensors);
  tf.dispose(tensors);
  return model;
}

/** Runs `f` with `backend` active and returns what it gives. */
async function on<T>(backend: string, f: () => Promise<T> | T): Promise<T> {
  assert.ok(await tf.setBackend(backend), `setBackend(${backend})`);
  return await f();
}

/** Runs `f` on cpu and on webgpu (cpu first) and returns both results. */
async function both<T>(f: () => Promise<T> | T): Promise<{ cpu: T; gpu: T }> {
  const cpu = await on("cpu", f);
  const gpu = await on(GPU, f);
  return { cpu, gpu };
}

let info: BackendInfo;
let initial: Weights[];
let trained: Weights[];
const x = () => tf.tensor4d(rand(4 * 12 * 12, 11), [4, 12, 12, 1]);
const y = () => tf.tensor1d([0, 3, 5, 6], "int32");
const worst: Record<string, number> = {};

before(async () => {
  // FERNB_BACKEND=webgpu (set by test/webgpu/run.sh) forces the rung, software adapter included.
  info = await initBackend(process.env.FERNB_BACKEND === "webgpu" ? undefined : "webgpu");
  await tf.setBackend("cpu");
  const model = createResNet18(TINY);
  initial = snapshot(model);
  model.dispose();
});

after(() => {
  console.log(`[webgpu] adapter: ${info.description}`);
  console.log(`[webgpu] worst relative differences vs cpu: ${JSON.stringify(worst)}`);
});

describe("WebGPU backend vs cpu", () => {
  test("the webgpu rung is active, on the adapter it names", () => {
    assert.equal(info.choice, "webgpu");
    assert.equal(info.tfBackend, "webgpu");
    assert.ok(info.adapter, "BackendInfo.adapter");
    assert.match(info.description, /^WebGPU \(Dawn\) on /);
    for (const field of ["vendor", "architecture", "device"] as const) {
      if (info.adapter[field]) assert.ok(info.description.includes(info.adapter[field]), `description names the ${field}`);
    }
    if (info.adapter.software) assert.match(info.description, /software adapter/);
  });

  test("forward pass (model.predict) matches", async () => {
    const r = await both(() => {
      const model = tinyModel(initial);
      const p = tf.tidy(() => model.predict(x()) as tf.Tensor);
      const values = Float32Array.from(p.dataSync() as Float32Array);
      p.dispose();
      model.dispose();
      return values;
    });
    worst.predict = assertClose(r.gpu, r.cpu, "probabilities", 1e-4);
  });

  test("loss and gradients (training mode, batch norm) match", async () => {
    const r = await both(() => {
      const model = tinyModel(initial);
      const logits = logitsModel(model);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => {
        const out = logits.apply(x(), { training: true }) as tf.Tensor;
        return tf.losses.softmaxCrossEntropy(tf.oneHot(y(), EMOTIONS.length), out) as tf.Scalar;
      }, vars);
      const loss = value.dataSync()[0];
      const g = vars.map((v) => ({ name: v.name, values: Float32Array.from(grads[v.name].dataSync() as Float32Array) }));
      tf.dispose([value, ...Object.values(grads)]);
      model.dispose();
      return { loss, g };
    });
    assert.ok(Number.isFinite(r.cpu.loss));
    worst.loss = assertClose([r.gpu.loss], [r.cpu.loss], "loss", 1e-5);
    assert.equal(r.gpu.g.length, r.cpu.g.length);
    let w = 0;
    r.cpu.g.forEach((e, i) => {
      w = Math.max(w, assertClose(r.gpu.g[i].values, e.values, `gradient of ${e.name}`, 1e-3));
    });
    worst.gradients = w;
  });

  for (const optimizer of ["sgd", "adamw"] as const) {
    test(`two training steps (createTrainingStep, ${optimizer}) match`, async () => {
      const r = await both(async () => {
        const model = tinyModel(initial);
        const { step } = createTrainingStep(model, { optimizer, labelSmoothing: 0.1, classBalance: "none", weightDecay: 5e-4 });
        const xs = x();
        const ys = y();
        const steps = [await step(xs, ys, 0.05), await step(xs, ys, 0.05)];
        tf.dispose([xs, ys]);
        const weights = snapshot(model);
        model.dispose();
        return { steps, weights };
      });
      r.cpu.steps.forEach((s, i) => {
        worst[`${optimizer}_loss`] = assertClose([r.gpu.steps[i].loss], [s.loss], `step ${i + 1} loss`, 1e-4);
        assert.equal(r.gpu.steps[i].correct, s.correct, `step ${i + 1} correct count`);
      });
      // AdamW divides by sqrt(v): gradients near zero that differ in the last bits move weights
      // by up to a fraction of the learning rate, so it gets a looser bound than SGD.
      const tol = optimizer === "adamw" ? 5e-3 : 1e-3;
      let w = 0;
      r.cpu.weights.forEach((e, i) => (w = Math.max(w, assertClose(r.gpu.weights[i].values, e.values, `weight ${i} after 2 steps`, tol))));
      worst[`${optimizer}_weights`] = w;
      if (optimizer === "sgd") trained = r.cpu.weights;
    });
  }

  test("one epoch of train() (shuffling, class-weighted loss, validation) matches", async () => {
    const data = new SyntheticFaces(16, 12, 12, 1, 3);
    const val = new SyntheticFaces(7, 12, 12, 1, 4);
    const options: Partial<TrainOptions> = { epochs: 1, batchSize: 8, optimizer: "sgd", learningRate: 0.05, warmupEpochs: 0, classBalance: "loss", progress: "silent", restoreBest: false, seed: 5 };
    const r = await both(async () => {
      const model = tinyModel(initial);
      const result = await train(model, data, val, options);
      const weights = snapshot(model);
      model.dispose();
      return { history: result.history[0], backend: result.backend, weights };
    });
    assert.equal(r.gpu.backend, "webgpu");
    worst.train_loss = assertClose([r.gpu.history.trainLoss], [r.cpu.history.trainLoss], "epoch train loss", 1e-4);
    assertClose([r.gpu.history.valLoss!], [r.cpu.history.valLoss!], "epoch validation loss", 1e-4);
    assert.equal(r.gpu.history.trainAccuracy, r.cpu.history.trainAccuracy);
    assert.equal(r.gpu.history.valAccuracy, r.cpu.history.valAccuracy);
    let w = 0;
    r.cpu.weights.forEach((e, i) => (w = Math.max(w, assertClose(r.gpu.weights[i].values, e.values, `weight ${i} after an epoch`, 1e-3))));
    worst.train_weights = w;
  });

  test("evaluate() (with flip TTA) matches", async () => {
    const s = new SyntheticFaces(14, 12, 12, 1, 9);
    const dataset = new FaceDataset({ root: "synthetic", height: 12, width: 12, channels: 1, images: s.images, labels: s.labels, paths: Array.from({ length: s.size }, (_, i) => `${EMOTIONS[s.labels[i]]}/face${i}.png`) });
    const r = await both(async () => {
      const model = tinyModel(trained);
      const e = await evaluate(model, dataset, { normalization: { mean: 0.3, std: 0.25 }, tta: ["flip"], progress: false, batchSize: 8 });
      model.dispose();
      return e;
    });
    worst.evaluate = assertClose(r.gpu.predictions.flatMap((p) => p.probs), r.cpu.predictions.flatMap((p) => p.probs), "probabilities", 1e-4);
    assert.deepEqual(r.gpu.predictions.map((p) => p.predicted), r.cpu.predictions.map((p) => p.predicted));
    assert.equal(r.gpu.metrics.accuracy, r.cpu.metrics.accuracy);
    assert.equal(r.gpu.tta.flip!.accuracy, r.cpu.tta.flip!.accuracy);
  });

  for (const method of ["Grad-CAM", "Grad-CAM++"] as const) {
    test(`classActivationMaps (${method}) matches`, async () => {
      for (const layer of ["layer3_0_out", "layer4_0_out"]) {
        const r = await both(() => {
          const model = tinyModel(trained);
          const xs = x();
          const maps = classActivationMaps(model, xs, [0, 3, 5, 6], { method, layer });
          xs.dispose();
          model.dispose();
          return maps;
        });
        assert.equal(r.gpu.length, 4);
        // Maps are normalised to [0,1] per image: compare absolutely.
        r.cpu.forEach((m, i) => (worst[`cam_${method}_${layer}`] = Math.max(worst[`cam_${method}_${layer}`] ?? 0, assertClose(r.gpu[i], m, `${method} map ${i} on ${layer}`, 2e-3, 1))));
      }
    });
  }

  test("predictFiles (decode, normalise, classify image files) matches", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "fernb-webgpu-"));
    try {
      const s = new SyntheticFaces(5, 20, 16, 1, 13); // another size: predictFiles resizes to 12×12
      const files: string[] = [];
      for (let i = 0; i < s.size; i++) {
        const file = path.join(dir, `face${i}.png`);
        await writeFile(file, await encodePng(s.image(i), 20, 16, 1));
        files.push(file);
      }
      const card = { input: { height: 12, width: 12, channels: 1, mean: 0.3, std: 0.25 } } as ModelCard;
      const r = await both(async () => {
        const model = tinyModel(trained);
        const out = await predictFiles(model, card, files, 4);
        model.dispose();
        return out;
      });
      assert.equal(r.gpu.failures.length, 0);
      assert.deepEqual(r.gpu.predictions.map((p) => p.top), r.cpu.predictions.map((p) => p.top));
      worst.predictFiles = assertClose(
        r.gpu.predictions.flatMap((p) => Object.values(p.probabilities)),
        r.cpu.predictions.flatMap((p) => Object.values(p.probabilities)),
        "probabilities",
        1e-4,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
