import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../kernel/fer/rng";
import {
  calibrateJoint,
  confidentJoint,
  crossValidatedProbabilities,
  findLabelIssues,
  perClassThresholds,
  rankByLabelQuality,
  stratifiedFolds,
  type CrossValidationEvent,
} from "../../kernel/fer/curation/confidentLearning";
import { SyntheticFaces } from "../helpers/syntheticFaces";
import { DISPLAY } from "../../kernel/display";
import { MIME } from "../../protocol";
import { EMOTIONS } from "../../kernel/fer/labels";

before(async () => {
  await tf.setBackend("cpu");
});

/**
 * A separable toy problem given as probabilities: each example's true class gets most of the mass
 * (0.45..0.95, the rest spread at random), then 10% of the given labels are flipped to another class.
 */
function noisyToy(n: number, k: number, seed: number) {
  const rng = new Rng(seed);
  const truth = new Int32Array(n);
  const given = new Int32Array(n);
  const probs = new Float32Array(n * k);
  const flipped = new Set<number>();
  for (let i = 0; i < n; i++) {
    truth[i] = i % k;
    const top = 0.45 + 0.5 * rng.next();
    const rest = Array.from({ length: k - 1 }, () => rng.next() + 0.05);
    const restSum = rest.reduce((a, b) => a + b, 0);
    let r = 0;
    for (let c = 0; c < k; c++) probs[i * k + c] = c === truth[i] ? top : ((1 - top) * rest[r++]) / restSum;
    given[i] = truth[i];
  }
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  for (const i of order.slice(0, Math.round(n * 0.1))) {
    given[i] = (truth[i] + 1 + rng.int(k - 1)) % k;
    flipped.add(i);
  }
  return { probs, truth, given, flipped };
}

test("confident learning finds most of 10% flipped labels (precision and recall >= 0.8) with the right suggestions", () => {
  const k = 7;
  const { probs, truth, given, flipped } = noisyToy(1400, k, 3);
  // The pruning filters (cleanlab's defaults) both reach precision and recall >= 0.8. The raw
  // off-diagonal of the confident joint is conservative (examples under every threshold are not
  // counted): very precise, lower recall.
  const minimum = { prune_by_noise_rate: [0.8, 0.8], prune_by_class: [0.8, 0.8], confident_joint: [0.95, 0.5] };
  for (const filter of ["prune_by_noise_rate", "prune_by_class", "confident_joint"] as const) {
    for (const rankBy of ["self_confidence", "normalized_margin"] as const) {
      const r = findLabelIssues(probs, given, { filter, rankBy });
      const found = new Set(r.suspects.map((s) => s.index));
      const tp = [...found].filter((i) => flipped.has(i)).length;
      const precision = tp / found.size;
      const recall = tp / flipped.size;
      assert.ok(precision >= minimum[filter][0] && recall >= minimum[filter][1], `${filter}/${rankBy}: precision ${precision.toFixed(3)} recall ${recall.toFixed(3)}`);
      const right = r.suspects.filter((s) => flipped.has(s.index) && s.suggested === truth[s.index]).length;
      assert.ok(right / tp >= 0.9, `${filter}/${rankBy}: suggested label right for ${right}/${tp}`);
      // Ranked least confident first.
      for (let j = 1; j < r.suspects.length; j++) assert.ok(r.suspects[j - 1].score <= r.suspects[j].score);
    }
  }
  const r = findLabelIssues(probs, given);
  // The estimate of the number of wrong labels is close to the truth (140).
  assert.ok(Math.abs(r.estimatedErrorsTotal - 140) <= 25, `estimated ${r.estimatedErrorsTotal}`);
  const trueErrorsPerClass = Array.from({ length: k }, (_, c) => [...flipped].filter((i) => given[i] === c).length);
  r.estimatedErrors.forEach((e, c) => assert.ok(Math.abs(e - trueErrorsPerClass[c]) <= 10, `class ${c}: estimated ${e.toFixed(1)}, true ${trueErrorsPerClass[c]}`));
  assert.equal(r.suspects[0].givenName, ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"][r.suspects[0].given]);
  // The calibrated joint sums to n, rows to the class counts; the normalised joint to 1.
  assert.ok(Math.abs(r.calibratedJoint.flat().reduce((a, b) => a + b, 0) - 1400) < 1e-6);
  r.calibratedJoint.forEach((row, c) => assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - r.labelCounts[c]) < 1e-6));
  assert.ok(Math.abs(r.joint.flat().reduce((a, b) => a + b, 0) - 1) < 1e-9);
  // Without noise, (almost) nothing is flagged.
  const clean = findLabelIssues(probs, truth);
  assert.ok(clean.suspects.length <= 7, `${clean.suspects.length} suspects in clean labels`);
  // Ranking every example: the flipped ones dominate the bottom.
  const ranked = rankByLabelQuality(probs, given, "normalized_margin").slice(0, 140);
  assert.ok(ranked.filter((x) => flipped.has(x.index)).length >= 126);
});

