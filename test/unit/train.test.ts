import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { createResNet18, LAST_CONV_LAYER, logitsModel, type ResNetConfig } from "../../kernel/fer/resnet";
import { cosineLearningRate, createTrainingStep, drawMix, train, type TrainEvent, type TrainOptions } from "../../kernel/fer/train";
import { Rng } from "../../kernel/fer/rng";
import { loadModel, saveModel, updateModelCard } from "../../kernel/fer/modelIO";
import { EMOTIONS } from "../../kernel/fer/labels";
import { keptEpochDirs } from "../../kernel/fer/training/checkpoint";
import { argmaxRows, predictProbabilities } from "../../kernel/fer/modelInput";
import { SyntheticFaces } from "../helpers/syntheticFaces";

const tiny: Partial<ResNetConfig> = { height: 12, width: 12, stem: "cifar", widths: [4, 8, 8, 8], blocks: [1, 1, 1, 1] };
const quiet: Partial<TrainOptions> = { progress: "silent", batchSize: 8, learningRate: 0.05 };
const tmp = () => mkdtempSync(path.join(tmpdir(), "fernb-train-test-"));

before(async () => {
  await tf.setBackend("cpu");
});

test("ResNet-18 has the standard shape: 11.2M parameters, 7 softmax outputs, configurable input", () => {
  const model = createResNet18();
  assert.deepEqual(model.inputs[0].shape, [null, 48, 48, 1]);
  assert.deepEqual(model.outputs[0].shape, [null, EMOTIONS.length]);
  assert.ok(Math.abs(model.countParams() - 11_175_000) < 30_000, `${model.countParams()} parameters`);
  assert.equal(model.layers.filter((l) => l.getClassName() === "Conv2D").length, 20, "17 convolutions + 3 projection shortcuts");
  // Stage-4 feature maps: the stem decides the resolution every later layer works at.
  for (const [stem, size] of [["imagenet", 2], ["stride2", 3], ["cifar", 6]] as const) {
    const m = createResNet18({ stem });
    assert.deepEqual(m.getLayer(LAST_CONV_LAYER).outputShape, [null, size, size, 512], stem);
    m.dispose();
  }
  const rgb = createResNet18({ height: 64, width: 64, channels: 3 });
  assert.deepEqual(rgb.inputs[0].shape, [null, 64, 64, 3]);
  const probs = rgb.predict(tf.zeros([2, 64, 64, 3])) as tf.Tensor;
  assert.deepEqual(Array.from(probs.sum(1).dataSync()).map((v) => Math.round(v * 1e5) / 1e5), [1, 1]);
  tf.dispose([model, rgb, probs] as never);
});

test("the same seed gives the same initial weights; another seed does not", () => {
  const a = createResNet18({ ...tiny, seed: 7 }).getWeights()[0].dataSync();
  const b = createResNet18({ ...tiny, seed: 7 }).getWeights()[0].dataSync();
  const c = createResNet18({ ...tiny, seed: 8 }).getWeights()[0].dataSync();
  assert.deepEqual(Array.from(a), Array.from(b));
  assert.notDeepEqual(Array.from(a), Array.from(c));
});

