/**
 * Batch norm in training mode and ReLU's gradient as single native kernels (kernel/fer/backends/
 * trainingKernels.ts) against tf's own ops on the cpu backend: the layer's output, its gradients
 * with respect to the input, gamma and beta, and its moving mean and variance after a step; the
 * kernel's gradient through mean and variance when they are used directly; ReLU's gradient with
 * inputs at exactly 0. The wasm side must really take the native path (asserted).
 * Run: node --import tsx --test test/unit/trainingKernels.test.ts
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initWasmBackend } from "../../kernel/fer/backends/wasm";
import { BATCH_NORM_TRAINING_KERNEL, batchNormTraining, hasTrainingBatchNorm } from "../../kernel/fer/backends/trainingKernels";
import { compareWithCpu, rand } from "../helpers/numeric";

const TOL = 2e-4;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

before(async () => {
  const init = await initWasmBackend();
  assert.ok(init.native?.library, `the native addon is needed for these kernels: ${init.native?.reason}`);
});

/** A BatchNormalization layer with set weights, one training-mode step: [out, dx, dGamma, dBeta, movingMean, movingVariance]. */
function layerStep(shape: [number, number, number, number], seed: number): tf.Tensor[] {
  const c = shape[3];
  const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
  const x = tf.variable(tf.tensor4d(rand(size(shape), seed).map((v) => v * 3 + 0.5), shape));
  layer.build(shape);
  layer.setWeights([
    tf.tensor1d(rand(c, seed + 1).map((v) => 1 + v / 2)),
    tf.tensor1d(rand(c, seed + 2)),
    tf.tensor1d(rand(c, seed + 3)),
    tf.tensor1d(rand(c, seed + 4).map((v) => 1 + v / 2)),
  ]);
  const w = tf.tensor4d(rand(size(shape), seed + 5), shape);
  let out: tf.Tensor | undefined;
  const { grads } = tf.variableGrads(() => {
    out = tf.keep(layer.apply(x, { training: true }) as tf.Tensor);
    return tf.sum(tf.mul(out, w)) as tf.Scalar;
  });
  const [, , movingMean, movingVariance] = layer.weights.map((v) => v.read());
  return [out!, grads[x.name], grads[layer.weights[0].name], grads[layer.weights[1].name], movingMean, movingVariance];
}

describe("batch norm in training mode as one kernel", () => {
  test("the wasm backend with the native addon has it, the cpu backend does not", async () => {
    await tf.setBackend("wasm");
    assert.equal(hasTrainingBatchNorm(), true);
    await tf.setBackend("cpu");
    assert.equal(hasTrainingBatchNorm(), false);
    await tf.setBackend("wasm");
  });

  test("the layer's training path runs the kernel on wasm", async () => {
    await tf.setBackend("wasm");
    const names: string[] = [];
    const profile = await tf.profile(() => { tf.dispose(layerStep([2, 3, 3, 4], 7)); });
    for (const k of profile.kernels) names.push(k.name);
    assert.ok(names.includes(BATCH_NORM_TRAINING_KERNEL), names.join(", "));
    assert.ok(names.includes("FernbBatchNormTrainingGrad"), names.join(", "));
    assert.ok(!names.includes("SquaredDifference"), `tf.moments still ran: ${names.join(", ")}`);
  });

  for (const shape of [[4, 6, 6, 8], [64, 12, 12, 64], [3, 1, 1, 5], [1, 2, 2, 3]] as [number, number, number, number][]) {
    test(`layer output, gradients and moving statistics match tf's ops (${shape.join("×")})`, async () => {
      await compareWithCpu("wasm", `batch norm layer ${shape.join("×")}`, () => layerStep(shape, 11 + shape[0]), TOL);
    });
  }

  test("gradients reaching the batch mean and variance directly are carried to x", async () => {
    const shape: [number, number, number, number] = [5, 4, 3, 6];
    const c = shape[3];
    await compareWithCpu("wasm", "mean/variance gradient", () => {
      const x = tf.tensor4d(rand(size(shape), 3).map((v) => v * 2 - 0.3), shape);
      const gamma = tf.tensor1d(rand(c, 4).map((v) => 1 + v / 3));
      const beta = tf.tensor1d(rand(c, 5));
      const w = tf.tensor4d(rand(size(shape), 6), shape);
      const u = tf.tensor1d(rand(c, 7));
      const v = tf.tensor1d(rand(c, 8));
      const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        let out: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor;
        if (hasTrainingBatchNorm()) [out, mean, variance] = batchNormTraining(xx, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
        else {
          ({ mean, variance } = tf.moments(xx, [0, 1, 2]));
          out = tf.batchNorm(xx, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3);
        }
        return tf.addN([tf.sum(tf.mul(out, w)), tf.sum(tf.mul(mean, u)), tf.sum(tf.mul(variance, v))]);
      };
      const [dx, dg, db] = tf.grads(f)([x, gamma, beta]);
      return [dx, dg, db, f(x, gamma, beta)];
    }, TOL);
  });

  test("inference mode is tf's own path (moving statistics)", async () => {
    await tf.setBackend("wasm");
    const profile = await tf.profile(() => {
      const layer = tf.layers.batchNormalization({});
      tf.dispose(layer.apply(tf.ones([2, 2, 2, 3]), { training: false }) as tf.Tensor);
    });
    assert.ok(!profile.kernels.some((k) => k.name === BATCH_NORM_TRAINING_KERNEL));
    assert.ok(profile.kernels.some((k) => k.name === "FusedBatchNorm"), profile.kernels.map((k) => k.name).join(", "));
  });

  test("the kernel refuses inputs it does not cover, in words", async () => {
    await tf.setBackend("wasm");
    assert.throws(() => batchNormTraining(tf.ones([2, 3]), tf.ones([4]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, 1e-3), /scale, offset float32 \[channels\]/);
  });
});

describe("ReLU's gradient as one kernel", () => {
  test("matches tf's dy · step(x), 0 where x is exactly 0", async () => {
    const shape = [3, 5, 5, 7];
    await compareWithCpu("wasm", "relu gradient", () => {
      const values = rand(size(shape), 21);
      for (let i = 0; i < values.length; i += 5) values[i] = 0;
      const x = tf.tensor(values, shape);
      const w = tf.tensor(rand(size(shape), 22), shape);
      return [tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.relu(xx), w)))(x)];
    }, 0);
    await tf.setBackend("wasm");
    const profile = await tf.profile(() => {
      tf.dispose(tf.grad((xx: tf.Tensor) => tf.sum(tf.relu(xx)))(tf.ones([4])));
    });
    assert.ok(profile.kernels.some((k) => k.name === "FernbReluGrad"), profile.kernels.map((k) => k.name).join(", "));
  });
});
