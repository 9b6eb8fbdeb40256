/**
 * Conv2DBackpropFilter for the wasm backend (which ships none, so conv nets cannot train).
 *
 * dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s + kh − padTop, ow·s + kw − padLeft, ci] · dy[b,oh,ow,co]
 *
 * - 1×1 stride-1 filters without padding: a single GEMM, x reshaped to [N, Ci] transposed
 *   times dy reshaped to [N, Co].
 * - otherwise: one stride-1 XNNPACK Conv2D in which the batch plays the role of channels:
 *   x transposed to [Ci, H, W, B] is convolved with dy transposed to [OH, OW, B, Co] used as
 *   the filter, dilated by the forward stride; the result [Ci, KH, KW, Co] is transposed to
 *   [KH, KW, Ci, Co].
 */
import * as tf from "@tensorflow/tfjs";
import { type Backend, type ConvGradAttrs, type Info, type KernelArgs, conv2dPadded, mark, release, reshape, run, transpose } from "./wasmUtil";

export function conv2dBackpropFilter(args: KernelArgs): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
  if (dataFormat === "NCHW") throw new Error("fernb wasm Conv2DBackpropFilter: only NHWC is supported");
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, "channelsLast",
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const kh = info.filterHeight, kw = info.filterWidth;
  const pt = info.padInfo.top, pl = info.padInfo.left;

  if (kh === 1 && kw === 1 && pt === 0 && pl === 0 && sh === 1 && sw === 1 && oh === h && ow === w) {
    // One GEMM over all pixels. (Strided 1×1 convs take the general path: wasm's
    // StridedSlice is a slow scalar loop.)
    const xs = reshape(backend, x, x.shape);
    const a = reshape(backend, xs, [1, n * oh * ow, ci]);
    const b = reshape(backend, dy, [1, n * oh * ow, co]);
    const m = run("BatchMatMul", backend, { a, b }, { transposeA: true, transposeB: false });
    const out = reshape(backend, m, [1, 1, ci, co]);
    release(backend, xs, a, b, m);
    return out;
  }

  const xT = transpose(backend, x, [3, 1, 2, 0]); // [Ci, H, W, B]
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [OH, OW, B, Co]
  // Output rows: H + pt + pb − ((OH−1)·sh + 1) + 1 = KH.
  const pb = kh + (oh - 1) * sh - h - pt;
  const pr = kw + (ow - 1) * sw - w - pl;
  const g = conv2dPadded(backend, xT, dyT, [pt, pb, pl, pr], [sh, sw]); // [Ci, KH, KW, Co]
  release(backend, xT, dyT);
  const out = transpose(backend, g, [1, 2, 0, 3]);
  release(backend, g);
  return out;
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: "wasm",
  kernelFunc: mark(conv2dBackpropFilter as unknown as tf.KernelFunc),
};
