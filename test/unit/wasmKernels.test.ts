/**
 * fernb's wasm-backend training kernels against the cpu backend.
 * Run: node --import tsx --test test/unit/wasmKernels.test.ts
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initWasmBackend, WASM_KERNEL_CONFIGS, type WasmInitResult } from "../../kernel/fer/backends/wasm";
import { compareWithCpu, rand } from "../helpers/numeric";

// These tests check fernb's wasm kernels themselves; the native convolutions that replace some of
// them where OpenBLAS is available are checked by native.test.ts.
process.env.FERNB_NATIVE = "0";

const TOL = 1e-4;


/** A small deterministic integer generator for shapes. */
function picker(seed: number): (lo: number, hi: number) => number {
  let s = seed;
  return (lo, hi) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return lo + ((s >>> 8) % (hi - lo + 1));
  };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const compare = (what: string, f: () => tf.Tensor[], tol = TOL) => compareWithCpu("wasm", what, f, tol);

let init: WasmInitResult;

before(async () => {
  init = await initWasmBackend();
});

describe("wasm backend", () => {
  test("initialises with SIMD and registers every custom kernel", () => {
    assert.equal(tf.getBackend(), "wasm");
    assert.ok(init.threads >= 1);
    for (const cfg of WASM_KERNEL_CONFIGS) {
      assert.equal(tf.getKernel(cfg.kernelName, "wasm")?.kernelFunc, cfg.kernelFunc, cfg.kernelName);
    }
  });

  test("initWasmBackend is idempotent", async () => {
    const again = await initWasmBackend();
    assert.equal(again.threads, init.threads);
    assert.equal(tf.getBackend(), "wasm");
  });
});