test("thresholds, confident joint and calibration on a hand-checked example", () => {
  // 3 classes, 5 examples.
  const probs = new Float32Array([
    0.8, 0.1, 0.1, // given 0
    0.6, 0.3, 0.1, // given 0
    0.1, 0.7, 0.2, // given 1
    0.7, 0.2, 0.1, // given 1 (looks like 0)
    0.2, 0.2, 0.6, // given 2
  ]);
  const labels = new Int32Array([0, 0, 1, 1, 2]);
  const t = perClassThresholds(probs, labels);
  assert.deepEqual(Array.from(t, (v) => Math.round(v * 1000) / 1000), [0.7, 0.45, 0.6]);
  const { joint, confidentLabel } = confidentJoint(probs, labels, t);
  // Example 1: p0=0.6 < 0.7, p1=0.3 < 0.45, p2=0.1 < 0.6: not counted.
  assert.deepEqual(Array.from(confidentLabel), [0, -1, 1, 0, 2]);
  assert.deepEqual(joint, [[1, 0, 0], [1, 1, 0], [0, 0, 1]]);
  assert.deepEqual(calibrateJoint(joint, [2, 2, 1]), [[2, 0, 0], [1, 1, 0], [0, 0, 1]]);
  const r = findLabelIssues(probs, labels, { classes: ["a", "b", "c"], paths: ["p0", "p1", "p2", "p3", "p4"] });
  assert.deepEqual(r.suspects.map((s) => [s.index, s.givenName, s.suggestedName, s.path]), [[3, "b", "a", "p3"]]);
  assert.throws(() => findLabelIssues(new Float32Array(7), new Int32Array([0, 1])), /n × K/);
  assert.throws(() => findLabelIssues(probs, new Int32Array([0, 0, 1, 1, 3])), /class index/);
});

test("stratified folds spread every class evenly", () => {
  const labels = Int32Array.from({ length: 103 }, (_, i) => (i < 10 ? 1 : i % 3 === 0 ? 0 : 2));
  const fold = stratifiedFolds(labels, 5, 7);
  for (const c of [0, 1, 2]) {
    const counts = [0, 1, 2, 3, 4].map((f) => [...labels.keys()].filter((i) => labels[i] === c && fold[i] === f).length);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `class ${c}: ${counts}`);
  }
  assert.deepEqual(stratifiedFolds(labels, 5, 7), fold, "deterministic for a seed");
});

/** SyntheticFaces that records which rows are read while a fold's model trains (`training` set by the test). */
class RecordingFaces extends SyntheticFaces {
  training: Set<number> | undefined;
  override image(i: number): Uint8Array {
    this.training?.add(i);
    return super.image(i);
  }
}

