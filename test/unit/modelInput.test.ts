/**
 * One model input (issue #15): training, validation, evaluation, prediction (face crops and the
 * photo path), Grad-CAM (explain, measureCamLayers), curation (cross-validation, ranking features)
 * and the review grid (predictions and its Grad-CAM) all feed the network the identical tensor for
 * the same image. Every LayersModel's predict/apply is watched while each path runs, and what it was
 * given is compared, value for value, with `(pixel / 255 - mean) / std` of the decoded image.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { createResNet18 } from "../../kernel/fer/resnet";
import { loadFolderDataset, type FaceDataset } from "../../kernel/fer/dataset";
import { encodePng } from "../../kernel/fer/images";
import { argmax, argmaxRows, batchTensor, inputBatch, normalizeInto, predictProbabilities, testTimeViews, type Augmenter } from "../../kernel/fer/modelInput";
import { train, type TrainOptions } from "../../kernel/fer/train";
import { evaluate } from "../../kernel/fer/evaluate";
import { predictFiles } from "../../kernel/fer/predict";
import { predictPhotos } from "../../kernel/fer/faces/predict";
import { explain } from "../../kernel/fer/cam/index";
import { measureCamLayers } from "../../kernel/fer/cam/measure";
import { crossValidatedProbabilities } from "../../kernel/fer/curation/confidentLearning";
import { curationFeatures } from "../../kernel/fer/curation/features";
import { handleReviewCamMessage, review } from "../../kernel/fer/curation/review";
import type { ModelCard } from "../../kernel/fer/modelIO";

const SIDE = 8;
const NORM = { mean: 0.3, std: 0.2 };
const work = mkdtempSync(path.join(tmpdir(), "fernb-model-input-"));
const quiet: Partial<TrainOptions> = { progress: "silent", batchSize: 2, epochs: 1, learningRate: 0.01 };
const tinyNet = () => createResNet18({ height: SIDE, width: SIDE, channels: 1, stem: "cifar", widths: [8, 8, 8, 8], seed: 5 });

/** One face (a gradient with a bright square), saved four times: two anger, two happiness. */
const FACE = Uint8Array.from({ length: SIDE * SIDE }, (_, i) => ((i % SIDE) * 29 + Math.floor(i / SIDE) * 7 + (i % 5 === 0 ? 90 : 0)) % 256);
let root: string;
let dataset: FaceDataset;
let faceFile: string;

// ---- what each path gives the network -------------------------------------------------------------

/** Rows (one image each) the watched models were given, per path. */
const seen = new Map<string, Float32Array[]>();
let current: string | undefined;
const originals = { predict: tf.LayersModel.prototype.predict, apply: tf.LayersModel.prototype.apply };

