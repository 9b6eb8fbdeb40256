/**
 * Shared helpers for fernb's custom kernels on the TensorFlow.js wasm backend.
 *
 * Custom kernels are composed from the wasm backend's own registered kernels (Conv2D,
 * BatchMatMul, Transpose, PadV2, ...) by calling their kernel functions directly, the way
 * tfjs backends compose kernels internally: inputs and outputs are `TensorInfo`s, and every
 * intermediate result must be released with `release()` (it decrements the backend's
 * reference count, so infos that share a buffer — e.g. reshapes — are handled correctly).
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

export type Info = tf.TensorInfo;
export type Backend = BackendWasm;

/**
 * The wasm backend's own kernel functions, captured before fernb overrides any of them, so
 * that an override can still fall back to (or build on) the shipped implementation.
 */
const shipped = new Map<string, tf.KernelFunc>();

/** Marks kernel functions written by fernb, so re-registration never captures them as "shipped". */
export const FERNB_KERNEL = Symbol.for("fernb.wasmKernel");

export function isFernbKernel(f: unknown): boolean {
  return typeof f === "function" && (f as unknown as Record<symbol, unknown>)[FERNB_KERNEL] === true;
}

/** Remembers the wasm backend's shipped kernel `name` (once), if it has one. */
export function captureShipped(name: string): void {
  if (shipped.has(name)) return;
  const cfg = tf.getKernel(name, "wasm");
  if (cfg && !isFernbKernel(cfg.kernelFunc)) shipped.set(name, cfg.kernelFunc);
}

export function shippedKernel(name: string): tf.KernelFunc | undefined {
  return shipped.get(name);
}

/**
 * Runs the wasm kernel `name` directly. Uses the shipped implementation when fernb has
 * replaced it (so fernb kernels never recurse into each other by accident), else the
 * currently registered one.
 */
export function run(
  name: string,
  backend: Backend,
  inputs: Record<string, Info>,
  attrs: Record<string, unknown> = {},
): Info {
  const f = shipped.get(name) ?? tf.getKernel(name, "wasm")?.kernelFunc;
  if (!f) throw new Error(`fernb wasm: kernel '${name}' is not registered for the wasm backend`);
  const out = f({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs: attrs as tf.NamedAttrMap });
  if (Array.isArray(out)) throw new Error(`fernb wasm: kernel '${name}' returned several outputs`);
  return out;
}

/** Releases intermediate results (safe for infos that share a buffer). */
export function release(backend: Backend, ...infos: (Info | null | undefined)[]): void {
  for (const i of infos) if (i) backend.disposeData(i.dataId);
}

/** A reshape that shares the buffer (adds a reference; release it like any other result). */
export function reshape(backend: Backend, x: Info, shape: number[]): Info {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

export function transpose(backend: Backend, x: Info, perm: number[]): Info {
  return run("Transpose", backend, { x }, { perm });
}

/**
 * Crops (negative amounts) and zero-pads (positive amounts) the two spatial dimensions of
 * an NHWC tensor. Returns the crop as a new result and the remaining non-negative padding,
 * which the caller passes to a convolution as explicit padding.
 */
export function cropForPadding(
  backend: Backend,
  x: Info,
  pads: [number, number, number, number],
): { x: Info; pads: [number, number, number, number] } {
  const [t, b, l, r] = pads;
  if (t >= 0 && b >= 0 && l >= 0 && r >= 0) {
    backend.incRef(x.dataId);
    return { x, pads };
  }
  const [n, h, w, c] = x.shape;
  const top = Math.max(0, -t), bottom = Math.max(0, -b), left = Math.max(0, -l), right = Math.max(0, -r);
  const cropped = run("Slice", backend, { x }, {
    begin: [0, top, left, 0],
    size: [n, h - top - bottom, w - left - right, c],
  });
  return { x: cropped, pads: [Math.max(0, t), Math.max(0, b), Math.max(0, l), Math.max(0, r)] };
}

/** Crops (negative amounts) and zero-pads (positive amounts) the spatial dims of an NHWC tensor. */
export function padSpatial(backend: Backend, x: Info, pads: [number, number, number, number]): Info {
  const c = cropForPadding(backend, x, pads);
  const [t, b, l, r] = c.pads;
  if (t === 0 && b === 0 && l === 0 && r === 0) return c.x;
  const out = run("PadV2", backend, { x: c.x }, { paddings: [[0, 0], [t, b], [l, r], [0, 0]], constantValue: 0 });
  release(backend, c.x);
  return out;
}

/**
 * Stride-1 Conv2D through the wasm backend's XNNPACK convolution, with explicit spatial
 * padding that may be negative (negative padding crops the input first).
 */
export function conv2dPadded(
  backend: Backend,
  x: Info,
  filter: Info,
  pads: [number, number, number, number],
  dilations: [number, number] = [1, 1],
): Info {
  const c = cropForPadding(backend, x, pads);
  const [t, b, l, r] = c.pads;
  try {
    return run("Conv2D", backend, { x: c.x, filter }, {
      strides: [1, 1],
      pad: [[0, 0], [t, b], [l, r], [0, 0]],
      dilations,
      dataFormat: "NHWC",
      dimRoundingMode: undefined,
    });
  } finally {
    release(backend, c.x);
  }
}

/**
 * Inserts (s-1) zeros after every row/column of an NHWC tensor: [N,H,W,C] ->
 * [N, H*sh, W*sw, C]. Used to express strided-convolution gradients as stride-1 convolutions.
 */
export function zeroInterleave(backend: Backend, x: Info, sh: number, sw: number): Info {
  if (sh === 1 && sw === 1) {
    backend.incRef(x.dataId);
    return x;
  }
  const [n, h, w, c] = x.shape;
  const r6 = reshape(backend, x, [n, h, 1, w, 1, c]);
  try {
    const p = run("PadV2", backend, { x: r6 }, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
      constantValue: 0,
    });
    const out = reshape(backend, p, [n, h * sh, w * sw, c]);
    release(backend, p);
    return out;
  } finally {
    release(backend, r6);
  }
}

/** A Float32Array view of a tensor's data on the wasm heap (valid until the heap grows). */
export function heapF32(backend: Backend, x: Info): Float32Array {
  return backend.typedArrayFromHeap(x) as Float32Array;
}

/** Gives a kernel function fernb's marker. */
export function mark<F extends tf.KernelFunc>(f: F): F {
  (f as unknown as Record<symbol, unknown>)[FERNB_KERNEL] = true;
  return f;
}

/** What tfjs passes to a kernel function. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: Backend;
  attrs: Record<string, unknown>;
}

export type Padding = "valid" | "same" | number | tf.backend_util.ExplicitPadding;

/** Attributes shared by the convolution gradient kernels. */
export interface ConvGradAttrs {
  strides: number | [number, number];
  pad: Padding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
}
