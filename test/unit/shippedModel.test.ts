/**
 * The model shipped in models/fer2013-resnet18 (trained by notebooks/train.fernb on FER2013): it
 * loads, predicts seven probabilities summing to 1 for the bundled sample faces, beats chance on
 * them, and its card says how it was made and what it scored on the file as shipped.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { initBackend } from "../../kernel/fer/backend";
import { loadModel } from "../../kernel/fer/modelIO";
import { predictFiles } from "../../kernel/fer/predict";
import { EMOTIONS, canonicalEmotion } from "../../kernel/fer/labels";

const MODEL = path.resolve("models/fer2013-resnet18");
const SAMPLE = path.resolve("notebooks/data/sample/val");

before(async () => {
  await initBackend();
});

test("the shipped model's card: classes, input, float16 weights, recipe, wall time, machine, data fingerprints, val metrics of the shipped file", async () => {
  const { card } = await loadModel(MODEL);
  assert.deepEqual(card.classes, [...EMOTIONS]);
  assert.deepEqual([card.input.height, card.input.width, card.input.channels], [48, 48, 1]);
  assert.equal(card.weights.dtype, "float16");
  assert.equal(card.weights.bytes, statSync(path.join(MODEL, "weights.bin")).size);
  const training = card.training as {
    recipe: { epochs: number }; wallSeconds: number; wallSecondsThisRun?: number; backend: string; machine: unknown;
    data: { train: string; val: string; trainSize: number }; epochsDone: number;
    initialisedFrom?: { training: { wallSeconds: number; data: { train: string } } };
  };
  assert.equal(training.data.trainSize, 28709);
  assert.match(training.data.train, /^[0-9a-f]{64}$/);
  assert.equal(training.epochsDone, training.recipe.epochs);
  assert.ok(training.wallSeconds > 3600, "trained for hours on CPU");
  assert.ok(training.backend && training.machine);
  if (training.initialisedFrom) {
    // A second cycle on top of an earlier model: the card's wall time counts both, on the same data.
    assert.equal(training.wallSeconds, training.wallSecondsThisRun! + training.initialisedFrom.training.wallSeconds);
    assert.equal(training.initialisedFrom.training.data.train, training.data.train);
  }
  const val = (card.metrics as { validation: { images: number; weights: string; singleCrop: { accuracy: number }; tta: Record<string, { accuracy: number }> } }).validation;
  assert.equal(val.images, 3589);
  assert.equal(val.weights, "float16");
  assert.ok(val.singleCrop.accuracy > 0.5 && val.singleCrop.accuracy < 1);
  assert.ok(val.tta.flip.accuracy > 0.5 && val.tta.tencrop.accuracy > 0.5);
});

test("the shipped model predicts 7 probabilities summing to 1 for every bundled sample face, well above chance", async () => {
  const { model, card } = await loadModel(MODEL);
  const files = readdirSync(SAMPLE).flatMap((label) => readdirSync(path.join(SAMPLE, label)).map((f) => path.join(SAMPLE, label, f)));
  assert.equal(files.length, 105);
  const { predictions, failures } = await predictFiles(model, card, files);
  assert.deepEqual(failures, []);
  assert.equal(predictions.length, files.length);
  let correct = 0;
  for (const p of predictions) {
    const probs = Object.values(p.probabilities);
    assert.equal(probs.length, 7);
    assert.ok(probs.every((v) => v >= 0 && v <= 1));
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, `${p.path}: probabilities sum to ${probs.reduce((a, b) => a + b, 0)}`);
    assert.equal(p.top, EMOTIONS[probs.indexOf(Math.max(...probs))]);
    if (p.top === canonicalEmotion(path.basename(path.dirname(p.path)))) correct++;
  }
  // 15 faces per class from FER2013's PublicTest: chance is 1/7 ≈ 14%.
  assert.ok(correct / predictions.length > 0.35, `accuracy on the sample ${correct}/${predictions.length}`);
  model.dispose();
});