describe("Conv2D gradients (Conv2DBackpropInput / Conv2DBackpropFilter)", () => {
  const cases: { x: number[]; w: number[]; s: number | [number, number]; pad: "same" | "valid" | tf.backend_util.ExplicitPadding }[] = [];
  const pick = picker(7);
  for (const s of [1, 2] as const) {
    for (const pad of ["same", "valid"] as const) {
      for (const k of [1, 3, 2, 5]) {
        const h = pick(k + 2, 11), w = pick(k + 2, 11);
        cases.push({ x: [pick(1, 3), h, w, pick(1, 5)], w: [k, k === 5 ? 3 : k, 0, pick(1, 6)], s, pad });
      }
    }
  }
  cases.push({ x: [2, 13, 13, 2], w: [7, 7, 0, 3], s: 2, pad: "same" }); // ImageNet stem
  cases.push({ x: [2, 9, 8, 3], w: [3, 3, 0, 4], s: [2, 1], pad: "same" });
  cases.push({ x: [2, 8, 9, 3], w: [3, 2, 0, 2], s: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] });
  for (const c of cases) {
    c.w[2] = c.x[3];
    test(`x ${c.x} filter ${c.w} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
      const xv = rand(size(c.x), 11), wv = rand(size(c.w), 13);
      await compare("dx, dW", () => {
        const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
        const w = tf.tensor4d(wv, c.w as [number, number, number, number]);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
          const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad);
          return y.mul(tf.tensor(rand(y.size, 17), y.shape)).sum();
        });
        return g([x, w]);
      });
    });
  }
});

describe("MaxPoolGrad", () => {
  const cases: [number[], number, number, "same" | "valid"][] = [
    [[2, 9, 9, 3], 3, 2, "same"],
    [[2, 8, 8, 3], 3, 2, "same"],
    [[2, 8, 8, 3], 2, 2, "valid"],
    [[1, 9, 7, 4], 3, 1, "same"],
    [[2, 10, 10, 2], 3, 2, "valid"],
    [[1, 7, 9, 5], 2, 1, "valid"],
    [[3, 6, 6, 1], 3, 3, "same"],
  ];
  for (const [shape, f, s, pad] of cases) {
    test(`x ${shape} pool ${f} stride ${s} ${pad} (with ties)`, async () => {
      // Rounded, ReLU'd values: many exact ties, as after a ReLU.
      const xv = rand(size(shape), 23).map((v) => Math.max(0, Math.round(v * 3)));
      await compare("dx", () => {
        const x = tf.tensor4d(xv, shape as [number, number, number, number]);
        const g = tf.grad((a: tf.Tensor) => {
          const y = tf.maxPool(a as tf.Tensor4D, f, s, pad);
          return y.mul(tf.tensor(rand(y.size, 29), y.shape)).sum();
        });
        return [g(x)];
      });
    });
  }
});

describe("Sum, Mean", () => {
  test("leading-axis (fast path) and other reductions, keepDims on and off", async () => {
    const pick = picker(5);
    for (let i = 0; i < 10; i++) {
      const rank = pick(2, 4);
      const shape = Array.from({ length: rank }, () => pick(1, 6));
      const axisSets = [[0], Array.from({ length: rank - 1 }, (_, j) => j), [rank - 1], [1, 0]];
      const v = rand(size(shape), 41 + i);
      for (const axis of axisSets) {
        for (const keepDims of [false, true]) {
          await compare(`sum/mean ${shape} axis ${axis} keepDims ${keepDims}`, () => {
            const x = tf.tensor(v, shape);
            return [tf.sum(x, axis, keepDims), tf.mean(x, axis, keepDims)];
          });
        }
      }
    }
  });
});

describe("Tile, Identity, Cast", () => {
  test("Tile over random shapes and dtypes", async () => {
    const pick = picker(3);
    for (let i = 0; i < 12; i++) {
      const rank = pick(1, 5);
      const shape = Array.from({ length: rank }, () => pick(1, 4));
      const reps = Array.from({ length: rank }, () => pick(1, 3));
      const v = rand(size(shape), 31 + i);
      await compare(`tile ${shape} × ${reps}`, () => {
        const x = tf.tensor(v, shape);
        return [tf.tile(x, reps), tf.tile(x.toInt(), reps).toFloat(), tf.tile(x.greater(0), reps).toFloat()];
      }, 0);
    }
    await compare("batch-norm style tile", () => [tf.tile(tf.tensor(rand(8, 5), [1, 1, 1, 8]), [4, 5, 6, 1])], 0);
  });

  test("Identity and same-dtype Cast share the buffer; other casts convert", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory().numDataBuffers;
    const x = tf.tensor(rand(1000, 3), [10, 100]);
    const y = tf.clone(x);
    const z = tf.cast(x, "float32");
    assert.equal(tf.memory().numDataBuffers - before, 1, "clone/cast allocated new buffers");
    assert.deepEqual(y.dataSync(), x.dataSync());
    x.dispose();
    assert.deepEqual(z.dataSync(), y.dataSync());
    const i = tf.cast(tf.tensor([1.7, -2.2, 3]), "int32");
    assert.equal(i.dtype, "int32");
    assert.deepEqual(Array.from(i.dataSync()), [1, -2, 3]);
    tf.dispose([y, z, i]);
  });
});

/** A tiny conv → batch-norm → ReLU → max-pool → dense net, as pure ops of its parameters. */
function tinyNetLoss(params: tf.Tensor[], x: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  const [w1, gamma, beta, w2, wd, bd] = params;
  let h: tf.Tensor4D = tf.conv2d(x, w1 as tf.Tensor4D, 1, "same");
  const { mean, variance } = tf.moments(h, [0, 1, 2]);
  h = tf.batchNorm4d(h, mean as tf.Tensor1D, variance as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-3);
  h = tf.relu(h);
  h = tf.maxPool(h, 3, 2, "same");
  h = tf.relu(tf.conv2d(h, w2 as tf.Tensor4D, 2, "valid"));
  const flat = h.reshape([x.shape[0], -1]);
  const logits = tf.add(tf.matMul(flat, wd as tf.Tensor2D), bd);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

describe("training", () => {
  const N = 4, H = 10, C = 5, K = 4;
  const shapes = [[3, 3, 2, C], [C], [C], [3, 3, C, 6], [6 * 2 * 2, K], [K]];
  const paramValues = shapes.map((s, i) => {
    const v = rand(size(s), 100 + i);
    return i === 1 ? v.map((a) => 1 + 0.2 * a) : v;
  });
  const xv = rand(N * H * H * 2, 7);
  const labelIdx = [0, 2, 1, 3];

  test("tiny conv+bn+maxpool+dense net: all gradients match the cpu backend", async () => {
    await compare("gradients", () => {
      const params = paramValues.map((v, i) => tf.tensor(v, shapes[i]));
      const x = tf.tensor4d(xv, [N, H, H, 2]);
      const labels = tf.oneHot(tf.tensor1d(labelIdx, "int32"), K) as tf.Tensor2D;
      const { value, grads } = tf.valueAndGrads((...p: tf.Tensor[]) => tinyNetLoss(p, x, labels))(params);
      return [value, ...grads];
    });
  });

  test("two identical training runs are bit-identical", async () => {
    await tf.setBackend("wasm");
    const runOnce = (): Float32Array[] => {
      const vars = paramValues.map((v, i) => tf.variable(tf.tensor(v, shapes[i])));
      const x = tf.tensor4d(xv, [N, H, H, 2]);
      const labels = tf.oneHot(tf.tensor1d(labelIdx, "int32"), K) as tf.Tensor2D;
      const opt = tf.train.momentum(0.1, 0.9);
      for (let step = 0; step < 2; step++) {
        opt.minimize(() => tinyNetLoss(vars, x, labels), false, vars);
      }
      const out = vars.map((v) => Float32Array.from(v.dataSync()));
      tf.dispose([...vars, x, labels]);
      opt.dispose();
      return out;
    };
    const a = runOnce();
    const b = runOnce();
    a.forEach((v, i) => {
      assert.ok(!v.every((e, j) => e === paramValues[i][j]), `parameter ${i} was not updated`);
      assert.deepEqual(Buffer.from(v.buffer), Buffer.from(b[i].buffer), `parameter ${i} differs between runs`);
    });
  });
});