function record(x: unknown): void {
  if (!current || !(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[1] !== SIDE || x.shape[2] !== SIDE) return;
  const values = x.dataSync() as Float32Array;
  const per = SIDE * SIDE;
  const rows = seen.get(current) ?? [];
  for (let b = 0; b < x.shape[0]!; b++) rows.push(values.slice(b * per, (b + 1) * per));
  seen.set(current, rows);
}

async function during<T>(name: string, run: () => Promise<T> | T): Promise<T> {
  current = name;
  try {
    return await run();
  } finally {
    current = undefined;
  }
}

before(async () => {
  await tf.setBackend("cpu");
  root = path.join(work, "faces");
  const png = await encodePng(FACE, SIDE, SIDE, 1);
  for (const [folder, names] of [["anger", ["a0", "a1"]], ["happiness", ["h0", "h1"]]] as const) {
    mkdirSync(path.join(root, folder), { recursive: true });
    for (const n of names) writeFileSync(path.join(root, folder, `${n}.png`), png);
  }
  faceFile = path.join(root, "anger", "a0.png");
  dataset = await loadFolderDataset(root, { height: SIDE, width: SIDE, channels: 1, cacheDir: false, memoryCache: false });
  tf.LayersModel.prototype.predict = function (this: tf.LayersModel, x: tf.Tensor | tf.Tensor[], args?: Parameters<typeof originals.predict>[1]) {
    record(x);
    return originals.predict.call(this, x, args);
  };
  tf.LayersModel.prototype.apply = function (this: tf.LayersModel, x: tf.Tensor | tf.SymbolicTensor | (tf.Tensor | tf.SymbolicTensor)[], kwargs?: Record<string, unknown>) {
    record(x);
    return originals.apply.call(this, x as tf.Tensor, kwargs);
  } as typeof tf.LayersModel.prototype.apply;
});

after(() => {
  tf.LayersModel.prototype.predict = originals.predict;
  tf.LayersModel.prototype.apply = originals.apply;
  rmSync(work, { recursive: true, force: true });
});

/** The model input of FACE written out here, independently of fernb: (pixel / 255 - mean) / std, in float32. */
function expectedInput(norm: { mean: number; std: number }): Float32Array {
  return Float32Array.from(FACE, (v) => (v / 255 - norm.mean) / norm.std);
}

function assertFed(name: string, expected: Float32Array, every: boolean): void {
  const rows = seen.get(name);
  assert.ok(rows && rows.length > 0, `${name}: the model was given nothing`);
  const check = every ? rows : rows.slice(0, 1);
  check.forEach((row, r) => assert.deepEqual(Array.from(row), Array.from(expected), `${name}: input row ${r} differs from (pixel / 255 - mean) / std`));
}

test("every path feeds the network the identical tensor for the same image", async () => {
  // The data set decodes the PNG to the very pixels it holds.
  for (let i = 0; i < dataset.size; i++) assert.deepEqual(Array.from(dataset.image(i)), Array.from(FACE));
  const card = { input: { height: SIDE, width: SIDE, channels: 1, ...NORM } } as ModelCard;

  // Training (its batches, no augmentation) and validation, at the normalisation training computes.
  const model = tinyNet();
  const trained = await during("training", () => train(model, dataset, undefined, { ...quiet }));
  await during("validation", () => train(tinyNet(), dataset, dataset, { ...quiet }));
  await during("evaluation", () => evaluate(model, dataset, { normalization: NORM, progress: false }));
  await during("prediction (face crops)", () => predictFiles(model, card, [faceFile]));
  await during("prediction (photos, taken as crops)", () => predictPhotos(model, card, [faceFile], { detect: "never" }));
  await during("Grad-CAM (explain)", () => explain(model, dataset, [{ path: dataset.paths[0], label: 0, predicted: 0, probs: [] }], { normalization: NORM }));
  await during("Grad-CAM (measureCamLayers)", () => measureCamLayers(model, dataset, { normalization: NORM, count: 1 }));
  const cv = await during("curation (cross-validation)", () =>
    crossValidatedProbabilities(dataset, { folds: 2, seed: 1, modelFactory: () => tinyNet(), trainOptions: { ...quiet } }, "silent"),
  );
  await during("curation (ranking features)", () => curationFeatures(model, dataset, NORM, { tta: "none" }));
  const grid = await during("review grid", () => review(dataset, { model, normalization: NORM }));
  const cam = await during("review grid (Grad-CAM)", () => handleReviewCamMessage({ reviewId: grid.id, action: "gradcam", path: dataset.paths[0] }));
  assert.equal(cam.ok, true, JSON.stringify(cam).slice(0, 200));

  const norm = expectedInput(NORM);
  assertFed("training", expectedInput(trained.normalization), true);
  assertFed("validation", expectedInput(trained.normalization), true);
  assertFed("curation (cross-validation)", expectedInput(cv.results[0].normalization), true);
  for (const name of ["evaluation", "prediction (face crops)", "prediction (photos, taken as crops)", "curation (ranking features)", "review grid"]) assertFed(name, norm, true);
  // Grad-CAM also gives the network masked copies of the face (faithfulness): the face itself comes first.
  for (const name of ["Grad-CAM (explain)", "Grad-CAM (measureCamLayers)", "review grid (Grad-CAM)"]) assertFed(name, norm, false);
});

test("an augmenter's float image in [0,1] is normalised the same way as the image it came from", () => {
  const scaled: Augmenter = { apply: (image) => Float32Array.from(image, (v) => v / 255) };
  const plain = batchTensor(dataset, [0], NORM);
  const augmented = batchTensor(dataset, [0], NORM, scaled, { next: () => 0 } as never);
  const a = augmented.dataSync();
  const p = plain.dataSync();
  // Exactly (x - mean) / std of the augmenter's output ...
  assert.deepEqual(Array.from(a), Array.from(Float32Array.from(Float32Array.from(FACE, (v) => v / 255), (v) => (v - NORM.mean) / NORM.std)));
  // ... which is the uint8 image's input up to float32 rounding of the augmenter's pixels.
  p.forEach((v, i) => assert.ok(Math.abs(v - a[i]) < 1e-5, `pixel ${i}: ${v} vs ${a[i]}`));
  tf.dispose([plain, augmented]);
});

test("inputBatch, normalizeInto and argmax: the formula, NHWC order, the first maximum on ties", async () => {
  const other = Uint8Array.from(FACE, (v) => 255 - v);
  const x = inputBatch([FACE, other], { height: SIDE, width: SIDE, channels: 1 }, NORM);
  assert.deepEqual(x.shape, [2, SIDE, SIDE, 1]);
  const values = x.dataSync();
  assert.deepEqual(Array.from(values.subarray(0, SIDE * SIDE)), Array.from(expectedInput(NORM)));
  assert.deepEqual(Array.from(values.subarray(SIDE * SIDE)), Array.from(Float32Array.from(other, (v) => (v / 255 - NORM.mean) / NORM.std)));
  x.dispose();
  assert.throws(() => inputBatch([FACE.subarray(1)], { height: SIDE, width: SIDE, channels: 1 }, NORM), /63 values, not 8×8×1/);
  const out = normalizeInto(Uint8Array.of(0, 255), { mean: 0.5, std: 0.5 }, new Float32Array(3), 1);
  assert.deepEqual(Array.from(out), [0, -1, 1]);
  assert.equal(argmax([0.1, 0.7, 0.7, 0.2]), 1);
  assert.equal(argmax([9, 0.2, 0.5, 0.5, 0.1], 1, 3), 1);
  assert.deepEqual(Array.from(argmaxRows(Float32Array.of(0.1, 0.9, 0.6, 0.4, 0.5, 0.5), 2)), [1, 0, 0]);
  // predictProbabilities over chosen indices gives those images' rows, in that order.
  const model = tinyNet();
  const all = await predictProbabilities(model, dataset, NORM, 3);
  const some = await predictProbabilities(model, dataset, NORM, 1, [2, 0]);
  assert.deepEqual(Array.from(some), [...all.subarray(14, 21), ...all.subarray(0, 7)]);
  model.dispose();
});

test("testTimeViews: the batch itself, its mirror image, or ten crops of the same size", () => {
  const x = tf.tensor4d(Array.from({ length: 2 * 4 * 4 }, (_, i) => i), [2, 4, 4, 1]);
  const none = testTimeViews(x, "none");
  assert.equal(none.length, 1);
  assert.equal(none[0], x);
  const flip = testTimeViews(x, "flip");
  assert.equal(flip.length, 2);
  assert.equal(flip[0], x);
  // Row 0 of image 0 is 0 1 2 3; its mirror is 3 2 1 0.
  assert.deepEqual(Array.from(flip[1].dataSync().subarray(0, 4)), [3, 2, 1, 0]);
  const crops = testTimeViews(x, "tencrop");
  assert.equal(crops.length, 10);
  for (const c of crops) assert.deepEqual(c.shape, [2, 4, 4, 1]);
  // The centre crop (the fifth) of a reflect-padded batch is the batch; the tenth is its mirror.
  assert.deepEqual(Array.from(crops[4].dataSync()), Array.from(x.dataSync()));
  assert.deepEqual(Array.from(crops[9].dataSync()), Array.from(flip[1].dataSync()));
  tf.dispose([x, flip[1], ...crops]);
});
