/**
 * Conv2DBackpropInput for the wasm backend. The shipped kernel is a scalar C++ loop that
 * dominates a training step; this one runs on XNNPACK:
 *
 * - 1×1 filters without padding: a 1×1 convolution of dy with Wᵀ (a GEMM), zero-interleaved
 *   back to the input grid when the stride is > 1.
 * - stride 1: dx = Conv2D of dy with the spatially flipped, in/out-transposed filter
 *   W'[kh,kw,co,ci] = W[KH−1−kh, KW−1−kw, ci, co], padded so that the output has the input's
 *   size (KH−1−padTop on top).
 * - stride > 1: one such convolution per output phase with a sub-filter (see
 *   stridedByPhases), instead of convolving a zero-interleaved dy (4× the work at stride 2).
 */
import * as tf from "@tensorflow/tfjs";
import { type Backend, type ConvGradAttrs, type Info, type KernelArgs, conv2dPadded, heapF32, mark, padSpatial, release, transpose, zeroInterleave } from "./wasmUtil";

export function conv2dBackpropInput(args: KernelArgs): Info {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as Info;
  const filter = inputs.filter as Info;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
  if (dataFormat === "NCHW") throw new Error("fernb wasm Conv2DBackpropInput: only NHWC is supported");
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, "channelsLast",
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const kh = info.filterHeight, kw = info.filterWidth;
  const pt = info.padInfo.top, pl = info.padInfo.left;

  const wT = flippedTransposedFilter(backend, filter); // [KH, KW, Co, Ci]
  if (kh === 1 && kw === 1 && pt === 0 && pl === 0) {
    // A 1×1 convolution (XNNPACK GEMM) at the strided positions, scattered back to the grid.
    const d = conv2dPadded(backend, dy, wT, [0, 0, 0, 0]); // [n, oh, ow, ci]
    release(backend, wT);
    if (sh === 1 && sw === 1 && oh === h && ow === w) return d;
    const z = zeroInterleave(backend, d, sh, sw); // [n, oh·sh, ow·sw, ci]
    release(backend, d);
    const out = padSpatial(backend, z, [0, h - oh * sh, 0, w - ow * sw]);
    release(backend, z);
    return out;
  }

  if (sh > 1 || sw > 1) {
    const out = stridedByPhases(backend, dy, wT, info);
    release(backend, wT);
    return out;
  }
  // Stride 1: a "full" correlation of dy with the flipped filter.
  const top = kh - 1 - pt, left = kw - 1 - pl;
  // Output rows: OH + top + bottom − KH + 1 = H.
  const bottom = h - 1 + kh - oh - top;
  const right = w - 1 + kw - ow - left;
  const out = conv2dPadded(backend, dy, wT, [top, bottom, left, right]);
  release(backend, wT);
  return out;
}

/** One spatial dimension of a phase (see stridedByPhases). */
interface Phase {
  /** First filter tap of the phase (in forward-filter coordinates). */
  k0: number;
  /** Number of taps. */
  m: number;
  /** Conv padding before / after for an output of `q` rows. */
  before: number;
  after: number;
}

function phases(size: number, outSize: number, k: number, s: number, pad: number, q: number): Phase[] {
  const res: Phase[] = [];
  for (let a = 0; a < s; a++) {
    const k0 = (((a + pad) % s) + s) % s;
    const c = (a + pad - k0) / s;
    const m = k0 < k ? Math.ceil((k - k0) / s) : 0;
    const before = m - 1 - c;
    res.push({ k0, m, before, after: q + m - 1 - outSize - before });
  }
  return res;
}