test("initialisation: PyTorch's defaults (uniform ±1/√fan-in, fc bias too) or He-normal; zero-gamma residual switchable", () => {
  const std = (t: tf.Tensor) => {
    const v = t.dataSync();
    let s = 0;
    for (const x of v) s += x * x;
    return Math.sqrt(s / v.length);
  };
  const torchLike = createResNet18({ init: "pytorch", zeroInitResidual: false, seed: 5 });
  const he = createResNet18({ init: "he", zeroInitResidual: true, seed: 5 });
  // layer2_1_conv1: 3×3×128 → 128, fan-in 1152.
  const fanIn = 9 * 128;
  const kt = torchLike.getLayer("layer2_1_conv1").getWeights()[0];
  const kh = he.getLayer("layer2_1_conv1").getWeights()[0];
  assert.ok(Math.abs(std(kt) * Math.sqrt(3 * fanIn) - 1) < 0.02, `PyTorch-like kernel std ${std(kt)}`);
  assert.ok(kt.dataSync().every((v) => Math.abs(v) <= 1 / Math.sqrt(fanIn) + 1e-7), "uniform within ±1/√fan-in");
  // He-normal, truncated at 2σ as tf.js draws it: about 0.88·√(2/fan-in).
  assert.ok(Math.abs(std(kh) / Math.sqrt(2 / fanIn) - 0.88) < 0.03, `He-normal kernel std ${std(kh)}`);
  const [fcKernel, fcBias] = torchLike.getLayer("fc").getWeights();
  const bound = 1 / Math.sqrt(512);
  assert.ok(Array.from(fcKernel.dataSync()).every((v) => Math.abs(v) <= bound + 1e-7));
  assert.ok(Array.from(fcBias.dataSync()).some((v) => v !== 0) && Array.from(fcBias.dataSync()).every((v) => Math.abs(v) <= bound + 1e-7), "fc bias uniform, as nn.Linear");
  assert.deepEqual(Array.from(he.getLayer("fc").getWeights()[1].dataSync()), new Array(7).fill(0));
  assert.ok(Array.from(torchLike.getLayer("layer1_0_bn2").getWeights()[0].dataSync()).every((v) => v === 1));
  assert.ok(Array.from(he.getLayer("layer1_0_bn2").getWeights()[0].dataSync()).every((v) => v === 0));
  tf.dispose([torchLike, he] as never);
});

test("cosine schedule: linear warm-up, peak, cosine decay to the minimum", () => {
  assert.equal(cosineLearningRate(0, 100, 10, 1, 0), 0.1);
  assert.equal(cosineLearningRate(9, 100, 10, 1, 0), 1);
  assert.ok(Math.abs(cosineLearningRate(10, 100, 10, 1, 0) - 1) < 1e-12);
  assert.ok(Math.abs(cosineLearningRate(55, 100, 10, 1, 0) - 0.5) < 1e-12);
  assert.ok(cosineLearningRate(99, 100, 10, 1, 0.01) < 0.02);
  assert.ok(cosineLearningRate(99, 100, 10, 1, 0.01) >= 0.01);
});

test("a few training epochs reduce the loss on a tiny separable data set (SGD and AdamW)", async () => {
  const data = new SyntheticFaces(56, 12, 12);
  for (const optimizer of ["sgd", "adamw"] as const) {
    const model = createResNet18(tiny);
    const result = await train(model, data, undefined, { ...quiet, epochs: 3, optimizer, learningRate: optimizer === "sgd" ? 0.05 : 0.01, weightDecay: optimizer === "sgd" ? 5e-4 : 0.01 });
    const [first, , last] = result.history;
    assert.ok(last.trainLoss < first.trainLoss * 0.9, `${optimizer}: loss ${first.trainLoss} → ${last.trainLoss}`);
    model.dispose();
  }
});

