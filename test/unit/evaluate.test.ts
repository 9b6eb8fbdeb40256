import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { calibration, evaluate, metricsFromProbabilities } from "../../kernel/fer/evaluate";
import { basicMetrics } from "../../kernel/fer/metrics";
import { FaceDataset } from "../../kernel/fer/dataset";
import { train } from "../../kernel/fer/train";
import { explain, classActivationMaps } from "../../kernel/fer/cam/index";
import { EMOTIONS } from "../../kernel/fer/labels";
import { DISPLAY } from "../../kernel/display";
import { SyntheticFaces } from "../helpers/syntheticFaces";
import { initBackend } from "../../kernel/fer/backend";

before(async () => {
  // The training part runs on the best backend here (wasm, with fernb's kernels); cpu is 10× slower.
  await initBackend();
});

test("metrics match a hand-computed case", () => {
  // truth:     0 0 0 1 1 2
  // predicted: 0 0 1 1 2 2
  const m = basicMetrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], 3);
  assert.deepEqual(m.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
  assert.equal(m.accuracy, 4 / 6);
  // class 0: p=2/2 r=2/3 f1=0.8; class 1: p=1/2 r=1/2 f1=0.5; class 2: p=1/2 r=1 f1=2/3
  assert.ok(Math.abs(m.perClass[0].f1 - 0.8) < 1e-12);
  assert.ok(Math.abs(m.perClass[1].f1 - 0.5) < 1e-12);
  assert.ok(Math.abs(m.perClass[2].f1 - 2 / 3) < 1e-12);
  assert.ok(Math.abs(m.macroF1 - (0.8 + 0.5 + 2 / 3) / 3) < 1e-12);
  assert.ok(Math.abs(m.weightedF1 - (0.8 * 3 + 0.5 * 2 + (2 / 3) * 1) / 6) < 1e-12);
  assert.deepEqual(m.perClass.map((c) => c.support), [3, 2, 1]);
});

test("expected calibration error on a known case", () => {
  // Bin [0.9,1.0): 4 predictions at 0.95 confidence, 2 right → |0.5-0.95| weighted 4/5.
  // Bin [0.6,0.7): 1 prediction at 0.65, right → |1-0.65| weighted 1/5.
  const { ece, reliability } = calibration([0.95, 0.95, 0.95, 0.95, 0.65], [1, 1, 0, 0, 2], [1, 1, 1, 1, 2], 10);
  assert.ok(Math.abs(ece - ((4 / 5) * 0.45 + (1 / 5) * 0.35)) < 1e-12, `ece ${ece}`);
  assert.equal(reliability[9].count, 4);
  assert.equal(reliability[9].accuracy, 0.5);
  assert.equal(reliability[6].count, 1);
});

test("metricsFromProbabilities: confusion, row-normalised rows, most-confused pairs", () => {
  const classes = ["a", "b", "c"];
  const probs = Float32Array.from([0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.1, 0.6, 0.3, 0.1, 0.8, 0.1]);
  const m = metricsFromProbabilities(probs, [0, 1, 2, 2], classes);
  assert.deepEqual(m.confusion, [[1, 0, 0], [0, 1, 0], [0, 2, 0]]);
  assert.deepEqual(m.confusionNormalized[2], [0, 1, 0]);
  assert.deepEqual(m.mostConfused[0], { true: "c", predicted: "b", count: 2, rate: 1 });
});

function toDataset(s: SyntheticFaces): FaceDataset {
  return new FaceDataset({ root: "synthetic", height: s.height, width: s.width, channels: 1, images: s.images, labels: s.labels, paths: Array.from({ length: s.size }, (_, i) => `${EMOTIONS[s.labels[i]]}/face${i}.png`) });
}

function tinyCnn(): tf.LayersModel {
  const input = tf.input({ shape: [15, 15, 1] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: "same", activation: "relu", kernelInitializer: tf.initializers.heNormal({ seed: 1 }), name: "conv1" }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: "same", activation: "relu", kernelInitializer: tf.initializers.heNormal({ seed: 2 }), name: "features" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: "avgpool" }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 7, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), name: "fc" }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.activation({ activation: "softmax", name: "probs" }).apply(logits) as tf.SymbolicTensor });
}

test("evaluate + Grad-CAM on a model whose answer is known: the class is where the bright square is, and the map lights it", async () => {
  const trainSet = toDataset(new SyntheticFaces(210, 15, 15, 1, 1));
  const testSet = toDataset(new SyntheticFaces(42, 15, 15, 1, 2));
  const model = tinyCnn();
  const norm = { mean: 0.3, std: 0.3 };
  await train(model, trainSet, undefined, { epochs: 12, batchSize: 16, learningRate: 0.01, optimizer: "adamw", weightDecay: 0, labelSmoothing: 0, classBalance: "none", warmupEpochs: 0, progress: "silent", normalization: norm });
  const evaluation = await evaluate(model, testSet, { normalization: norm, tta: ["flip", "tencrop"], progress: false });
  assert.ok(evaluation.metrics.accuracy > 0.9, `accuracy ${evaluation.metrics.accuracy}`);
  assert.equal(evaluation.predictions.length, 42);
  assert.equal(evaluation.predictions[0].path, testSet.paths[0]);
  assert.ok(evaluation.tta.flip && evaluation.tta.tencrop, "TTA reported beside single crop");
  const json = evaluation.toJSON();
  for (const key of ["accuracy", "macroF1", "perClass", "confusion", "n"]) assert.ok(key in json, key);
  const payload = JSON.parse(evaluation[DISPLAY]()[0].data as string);
  assert.equal(payload.classes.length, 7);
  assert.match(Object.values(payload.examples as Record<string, { thumb: string }[]>)[0][0].thumb, /^data:image\/png;base64,iVBOR/);

  for (const method of ["Grad-CAM", "Grad-CAM++"] as const) {
    let hits = 0;
    let total = 0;
    for (let i = 0; i < testSet.size; i++) {
      const label = testSet.labels[i];
      const x = tf.tensor4d(Float32Array.from(testSet.image(i), (v) => (v / 255 - norm.mean) / norm.std), [1, 15, 15, 1]);
      const [cam] = classActivationMaps(model, x, [label], { method, layer: "features" });
      x.dispose();
      // The square of class k is centred at (row, col) below (SyntheticFaces' layout).
      const cy = Math.floor(((label % 3) + 0.5) * 5);
      const cx = Math.floor((Math.floor(label / 3) + 0.5) * 5);
      let best = 0;
      for (let j = 1; j < cam.length; j++) if (cam[j] > cam[best]) best = j;
      const [by, bx] = [Math.floor(best / 15), best % 15];
      total++;
      if (Math.abs(by - cy) <= 3 && Math.abs(bx - cx) <= 3) hits++;
      assert.ok(Math.max(...cam) <= 1 && Math.min(...cam) >= 0, "normalised to [0,1]");
    }
    assert.ok(hits / total >= 0.8, `${method}: the map's peak is on the square in ${hits}/${total} faces`);
  }

  const report = explain(model, testSet, evaluation.predictions.slice(0, 6), { normalization: norm, layer: "features" });
  const faith = report.faces.flatMap((f) => f.maps.map((m) => m.faithfulness));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(faith.map((f) => f.camDrop)) > mean(faith.map((f) => f.randomDrop)), "blanking the top CAM pixels hurts more than random pixels");
  const gradcam = JSON.parse(report[DISPLAY]()[0].data as string);
  assert.equal(gradcam.items.length, 6);
  assert.equal(Buffer.from(gradcam.items[0].cams[0].data, "base64").length, 15 * 15);
});