/**
 * Strided dx without multiplying zeros: input pixel (a + s·q) only receives taps
 * k ≡ a + pad (mod s), so each of the sh·sw phases is a stride-1 convolution of dy with a
 * sub-filter of the flipped filter (e.g. 2×2, 2×1, 1×2, 1×1 taps of a 3×3 filter at stride
 * 2, a quarter of the work of convolving the zero-interleaved dy). The phase outputs are
 * interleaved into dx on the heap.
 *
 *   dx[a + s·q] = Σ_m dy[q + c − m] · W[k0 + s·m],  k0 = (a + pad) mod s,  c = (a + pad − k0) / s
 */
function stridedByPhases(backend: Backend, dy: Info, wT: Info, info: tf.backend_util.Conv2DInfo): Info {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const kh = info.filterHeight, kw = info.filterWidth;
  const qh = Math.ceil(h / sh), qw = Math.ceil(w / sw);
  const rows = phases(h, oh, kh, sh, info.padInfo.top, qh);
  const cols = phases(w, ow, kw, sw, info.padInfo.left, qw);
  const parts: (Info | null)[] = [];
  const block = co * ci;
  for (const r of rows) {
    for (const c of cols) {
      if (r.m === 0 || c.m === 0) {
        parts.push(null);
        continue;
      }
      // Sub-filter F[j,l] = W[r.k0 + sh·(r.m−1−j), c.k0 + sw·(c.m−1−l)] = wT[KH−1−…, KW−1−…].
      const f = backend.makeOutput([r.m, c.m, co, ci], "float32");
      const src = heapF32(backend, wT);
      const dst = heapF32(backend, f);
      for (let j = 0; j < r.m; j++) {
        for (let l = 0; l < c.m; l++) {
          const fi = kh - 1 - (r.k0 + sh * (r.m - 1 - j));
          const fj = kw - 1 - (c.k0 + sw * (c.m - 1 - l));
          const from = (fi * kw + fj) * block;
          dst.set(src.subarray(from, from + block), (j * c.m + l) * block);
        }
      }
      parts.push(conv2dPadded(backend, dy, f, [r.before, r.after, c.before, c.after])); // [n, qh, qw, ci]
      release(backend, f);
    }
  }
  const out = backend.makeOutput([n, h, w, ci], "float32");
  const dx = heapF32(backend, out);
  for (let a = 0; a < sh; a++) {
    for (let b = 0; b < sw; b++) {
      const part = parts[a * sw + b];
      const p = part ? heapF32(backend, part) : null;
      for (let bn = 0; bn < n; bn++) {
        for (let q = 0, i = a; i < h; q++, i += sh) {
          for (let t = 0, jj = b; jj < w; t++, jj += sw) {
            const to = ((bn * h + i) * w + jj) * ci;
            if (p) {
              const from = ((bn * qh + q) * qw + t) * ci;
              dx.set(p.subarray(from, from + ci), to);
            } else {
              dx.fill(0, to, to + ci);
            }
          }
        }
      }
    }
  }
  release(backend, ...parts);
  return out;
}

/**
 * W'[kh,kw,co,ci] = W[KH−1−kh, KW−1−kw, ci, co]: an XNNPACK transpose of the channel dims,
 * then the spatial flip as block copies on the heap (wasm's Reverse kernel is a slow scalar
 * loop: ~30 ms for a 3×3×512×512 filter).
 */
function flippedTransposedFilter(backend: Backend, filter: Info): Info {
  const [kh, kw, ci, co] = filter.shape;
  const t = transpose(backend, filter, [0, 1, 3, 2]);
  if (kh * kw === 1) return t;
  const out = backend.makeOutput([kh, kw, co, ci], "float32");
  const src = heapF32(backend, t);
  const dst = heapF32(backend, out);
  const block = ci * co;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = ((kh - 1 - i) * kw + (kw - 1 - j)) * block;
      dst.set(src.subarray(from, from + block), (i * kw + j) * block);
    }
  }
  release(backend, t);
  return out;
}

export const conv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: "Conv2DBackpropInput",
  backendName: "wasm",
  kernelFunc: mark(conv2dBackpropInput as unknown as tf.KernelFunc),
};
