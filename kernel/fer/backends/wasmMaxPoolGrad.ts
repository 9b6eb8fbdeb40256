/**
 * MaxPoolGrad for the wasm backend (the shipped kernel gives wrong results for most
 * configurations). Each output's gradient goes to the first maximum of its window in
 * row-major order, ignoring padding — the same rule as the cpu backend, which matters after
 * a ReLU, where ties (zeros) are common.
 *
 * This is one pass in JavaScript over the wasm heap (no copies): per output pixel, a running
 * max over the window for all channels at once (channels are contiguous in NHWC). A
 * composition of tfjs kernels needs ~5 full-size passes per window position and was slower.
 */
import * as tf from "@tensorflow/tfjs";
import { type Info, type KernelArgs, type Padding, heapF32, mark } from "./wasmUtil";

export function maxPoolGrad(args: KernelArgs): Info {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as Info;
  const x = inputs.input as Info;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: Padding;
    dimRoundingMode?: "floor" | "round" | "ceil";
  };
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const pt = info.padInfo.top, pl = info.padInfo.left;

  const out = backend.makeOutput(x.shape, "float32");
  // Views are taken after the allocation above (an allocation may grow the heap).
  const xv = heapF32(backend, x);
  const dyv = heapF32(backend, dy);
  const dxv = heapF32(backend, out);
  dxv.fill(0);
  const best = new Float32Array(c);
  const bestAt = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    const xb = b * h * w * c;
    for (let r = 0; r < oh; r++) {
      const r0 = r * sh - pt;
      const rs = Math.max(0, r0), re = Math.min(h, r0 + fh);
      for (let q = 0; q < ow; q++) {
        const q0 = q * sw - pl;
        const qs = Math.max(0, q0), qe = Math.min(w, q0 + fw);
        best.fill(-Infinity);
        bestAt.fill(-1);
        for (let i = rs; i < re; i++) {
          for (let j = qs; j < qe; j++) {
            const base = xb + (i * w + j) * c;
            for (let k = 0; k < c; k++) {
              const v = xv[base + k];
              if (v > best[k]) {
                best[k] = v;
                bestAt[k] = base + k;
              }
            }
          }
        }
        const dyBase = ((b * oh + r) * ow + q) * c;
        for (let k = 0; k < c; k++) {
          const at = bestAt[k];
          if (at >= 0) dxv[at] += dyv[dyBase + k];
        }
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: "MaxPoolGrad",
  backendName: "wasm",
  kernelFunc: mark(maxPoolGrad as unknown as tf.KernelFunc),
};