test("Rng.beta: Beta(a, a) draws in (0, 1) with the right mean and variance", () => {
  const rng = new Rng(11);
  for (const a of [0.3, 1, 2.5]) {
    const xs = Array.from({ length: 20000 }, () => rng.beta(a, a));
    assert.ok(xs.every((x) => x >= 0 && x <= 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    const expected = 1 / (4 * (2 * a + 1));
    assert.ok(Math.abs(mean - 0.5) < 0.01, `a=${a}: mean ${mean}`);
    assert.ok(Math.abs(variance - expected) < 0.1 * expected, `a=${a}: variance ${variance}, expected ${expected}`);
  }
  assert.throws(() => rng.gamma(0), /positive/);
});

test("mixup: off draws nothing; λ ≥ 0.5 over a permutation; λ = 1 is the plain step; a mixed step trains on both targets", async () => {
  const rng = new Rng(3);
  const before = rng.getState();
  assert.equal(drawMix(0, 8, rng), undefined);
  assert.equal(drawMix(undefined, 8, rng), undefined);
  assert.deepEqual(rng.getState(), before, "no mixup: the run's random stream is untouched (old runs resume exactly)");
  for (let i = 0; i < 50; i++) {
    const m = drawMix(0.4, 8, rng)!;
    assert.ok(m.lambda >= 0.5 && m.lambda <= 1);
    assert.deepEqual(Array.from(m.partner).sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  }
  // The same model and batch: a step with λ = 1 gives exactly the plain step's loss and weights.
  const data = new SyntheticFaces(8, 12, 12);
  const x = tf.tensor4d(Float32Array.from({ length: 8 * 144 }, (_, i) => Math.sin(i)), [8, 12, 12, 1]);
  const y = tf.tensor1d(Int32Array.from(data.labels), "int32");
  const partner = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 0], "int32");
  const run = async (mix?: { lambda: number; partner: tf.Tensor1D }) => {
    const model = createResNet18({ ...tiny, seed: 4 });
    const { step } = createTrainingStep(model, { labelSmoothing: 0.1 });
    const { loss } = await step(x, y, 0.05, mix);
    const w = Array.from(model.getWeights()[0].dataSync());
    model.dispose();
    return { loss, w };
  };
  const plain = await run();
  const one = await run({ lambda: 1, partner });
  assert.ok(Math.abs(plain.loss - one.loss) < 1e-6, `${plain.loss} vs ${one.loss}`);
  assert.deepEqual(one.w, plain.w);
  const half = await run({ lambda: 0.6, partner });
  assert.ok(Math.abs(half.loss - plain.loss) > 1e-4, "a real blend changes the loss");
  // Training end to end with mixup still learns the separable set.
  const model = createResNet18(tiny);
  const result = await train(model, new SyntheticFaces(40, 12, 12), undefined, { ...quiet, epochs: 6, mixup: 0.2 });
  assert.ok(result.history.at(-1)!.trainLoss < result.history[0].trainLoss, result.history.map((h) => h.trainLoss.toFixed(3)).join(" → "));
  tf.dispose([x, y, partner]);
  model.dispose();
});

test("distillation: weight 0 is the plain step, one-hot teachers at weight 1 are the unsmoothed labels, other teachers change the step; the run records a checksum, not the targets", async () => {
  const data = new SyntheticFaces(8, 12, 12);
  const x = tf.tensor4d(Float32Array.from({ length: 8 * 144 }, (_, i) => Math.cos(i)), [8, 12, 12, 1]);
  const y = tf.tensor1d(Int32Array.from(data.labels), "int32");
  const k = EMOTIONS.length;
  const oneHot = tf.oneHot(y, k).toFloat() as tf.Tensor2D;
  const shifted = tf.oneHot(tf.tensor1d(Int32Array.from(data.labels, (l) => (l + 1) % k), "int32"), k).toFloat() as tf.Tensor2D;
  const run = async (smoothing: number, soft?: { probabilities: tf.Tensor2D; weight: number }) => {
    const model = createResNet18({ ...tiny, seed: 5 });
    const { step } = createTrainingStep(model, { labelSmoothing: smoothing });
    const { loss } = await step(x, y, 0.05, undefined, soft);
    const w = Array.from(model.getWeights()[0].dataSync());
    model.dispose();
    return { loss, w };
  };
  const plain = await run(0.1);
  const none = await run(0.1, { probabilities: shifted, weight: 0 });
  assert.ok(Math.abs(plain.loss - none.loss) < 1e-6, `${plain.loss} vs ${none.loss}`);
  assert.deepEqual(none.w, plain.w);
  const hard = await run(0);
  const teacherIsLabel = await run(0.1, { probabilities: oneHot, weight: 1 });
  assert.ok(Math.abs(hard.loss - teacherIsLabel.loss) < 1e-5, `${hard.loss} vs ${teacherIsLabel.loss}`);
  const other = await run(0.1, { probabilities: shifted, weight: 0.7 });
  assert.ok(Math.abs(other.loss - plain.loss) > 1e-3, "a teacher that disagrees changes the loss");

  // End to end: a teacher that always names the next class pulls the model away from the labels.
  const faces = new SyntheticFaces(40, 12, 12);
  const teacher = new Float32Array(faces.size * k);
  faces.labels.forEach((l, i) => (teacher[i * k + ((l + 1) % k)] = 1));
  const dir = tmp();
  const model = createResNet18(tiny);
  const result = await train(model, faces, undefined, { ...quiet, epochs: 3, distill: { targets: teacher, weight: 1, teachers: ["next-class"] }, checkpointDir: dir, restoreBest: false });
  assert.equal(result.options.distill?.weight, 1);
  assert.deepEqual(result.options.distill?.teachers, ["next-class"]);
  assert.match(result.options.distill?.checksum ?? "", /^[0-9a-f]{8}$/);
  assert.ok(!JSON.stringify(result.options).includes("targets"), "the targets are not written into the run's record");
  // Other targets, same folder: not the same run, so no resume.
  const changed = teacher.slice();
  changed[0] = 0.5;
  await assert.rejects(train(createResNet18(tiny), faces, undefined, { ...quiet, epochs: 4, distill: { targets: changed, weight: 1, teachers: ["next-class"] }, checkpointDir: dir, resume: true, restoreBest: false }), /options differ/);
  await assert.rejects(train(createResNet18(tiny), faces, undefined, { ...quiet, epochs: 1, distill: { targets: teacher.subarray(k), weight: 1 } }), /40 faces × 7 classes need 280/);
  await assert.rejects(train(createResNet18(tiny), faces, undefined, { ...quiet, epochs: 1, distill: { targets: teacher, weight: 1.5 } }), /between 0 and 1/);
  const predicted = Array.from(argmaxRows(await predictProbabilities(model, faces, result.normalization), k));
  const agreeTeacher = predicted.filter((p, i) => p === (faces.labels[i] + 1) % k).length;
  const agreeLabel = predicted.filter((p, i) => p === faces.labels[i]).length;
  assert.ok(agreeTeacher > agreeLabel, `teacher's class ${agreeTeacher} times, the label ${agreeLabel} times`);
  tf.dispose([x, y, oneHot, shifted]);
  model.dispose();
});

test("SAM: the update is the gradient taken at w + rho·g/‖g‖ and applied at w; batch-norm statistics move once; the reported loss is at w", async () => {
  const data = new SyntheticFaces(8, 12, 12);
  const x = tf.tensor4d(Float32Array.from({ length: 8 * 144 }, (_, i) => Math.sin(0.7 * i)), [8, 12, 12, 1]);
  const y = tf.tensor1d(Int32Array.from(data.labels), "int32");
  const plainSgd = { labelSmoothing: 0, momentum: 0, weightDecay: 0 };
  const lr = 0.1;
  const rho = 0.05;
  const stepped = async (sam?: number) => {
    const model = createResNet18({ ...tiny, seed: 6 });
    const { step } = createTrainingStep(model, { ...plainSgd, sam });
    const { loss } = await step(x, y, lr);
    const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
    model.dispose();
    return { loss, weights };
  };
  // By hand: g at w, e = rho·g/‖g‖, g' at w + e, then w − lr·g'.
  const model = createResNet18({ ...tiny, seed: 6 });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const logits = logitsModel(model);
  const lossAt = () => tf.losses.softmaxCrossEntropy(tf.oneHot(y, EMOTIONS.length), logits.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  const g = tf.variableGrads(lossAt, vars).grads;
  const norm = Math.sqrt(vars.reduce((s, v) => s + g[v.name].square().sum().dataSync()[0], 0));
  const start = vars.map((v) => v.clone());
  vars.forEach((v) => v.assign(v.add(g[v.name].mul(rho / norm))));
  const there = tf.variableGrads(lossAt, vars).grads;
  const expected = new Map(vars.map((v, i) => [v.name, Array.from(start[i].sub(there[v.name].mul(lr)).dataSync())]));
  const names = model.weights.map((w) => (w.read() as tf.Variable).name);
  const trainable = new Set(vars.map((v) => v.name));
  model.dispose();

  const plain = await stepped();
  const sam = await stepped(rho);
  assert.ok(Math.abs(plain.loss - sam.loss) < 1e-6, `the loss reported is the one at w: ${plain.loss} vs ${sam.loss}`);
  let worst = 0;
  let moved = 0;
  names.forEach((name, i) => {
    if (!trainable.has(name)) {
      // Moving mean and variance: the same single update as the plain step's.
      assert.deepEqual(sam.weights[i], plain.weights[i], `${name}: batch-norm statistics updated once`);
      return;
    }
    const want = expected.get(name)!;
    sam.weights[i].forEach((v, k) => {
      worst = Math.max(worst, Math.abs(v - want[k]));
      moved = Math.max(moved, Math.abs(v - plain.weights[i][k]));
    });
  });
  assert.ok(worst < 1e-5, `SAM's weights match the hand-computed update (worst difference ${worst})`);
  assert.ok(moved > 1e-4, `and differ from the plain step's (by up to ${moved})`);
  tf.dispose([x, y, ...start, ...Object.values(g), ...Object.values(there)]);
  // End to end, SAM still learns the separable set.
  const trained = createResNet18(tiny);
  const result = await train(trained, new SyntheticFaces(40, 12, 12), undefined, { ...quiet, epochs: 6, sam: 0.05 });
  assert.ok(result.history.at(-1)!.trainLoss < result.history[0].trainLoss, result.history.map((h) => h.trainLoss.toFixed(3)).join(" → "));
  assert.equal(result.options.sam, 0.05, "the run records rho");
  trained.dispose();
});

test("exact resume: 2 + 2 epochs from a checkpoint give the same weights as 4 straight", async () => {
  const data = new SyntheticFaces(40, 12, 12);
  const val = new SyntheticFaces(14, 12, 12, 1, 9);
  const options: Partial<TrainOptions> = { ...quiet, epochs: 4, classBalance: "sampler", labelSmoothing: 0.1, seed: 3 };
  const straight = createResNet18(tiny);
  const full = await train(straight, data, val, options);
  assert.equal(full.stoppedBy, "completed");

  const dir = tmp();
  const staged = createResNet18(tiny);
  const part1 = await train(staged, data, val, { ...options, checkpointDir: dir, stopAfterEpochs: 2 });
  assert.equal(part1.stoppedBy, "epoch-limit");
  assert.ok(existsSync(path.join(dir, "last", "model.json")) && existsSync(path.join(dir, "last", "optimizer.bin")));
  // A fresh model object, as after a kernel restart.
  const resumed = createResNet18({ ...tiny, seed: 99 });
  const part2 = await train(resumed, data, val, { ...options, checkpointDir: dir, resume: true });
  assert.equal(part2.stoppedBy, "completed");
  assert.equal(part2.epochsDone, 4);
  assert.deepEqual(part2.history.map((h) => h.trainLoss), full.history.map((h) => h.trainLoss));
  const a = straight.getWeights();
  const b = resumed.getWeights();
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.deepEqual(a[i].dataSync(), b[i].dataSync(), `weight ${i} (${straight.weights[i].name})`);
});

test("keepEpochWeights keeps each epoch's weights (epochs/e<N>, also across a resume), the last one equal to the final weights", async () => {
  const data = new SyntheticFaces(16, 12, 12);
  const dir = tmp();
  const options: Partial<TrainOptions> = { ...quiet, epochs: 3, checkpointDir: dir, restoreBest: false };
  await train(createResNet18(tiny), data, undefined, { ...options, keepEpochWeights: true, stopAfterEpochs: 1 });
  // The flag is not part of the run's identity: a resume may turn it off (epoch 2 kept nothing) and on again.
  await train(createResNet18(tiny), data, undefined, { ...options, keepEpochWeights: false, resume: true, stopAfterEpochs: 1 });
  const model = createResNet18(tiny);
  await train(model, data, undefined, { ...options, keepEpochWeights: true, resume: true });
  assert.deepEqual(keptEpochDirs(dir).map((d) => path.basename(d)), ["e1", "e3"]);
  assert.deepEqual(keptEpochDirs(dir, 2).map((d) => path.basename(d)), ["e3"]);
  const e1 = await loadModel(keptEpochDirs(dir)[0]);
  const e3 = await loadModel(keptEpochDirs(dir)[1]);
  assert.equal(e3.card.weights.dtype, "float16");
  // e3 is the model after the last epoch (to float16 precision); e1 differs from it.
  const w = model.getWeights()[0].dataSync();
  const w3 = e3.model.getWeights()[0].dataSync();
  const w1 = e1.model.getWeights()[0].dataSync();
  assert.ok(w.every((v, i) => Math.abs(v - w3[i]) <= 1e-3 * Math.max(1, Math.abs(v))), "e3 = final weights");
  assert.ok(w.some((v, i) => Math.abs(v - w1[i]) > 1e-3), "e1 differs from the final weights");
  assert.throws(() => keptEpochDirs(tmp()), /kept no epoch weights/);
});

test("a checkpoint folder with a run is never overwritten by surprise; a changed recipe cannot resume", async () => {
  const data = new SyntheticFaces(16, 12, 12);
  const dir = tmp();
  await train(createResNet18(tiny), data, undefined, { ...quiet, epochs: 2, stopAfterEpochs: 1, checkpointDir: dir });
  const before = readFileSync(path.join(dir, "last", "weights.bin"));
  await assert.rejects(train(createResNet18(tiny), data, undefined, { ...quiet, epochs: 2, checkpointDir: dir }), /already holds a training run .* nothing was changed/);
  await assert.rejects(train(createResNet18(tiny), data, undefined, { ...quiet, epochs: 2, learningRate: 0.5, checkpointDir: dir, resume: true }), /options differ/);
  assert.deepEqual(readFileSync(path.join(dir, "last", "weights.bin")), before);
});

test("a damaged checkpoint is reported with its file and never replaced by a fresh run", async () => {
  const data = new SyntheticFaces(16, 12, 12);
  const dir = tmp();
  await train(createResNet18(tiny), data, undefined, { ...quiet, epochs: 2, stopAfterEpochs: 1, checkpointDir: dir });
  const stateFile = path.join(dir, "last", "state.json");
  writeFileSync(stateFile, '{"epochsDone": 1, "optim'); // torn mid-write
  const weightsBefore = readFileSync(path.join(dir, "last", "weights.bin"));
  for (const resume of [true, false]) {
    await assert.rejects(
      train(createResNet18(tiny), data, undefined, { ...quiet, epochs: 2, checkpointDir: dir, resume }),
      (e: unknown) => {
        assert.match((e as Error).message, /checkpoint .* is damaged and cannot be resumed/);
        assert.ok((e as Error).message.includes(stateFile), (e as Error).message);
        assert.match((e as Error).message, /nothing was changed/);
        return true;
      },
    );
  }
  assert.equal(readFileSync(stateFile, "utf8"), '{"epochsDone": 1, "optim');
  assert.deepEqual(readFileSync(path.join(dir, "last", "weights.bin")), weightsBefore);
});

test("training stops cleanly at a batch boundary when interrupted", async () => {
  const data = new SyntheticFaces(48, 12, 12);
  const controller = new AbortController();
  const events: TrainEvent[] = [];
  const model = createResNet18(tiny);
  const result = await train(model, data, undefined, {
    ...quiet,
    epochs: 5,
    signal: controller.signal,
    progress: (e) => {
      events.push(e);
      if (e.type === "batch" && e.step === 2) controller.abort();
    },
  });
  assert.equal(result.stoppedBy, "interrupted");
  assert.equal(events.filter((e) => e.type === "batch").length, 2);
  const probs = model.predict(tf.zeros([1, 12, 12, 1])) as tf.Tensor;
  assert.equal(probs.shape[1], 7, "the model is still usable");
});

test("wrong input size is a clear error", async () => {
  await assert.rejects(train(createResNet18(tiny), new SyntheticFaces(8, 16, 16), undefined, quiet), /takes 12×12×1 images but the data set holds 16×16×1/);
});

test("save/load round trip in the TF.js format, with card; float16 is close; no silent overwrite", async () => {
  const model = createResNet18(tiny);
  const dir = path.join(tmp(), "model");
  const card = { name: "t", classes: [...EMOTIONS], input: { height: 12, width: 12, channels: 1 as const, mean: 0.5, std: 0.25 }, architecture: { stem: "cifar" } };
  await saveModel(model, dir, card);
  const json = JSON.parse(readFileSync(path.join(dir, "model.json"), "utf8"));
  assert.equal(json.format, "layers-model");
  assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
  const { model: loaded, card: loadedCard } = await loadModel(dir);
  assert.deepEqual(loadedCard.input, card.input);
  assert.equal(loadedCard.weights.dtype, "float32");
  const x = tf.randomNormal([3, 12, 12, 1], 0, 1, "float32", 5);
  const p1 = (model.predict(x) as tf.Tensor).dataSync();
  const p2 = (loaded.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(p2), Array.from(p1));
  await assert.rejects(saveModel(model, dir, card), /already holds a model/);

  const half = path.join(path.dirname(dir), "half");
  const halfCard = await saveModel(model, half, card, { quantize: "float16" });
  assert.equal(halfCard.weights.dtype, "float16");
  assert.ok(halfCard.weights.bytes < readFileSync(path.join(dir, "weights.bin")).length * 0.55);
  const p3 = ((await loadModel(half)).model.predict(x) as tf.Tensor).dataSync();
  for (let i = 0; i < p1.length; i++) assert.ok(Math.abs(p1[i] - p3[i]) < 2e-3, `float16 prediction ${i}: ${p1[i]} vs ${p3[i]}`);
});

test("updateModelCard records metrics without touching the weights; a damaged card is reported and left as it is", async () => {
  const model = createResNet18(tiny);
  const dir = path.join(tmp(), "carded");
  await saveModel(model, dir, { name: "t", classes: [...EMOTIONS], input: { height: 12, width: 12, channels: 1, mean: 0.5, std: 0.25 }, architecture: {} }, { quantize: "float16" });
  const weightsBefore = readFileSync(path.join(dir, "weights.bin"));
  const updated = await updateModelCard(dir, (c) => ({ ...c, metrics: { validation: { accuracy: 0.5 } }, weights: { dtype: "float32", bytes: 1 } }));
  assert.deepEqual(updated.metrics, { validation: { accuracy: 0.5 } });
  assert.equal(updated.weights.dtype, "float16", "the weights entry describes the file and cannot be rewritten");
  const { card } = await loadModel(dir);
  assert.deepEqual(card.metrics, { validation: { accuracy: 0.5 } });
  assert.equal(card.name, "t");
  assert.deepEqual(readFileSync(path.join(dir, "weights.bin")), weightsBefore);
  writeFileSync(path.join(dir, "card.json"), "{ torn");
  await assert.rejects(updateModelCard(dir, (c) => c), /card\.json is not valid JSON .*left unchanged/);
  assert.equal(readFileSync(path.join(dir, "card.json"), "utf8"), "{ torn");
});
