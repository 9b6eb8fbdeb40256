/**
 * Sum for the wasm backend, fast path for reductions over leading axes of float32 tensors
 * (batch-norm gradients and moments reduce NHWC over [0, 1, 2]). The shipped kernel first
 * transposes the reduced axes innermost (a full copy) and then reduces; this is one
 * streaming pass over the heap with float64 accumulators (also more accurate). A GEMM with
 * a ones vector (BatchMatMul) was tried and made training steps slower: XNNPACK packs
 * (and caches) the whole activation as GEMM weights. With fernb's native kernels registered
 * (./wasmNative.ts) the same pass runs in C (about 4× faster).
 * Every other reduction uses the shipped kernel.
 */
import * as tf from "@tensorflow/tfjs";
import { nativeAddon } from "./wasmNative";
import { type Backend, type Info, heapF32, mark, shippedKernel } from "./wasmUtil";

/** If `axis` reduces exactly the leading k axes of x (k ≥ 1), returns k, else -1. */
export function leadingAxes(x: Info, axis: number | number[] | undefined): number {
  const rank = x.shape.length;
  if (rank === 0) return -1;
  const axes = tf.util.parseAxisParam(axis ?? [], x.shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.length === rank) return -1; // shipped kernels handle these well
  for (let i = 0; i < axes.length; i++) if (axes[i] !== i) return -1;
  return axes.length;
}

/**
 * Sums the leading `k` axes of float32 `x`, times `scale`, into a new tensor of the
 * remaining shape (with size-1 reduced dims if keepDims): one streaming pass over the heap
 * with float64 accumulators.
 */
export function sumLeading(backend: Backend, x: Info, k: number, keepDims: boolean, scale: number): Info {
  const outer = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const innerShape = x.shape.slice(k);
  const inner = innerShape.reduce((a, b) => a * b, 1);
  const shape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...innerShape] : innerShape;
  const out = backend.makeOutput(shape, "float32");
  const src = heapF32(backend, x);
  const dst = heapF32(backend, out);
  const native = nativeAddon();
  if (native) {
    native.sumLeading(src, dst, outer, scale);
    return out;
  }
  const acc = new Float64Array(inner);
  for (let r = 0, off = 0; r < outer; r++, off += inner) {
    for (let c = 0; c < inner; c++) acc[c] += src[off + c];
  }
  for (let c = 0; c < inner; c++) dst[c] = acc[c] * scale;
  return out;
}

export function sum(args: { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs: Record<string, unknown> }): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  const k = x.dtype === "float32" ? leadingAxes(x, attrs.axis as number | number[]) : -1;
  if (k < 0) return shippedKernel("Sum")!(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
  return sumLeading(backend, x, k, Boolean(attrs.keepDims), 1);
}

export const sumConfig: tf.KernelConfig = {
  kernelName: "Sum",
  backendName: "wasm",
  kernelFunc: mark(sum as unknown as tf.KernelFunc),
};
