/**
 * The model shipped in models/fer2013-resnet18 (trained by notebooks/train.fernb on FER2013): it
 * loads, predicts seven probabilities summing to 1 for the bundled sample faces, beats chance on
 * them, and its card says how it was made and what it scored on the file as shipped.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { loadFolderDataset } from "../../kernel/fer/dataset";
import { evaluate } from "../../kernel/fer/evaluate";
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
    data: { train: string; val: string; trainSize: number; heldOutSize?: number; heldOutInTraining?: boolean; leftOutNearCopies?: number }; epochsDone: number;
    initialisedFrom?: { training: { wallSeconds: number; data: { train: string } } };
  };
  // All of FER2013 Training (28,709 faces), or, by scripts/train-fer2013.ts's protocol, Training less
  // the 3,000 held-out faces that chose the epoch and the faces with a near-copy in val or held-out;
  // or, a final fit with the held-out faces in training (--train-on-held-out), Training less the
  // near-copies of val faces.
  const { trainSize, heldOutSize = 0, heldOutInTraining = false, leftOutNearCopies = 0 } = training.data;
  assert.equal(trainSize + (heldOutInTraining ? 0 : heldOutSize) + leftOutNearCopies, 28709);
  if (heldOutSize) assert.equal(heldOutSize, 3000);
  assert.match(training.data.train, /^[0-9a-f]{64}$/);
  assert.equal(training.epochsDone, training.recipe.epochs);
  assert.ok(training.wallSeconds > 3600, "trained for hours on CPU");
  assert.ok(training.backend && training.machine);
  if (training.initialisedFrom) {
    // A second cycle on top of an earlier model: the card's wall time counts both, on the same data.
    assert.equal(training.wallSeconds, training.wallSecondsThisRun! + training.initialisedFrom.training.wallSeconds);
    assert.match(training.initialisedFrom.training.data.train, /^[0-9a-f]{64}$/);
  }
  const val = (card.metrics as { validation: { images: number; weights: string; usedForModelSelection: boolean; singleCrop: { accuracy: number }; tta: Record<string, { accuracy: number }> } }).validation;
  assert.equal(val.images, 3589);
  // Val is the honest figure only when nothing was selected on it (the held-out protocol).
  if (heldOutSize) assert.equal(val.usedForModelSelection, false);
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
  // 15 faces per class from FER2013's PublicTest: chance is 1/7 ≈ 14%. The shipped model gets exactly
  // SAMPLE_CORRECT of the 105 right (measured; any change to decoding, normalisation or the weights moves it).
  assert.equal(correct, SAMPLE_CORRECT, `accuracy on the sample ${correct}/${predictions.length}`);
  model.dispose();
});

/** Correct top-1 predictions of the shipped model on the 105 sample faces (single crop). */
const SAMPLE_CORRECT = 70;

function fernb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.resolve("dist/cli.js"), ...args], { maxBuffer: 64 << 20, timeout: 300_000, env: { ...process.env, FERNB_CACHE_DIR: cacheDir } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
const cacheDir = mkdtempSync(path.join(tmpdir(), "fernb-shipped-cache-"));
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!);

test(`the shipped model on the sample: predictFiles, evaluate, \`fernb predict\` and \`fernb evaluate\` agree image by image (${SAMPLE_CORRECT} of 105)`, { timeout: 600_000 }, async () => {
  const { model, card } = await loadModel(MODEL);
  const files = readdirSync(SAMPLE).sort().flatMap((label) => readdirSync(path.join(SAMPLE, label)).sort().map((f) => path.join(SAMPLE, label, f)));
  const truthOf = (file: string) => EMOTIONS.indexOf(canonicalEmotion(path.basename(path.dirname(file)))!);
  const rel = (file: string) => path.relative(SAMPLE, file).split(path.sep).join("/");

  // In the library: predictFiles on the files, evaluate on the folder data set.
  const { predictions } = await predictFiles(model, card, files);
  const byFile = new Map(predictions.map((p) => [rel(p.path), p]));
  const data = await loadFolderDataset(SAMPLE, { height: card.input.height, width: card.input.width, channels: card.input.channels, cacheDir: false, memoryCache: false });
  assert.equal(data.size, 105);
  const evaluation = await evaluate(model, data, { normalization: { mean: card.input.mean, std: card.input.std }, progress: false });
  assert.equal(evaluation.predictions.length, 105);
  for (const e of evaluation.predictions) {
    const p = byFile.get(e.path);
    assert.ok(p, `evaluate's ${e.path} was predicted by predictFiles`);
    assert.equal(EMOTIONS[e.predicted], p.top, `${e.path}: evaluate and predictFiles agree`);
    EMOTIONS.forEach((name, k) => assert.ok(Math.abs(e.probs[k] - p.probabilities[name]) < 1e-4, `${e.path} ${name}: ${e.probs[k]} vs ${p.probabilities[name]}`));
  }
  const correct = evaluation.predictions.filter((e) => e.predicted === e.label).length;
  assert.equal(correct, SAMPLE_CORRECT);
  assert.equal(evaluation.metrics.accuracy, SAMPLE_CORRECT / 105);
  const confusion = Array.from({ length: 7 }, () => new Array<number>(7).fill(0));
  for (const p of predictions) confusion[truthOf(p.path)][EMOTIONS.indexOf(p.top)]++;
  assert.deepEqual(evaluation.metrics.confusion, confusion);

  // The command line, as a user runs it (dist/cli.js, built by `npm test`).
  const cliPredict = await fernb(["predict", "--model", MODEL, SAMPLE, "--json"]);
  assert.equal(cliPredict.code, 0, cliPredict.stderr);
  const pj = lastJson(cliPredict.stdout) as { predictions: { path: string; top: string; probabilities: Record<string, number> }[]; failures: unknown[] };
  assert.deepEqual(pj.failures, []);
  assert.equal(pj.predictions.length, 105, "fernb predict <folder> predicts every image");
  for (const q of pj.predictions) {
    const p = byFile.get(rel(path.resolve(q.path)));
    assert.ok(p, `fernb predict's ${q.path} is a sample file`);
    assert.equal(q.top, p.top, `${q.path}: fernb predict and predictFiles agree`);
    for (const name of EMOTIONS) assert.ok(Math.abs(q.probabilities[name] - p.probabilities[name]) < 1e-4);
  }
  const cliEvaluate = await fernb(["evaluate", "--model", MODEL, "--data", SAMPLE, "--json"]);
  assert.equal(cliEvaluate.code, 0, cliEvaluate.stderr);
  const ej = lastJson(cliEvaluate.stdout) as { n: number; accuracy: number; confusion: number[][] };
  assert.equal(ej.n, 105);
  assert.equal(Math.round(ej.accuracy * 105), SAMPLE_CORRECT);
  assert.deepEqual(ej.confusion, confusion, "fernb evaluate's confusion matrix is the one of predictFiles' predictions");
  model.dispose();
});
