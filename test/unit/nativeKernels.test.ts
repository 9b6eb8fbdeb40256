/**
 * The native (oneDNN or OpenBLAS) convolution kernels of the wasm backend against the cpu backend:
 * Conv2D, FusedConv2D (bias, relu) and both gradients over random shapes, strides 1–2 and
 * same/valid/explicit padding; FusedBatchNorm, Relu, MaxPoolGrad (with ties), the one-pass SGD step
 * and the leading-axes Sum/Mean pass; the addon's argument checks.
 * The addon is built by `npm run build` (needs a C compiler and libopenblas-dev; .ci/run installs it;
 * with libdnnl-dev too, the convolutions are oneDNN's, and which shapes it computes is checked).
 * Run: node --import tsx --test test/unit/nativeKernels.test.ts
 *   (FERNB_NATIVE_FILE=/tmp/x/fernb_native.node: against another build of the addon)
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initWasmBackend, type WasmInitResult } from "../../kernel/fer/backends/wasm";
import { spawnSync } from "node:child_process";
import { convDims, loadNative, NATIVE_KERNEL_CONFIGS, nativePath, SGD_NESTEROV_KERNEL } from "../../kernel/fer/backends/wasmNative";
import { initBackend } from "../../kernel/fer/backend";
import { assertClose, compareWithCpu, rand } from "../helpers/numeric";

const TOL = 1e-4;
type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | tf.backend_util.ExplicitPadding;

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const compare = (what: string, f: () => tf.Tensor[]) => compareWithCpu("wasm", what, f, TOL);

let init: WasmInitResult;

before(async () => {
  init = await initWasmBackend();
});

describe("native kernels addon", () => {
  test("loads and its kernels are the registered wasm convolutions", () => {
    const { addon, reason } = loadNative();
    assert.ok(addon, `the native convolution addon is not available: ${reason}`);
    assert.match(init.native?.library ?? "", /OpenBLAS/);
    for (const cfg of NATIVE_KERNEL_CONFIGS) assert.equal(tf.getKernel(cfg.kernelName, "wasm")?.kernelFunc, cfg.kernelFunc, cfg.kernelName);
  });

  test("the backend description names the native kernels", async () => {
    const info = await initBackend("wasm");
    assert.match(info.description, /WebAssembly \(SIMD, \d threads?\) \+ native kernels \((oneDNN [\d.]+, )?OpenBLAS [\d.]+, \w+\)/);
    const dnnl = loadNative().addon?.dnnl?.();
    if (dnnl) assert.ok(info.description.includes(`native kernels (${dnnl}, OpenBLAS`), info.description);
  });

  test("refuses arrays shorter than the shapes say, instead of reading past them", () => {
    const { addon } = loadNative();
    assert.ok(addon);
    const dims = Int32Array.from([1, 4, 4, 2, 3, 3, 1, 1, 1, 1, 4, 4, 3]); // x 1×4×4×2, w 3×3×2×3, same padding
    const x = new Float32Array(32), w = new Float32Array(54), y = new Float32Array(48);
    addon.conv2d(x, w, y, dims);
    assert.throws(() => addon.conv2d(x.subarray(1), w, y, dims), /bad arguments or lengths/);
    assert.throws(() => addon.conv2dBackpropInput(y, w, new Float32Array(31), dims), /bad arguments or lengths/);
    assert.throws(() => addon.conv2dBackpropFilter(x, y, w.subarray(0, 50), dims), /bad arguments or lengths/);
    assert.throws(() => addon.conv2d(x, w, y, Int32Array.from([1, 4, 4, 2, 3, 3, 0, 1, 1, 1, 4, 4, 3])), /bad arguments/);
    assert.throws(() => (addon.conv2d as unknown as (...a: unknown[]) => void)(Array.from(x), w, y, dims), /bad arguments/);
    assert.throws(() => addon.sumLeading(x, new Float32Array(5), 6, 1), /bad arguments or lengths/);
    assert.throws(() => addon.sumLeading(x, new Float32Array(0), 0, 1), /bad arguments or lengths/);
  });

  test("FusedBatchNorm (with and without offset/scale) and Relu match the cpu backend", async () => {
    const shape = [3, 5, 4, 6];
    const xv = rand(size(shape), 29), mv = rand(6, 31), vv = rand(6, 37).map((v) => 0.5 + Math.abs(v)), ov = rand(6, 41), sv = rand(6, 43);
    await compare("batchNorm, relu", () => {
      const x = tf.tensor4d(xv, shape as Shape4), m = tf.tensor1d(mv), v = tf.tensor1d(vv);
      return [tf.batchNorm(x, m, v, tf.tensor1d(ov), tf.tensor1d(sv), 1e-3), tf.batchNorm(x, m, v, undefined, undefined, 1e-3), tf.relu(x)];
    });
    const { addon } = loadNative();
    assert.throws(() => addon!.batchNorm(new Float32Array(12), new Float32Array(5), new Float32Array(5), null, null, 1e-3, new Float32Array(12)), /bad arguments or lengths/);
    assert.throws(() => addon!.relu(new Float32Array(12), new Float32Array(11)), /bad arguments or lengths/);
  });

  test("one SGD step with Nesterov momentum and weight decay matches the tf-op formula on the cpu backend", async () => {
    const n = 1000, lr = 0.03, momentum = 0.9;
    const wv = rand(n, 47), gv = rand(n, 53), vv = rand(n, 59);
    for (const weightDecay of [5e-4, 0]) {
      await tf.setBackend("cpu");
      const expected = tf.tidy(() => {
        const w = tf.tensor1d(wv), v = tf.tensor1d(vv);
        let g: tf.Tensor = tf.tensor1d(gv);
        if (weightDecay > 0) g = g.add(w.mul(weightDecay));
        const vel = v.mul(momentum).add(g);
        return [w.sub(g.add(vel.mul(momentum)).mul(lr)), vel].map((t) => t.dataSync() as Float32Array);
      });
      await tf.setBackend("wasm");
      const outs = tf.engine().runKernel(SGD_NESTEROV_KERNEL, { w: tf.tensor1d(wv), g: tf.tensor1d(gv), v: tf.tensor1d(vv) }, { lr, momentum, weightDecay }) as tf.Tensor[];
      assertClose(outs[0].dataSync() as Float32Array, expected[0], `weights (weight decay ${weightDecay})`, 1e-6);
      assertClose(outs[1].dataSync() as Float32Array, expected[1], `velocity (weight decay ${weightDecay})`, 1e-6);
      assert.ok(!outs[0].dataSync().every((x, i) => x === wv[i]), "the weights changed");
      tf.dispose(outs);
    }
    assert.throws(() => tf.engine().runKernel(SGD_NESTEROV_KERNEL, { w: tf.zeros([3]), g: tf.zeros([4]), v: tf.zeros([3]) }, { lr, momentum, weightDecay: 0 }), /one shape/);
  });

  test("Sum and Mean over leading axes (batch-norm moments and gradients) match the cpu backend", async () => {
    for (const [shape, axes] of [[[4, 5, 6, 7], [0, 1, 2]], [[3, 9, 2], [0]], [[64, 3, 3, 130], [0, 1, 2]], [[2, 2], [0]]] as [number[], number[]][]) {
      const v = rand(size(shape), 23);
      await compare(`sum/mean ${shape} over ${axes}`, () => {
        const x = tf.tensor(v, shape);
        return [x.sum(axes), x.mean(axes, true)];
      });
    }
  });
});

describe("Conv2D, FusedConv2D and their gradients match the cpu backend", () => {
  const cases: { x: Shape4; w: Shape4; s: number | [number, number]; pad: Pad }[] = [];
  let seed = 3;
  const pick = (lo: number, hi: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return lo + ((seed >>> 8) % (hi - lo + 1));
  };
  for (const s of [1, 2] as const) {
    for (const pad of ["same", "valid"] as const) {
      for (const k of [1, 3, 2, 5]) {
        const c = pick(1, 5);
        cases.push({ x: [pick(1, 3), pick(k + 2, 11), pick(k + 2, 11), c], w: [k, k === 5 ? 3 : k, c, pick(1, 6)], s, pad });
      }
    }
  }
  cases.push({ x: [2, 13, 13, 1], w: [7, 7, 1, 3], s: 2, pad: "same" }); // ImageNet stem
  cases.push({ x: [2, 9, 8, 3], w: [3, 3, 3, 4], s: [2, 1], pad: "same" });
  cases.push({ x: [2, 8, 9, 3], w: [3, 2, 3, 2], s: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] });
  cases.push({ x: [3, 6, 6, 16], w: [1, 1, 16, 8], s: 2, pad: "valid" }); // ResNet shortcut
  // The ResNet-18 shapes, smaller, where oneDNN computes them (see "oneDNN convolutions" below):
  // TensorFlow's "same" pads stride 2 on an even size asymmetrically (top/left 0, bottom/right 1 for
  // 3×3; 2 and 3 for 7×7; none for 1×1, where the last row is never read).
  cases.push({ x: [2, 12, 12, 1], w: [7, 7, 1, 16], s: 2, pad: "same" }); // 48×48 stem, 2/3 padding
  cases.push({ x: [2, 12, 12, 16], w: [3, 3, 16, 32], s: 2, pad: "same" }); // 0/1 padding
  cases.push({ x: [2, 12, 12, 16], w: [1, 1, 16, 32], s: 2, pad: "same" }); // shortcut, even size
  cases.push({ x: [2, 3, 3, 32], w: [1, 1, 32, 64], s: 2, pad: "same" }); // shortcut, odd size
  cases.push({ x: [2, 3, 3, 32], w: [3, 3, 32, 64], s: 2, pad: "same" }); // 1/1 padding, 2×2 out
  cases.push({ x: [2, 6, 6, 64], w: [3, 3, 64, 64], s: 1, pad: "same" });
  cases.push({ x: [2, 2, 2, 64], w: [3, 3, 64, 64], s: 1, pad: "same" });
  cases.push({ x: [2, 9, 8, 16], w: [3, 3, 16, 16], s: 2, pad: "valid" }); // the last row and column never read
  for (const c of cases) {
    test(`x ${c.x} filter ${c.w} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
      const xv = rand(size(c.x), 11), wv = rand(size(c.w), 13), bv = rand(c.w[3], 19);
      await compare("y, fused relu(y + b), dx, dW", () => {
        const x = tf.tensor4d(xv, c.x), w = tf.tensor4d(wv, c.w), b = tf.tensor1d(bv);
        const y = tf.conv2d(x, w, c.s, c.pad);
        const fused = tf.fused.conv2d({ x, filter: w, strides: c.s, pad: c.pad, bias: b, activation: "relu" });
        const g = tf.grads((a: tf.Tensor, f: tf.Tensor) => {
          const out = tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, c.s, c.pad);
          return out.mul(tf.tensor(rand(out.size, 17), out.shape)).sum();
        });
        return [y, fused, ...g([x, w])];
      });
    });
  }
});

describe("oneDNN convolutions (an addon built with libdnnl-dev)", () => {
  const dnnl = () => loadNative().addon?.dnnl?.() ?? undefined;
  const why = "the addon was built without oneDNN (no libdnnl-dev): its convolutions are im2col + OpenBLAS";

  test("TensorFlow's same padding for stride 2 is asymmetric, as the addon's dims say", () => {
    const pad = (size: number, k: number, s: number) => tf.backend_util.computeConv2DInfo([1, size, size, 1], [k, k, 1, 1], s, 1, "same").padInfo;
    assert.deepEqual(pad(48, 7, 2), { top: 2, bottom: 3, left: 2, right: 3, type: "SAME" });
    assert.deepEqual(pad(12, 3, 2), { top: 0, bottom: 1, left: 0, right: 1, type: "SAME" });
    assert.deepEqual(pad(3, 3, 2), { top: 1, bottom: 1, left: 1, right: 1, type: "SAME" });
    assert.deepEqual(pad(12, 1, 2), { top: 0, bottom: 0, left: 0, right: 0, type: "SAME" });
  });

  test("compute every convolution of ResNet-18 on 48×48 faces (both stems) and its gradients", (t) => {
    if (!dnnl()) return t.skip(why);
    const { addon } = loadNative();
    // [input size, in channels, kernel, stride, out channels] at batch 2: the imagenet stem's
    // layers (12×12 … 2×2) and the no-pool stem's (24×24 … 3×3).
    const convs: [number, number, number, number, number][] = [[48, 1, 7, 2, 64]];
    for (const l1 of [12, 24]) {
      let size = l1, c = 64;
      convs.push([size, 64, 3, 1, 64]);
      for (const width of [128, 256, 512]) {
        convs.push([size, c, 3, 2, width], [size, c, 1, 2, width]);
        size = Math.ceil(size / 2);
        c = width;
        convs.push([size, c, 3, 1, c]);
      }
    }
    for (const [size, c, k, s, co] of convs) {
      const info = tf.backend_util.computeConv2DInfo([2, size, size, c], [k, k, c, co], s, 1, "same");
      for (const which of [0, 1, 2]) {
        assert.match(addon!.convImpl!(which, convDims(info)), /^oneDNN (brg|jit|gemm)/, `conv ${which} of ${size}×${size}×${c} ${k}×${k}/${s} → ${co}`);
      }
    }
  });

  test("a forward filter's reordered copy is reused only for the same filter (prediction)", async (t) => {
    if (!dnnl()) return t.skip(why);
    const xShape: Shape4 = [2, 6, 6, 64], wShape: Shape4 = [3, 3, 64, 64];
    const impl = loadNative().addon!.convImpl!(0, convDims(tf.backend_util.computeConv2DInfo(xShape, wShape, 1, 1, "same")));
    assert.match(impl, /\+reorder$/, "this shape's filter must be reordered, or the test checks nothing");
    // Seven filters of one shape through one primitive (kept from their second use, 4 at most): repeats, evictions, and
    // filters disposed so that the next one may reuse their heap memory with other values.
    const order = [0, 1, 0, 2, 3, 4, 5, 0, 1, 6, 6, 2, 0, 3, 4, 5, 3, 4, 5, 1, 0, 2, 1];
    await compare("conv2d with kept filters", () => {
      const x = tf.tensor4d(rand(size(xShape), 5), xShape);
      const filters = [0, 1, 2, 3, 4, 5].map((i) => tf.tensor4d(rand(size(wShape), 100 + i), wShape));
      const outs: tf.Tensor[] = [];
      for (const i of order) {
        if (i < 6) outs.push(tf.conv2d(x, filters[i], 1, "same"));
        else {
          const once = tf.tensor4d(rand(size(wShape), 200 + outs.length), wShape);
          outs.push(tf.conv2d(x, once, 1, "same"));
          once.dispose();
        }
      }
      return outs;
    });
    const { addon } = loadNative();
    const dims = Int32Array.from([1, 4, 4, 2, 3, 3, 1, 1, 1, 1, 4, 4, 3]);
    const x = new Float32Array(32), w = new Float32Array(54), y = new Float32Array(48);
    assert.throws(() => (addon!.conv2dBackpropInput as unknown as (...a: unknown[]) => void)(y, w, x, dims, 7), /bad arguments/);
    assert.throws(() => addon!.conv2d(x, w, y, dims, -1), /bad arguments/);
    assert.throws(() => (addon!.conv2d as unknown as (...a: unknown[]) => void)(x, w, y, dims, "7"), /bad arguments/);
  });

  test("FERNB_DNNL=0 when the addon loads keeps the im2col + OpenBLAS convolutions", (t) => {
    if (!dnnl()) return t.skip(why);
    const script = `
      const a = require(${JSON.stringify(nativePath())});
      console.log(JSON.stringify({ dnnl: a.dnnl(), impl: a.convImpl(0, Int32Array.from([1, 4, 4, 2, 3, 3, 1, 1, 1, 1, 4, 4, 3])) }));`;
    const run = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, FERNB_DNNL: "0" } });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { dnnl: null, impl: "im2col+OpenBLAS" });
  });
});

describe("MaxPoolGrad matches the cpu backend (first maximum of each window, with ties)", () => {
  const cases: [Shape4, number, number, "same" | "valid"][] = [
    [[2, 9, 9, 3], 3, 2, "same"],
    [[2, 8, 8, 3], 2, 2, "valid"],
    [[1, 9, 7, 4], 3, 1, "same"],
    [[3, 6, 6, 1], 3, 3, "same"],
    [[2, 24, 24, 8], 3, 2, "same"], // the ImageNet stem's pool
  ];
  for (const [shape, f, s, pad] of cases) {
    test(`x ${shape} pool ${f} stride ${s} ${pad}`, async () => {
      const xv = rand(size(shape), 23).map((v) => Math.max(0, Math.round(v * 3)));
      await compare("dx", () => {
        const g = tf.grad((a: tf.Tensor) => {
          const y = tf.maxPool(a as tf.Tensor4D, f, s, pad);
          return y.mul(tf.tensor(rand(y.size, 29), y.shape)).sum();
        });
        return [g(tf.tensor4d(xv, shape))];
      });
    });
  }
});