test("crossValidatedProbabilities: each row predicted by a model that did not train on it", { timeout: 60_000 }, async () => {
  const data = new RecordingFaces(84, 12, 12);
  const trainedOn: Set<number>[] = [];
  let models = 0;
  const factory = (fold: number) => {
    const input = tf.input({ shape: [12, 12, 1] });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 7, name: "fc", kernelInitializer: tf.initializers.glorotUniform({ seed: fold + 1 }) }).apply(flat) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: tf.layers.activation({ activation: "softmax" }).apply(logits) as tf.SymbolicTensor });
    models++;
    return m;
  };
  const events: CrossValidationEvent[] = [];
  // Every image read between a fold's start and the end of its training is a row that fold trained on
  // (normalisation statistics included); reads after that are the held-out predictions.
  const record = (e: CrossValidationEvent) => {
    events.push(e);
    if (e.type === "fold-start") data.training = trainedOn[e.fold - 1] ?? (trainedOn[e.fold - 1] = new Set());
    if (e.type === "train" && e.event.type === "end") data.training = undefined;
  };
  const r = await crossValidatedProbabilities(data, { folds: 3, modelFactory: factory, trainOptions: { epochs: 8, batchSize: 8, learningRate: 0.1, optimizer: "adamw", classBalance: "none", labelSmoothing: 0, weightDecay: 0 } }, record);
  assert.equal(r.probs.length, 84 * 7);
  assert.equal(r.classes, 7);
  for (let i = 0; i < 84; i++) {
    const row = r.probs.subarray(i * 7, i * 7 + 7);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4, `row ${i} sums to 1`);
  }
  assert.deepEqual([0, 1, 2].map((f) => [...r.fold].filter((x) => x === f).length), [28, 28, 28]);
  assert.equal(events.filter((e) => e.type === "fold-start").length, 3);
  assert.equal(events.filter((e) => e.type === "fold-end").length, 3);
  assert.equal(events.filter((e) => e.type === "train" && e.event.type === "epoch").length, 24);
  const starts = events.filter((e): e is Extract<CrossValidationEvent, { type: "fold-start" }> => e.type === "fold-start");
  assert.deepEqual(starts.map((e) => [e.trainSize, e.heldOutSize]), [[56, 28], [56, 28], [56, 28]]);
  assert.equal(models, 3, "a fresh model per fold");
  assert.equal(trainedOn.length, 3);
  for (let f = 0; f < 3; f++) {
    const heldOut = [...r.fold.keys()].filter((i) => r.fold[i] === f);
    const read = [...trainedOn[f]].sort((a, b) => a - b);
    assert.deepEqual(read.filter((i) => r.fold[i] === f), [], `fold ${f + 1} trained on none of its ${heldOut.length} held-out rows`);
    assert.equal(read.length, 56, `fold ${f + 1} trained on every other row`);
    assert.deepEqual([...r.trainedOn[f]], read, `fold ${f + 1}: the rows reported as trained on are the rows read while training`);
  }
  // The toy data is separable: out-of-sample predictions are mostly right.
  let correct = 0;
  for (let i = 0; i < 84; i++) {
    const row = Array.from(r.probs.subarray(i * 7, i * 7 + 7));
    if (row.indexOf(Math.max(...row)) === data.labels[i]) correct++;
  }
  assert.ok(correct / 84 >= 0.8, `out-of-sample accuracy ${correct / 84}`);
  assert.equal(r.foldAccuracy.length, 3);
});

test("a label-issue result displays as a chart of estimated wrong labels per class plus the top suspects, and stays plain data", () => {
  const { probs, given } = noisyToy(700, 7, 5);
  const paths = Array.from({ length: 700 }, (_, i) => `face-${i}.png`);
  const r = findLabelIssues(probs, given, { paths });
  const items = (r as unknown as Record<symbol, () => { mime: string; data: string }[]>)[DISPLAY]();
  assert.deepEqual(items.map((i) => i.mime), [MIME.chart, "text/plain"]);
  const spec = JSON.parse(items[0].data) as { data: { values: { label: string; status: string; count: number }[] } };
  for (const [c, emotion] of EMOTIONS.entries()) {
    const rows = spec.data.values.filter((v) => v.label === emotion);
    assert.equal(rows.reduce((a, v) => a + v.count, 0), r.labelCounts[c], emotion);
    assert.equal(rows.find((v) => v.status === "estimated wrong")!.count, Math.round(r.estimatedErrors[c]), emotion);
  }
  const text = items[1].data;
  assert.match(text, new RegExp(`^700 images; about ${Math.round(r.estimatedErrorsTotal)} labels look wrong`));
  const worst = r.suspects[0];
  assert.ok(text.includes(`${worst.path}: labelled ${EMOTIONS[worst.given]}, looks like ${EMOTIONS[worst.suggested]}`));
  assert.match(text, new RegExp(`and ${r.suspects.length - 10} more`));
  // The display is not part of the data.
  assert.equal(Object.keys(r).includes(String(DISPLAY)), false);
  assert.equal((JSON.parse(JSON.stringify(r)) as { n: number }).n, 700);
  assert.equal(JSON.stringify(r).includes("label looks right"), false);
});
