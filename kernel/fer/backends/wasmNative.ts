/**
 * Native kernels for the wasm backend: Conv2D, FusedConv2D, Conv2DBackpropInput and
 * Conv2DBackpropFilter computed by oneDNN's direct NHWC convolutions where the addon was built with
 * libdnnl-dev (./native/dnnlconv.h), else by OpenBLAS (im2col + one SGEMM each), in a small Node-API addon,
 * ./native/kernels.c, on the tensors where they already are (the wasm heap: no copies); the same
 * addon runs FusedBatchNorm, Relu, MaxPoolGrad, a one-pass SGD step, and the leading-axes pass of fernb's Sum/Mean kernels
 * (./wasmSum.ts) once registered.
 *
 * Why: convolutions are ~75% of a ResNet-18 training step on wasm, and WebAssembly's 128-bit SIMD
 * without fused multiply-add runs them at about a quarter of what the same CPU does natively with
 * AVX2/AVX-512 FMA. Everything else (batch norm, the optimizer, pooling…) stays on the wasm kernels.
 *
 * The addon is built by `npm run build` into dist/native/ where a C compiler, Node's headers and
 * OpenBLAS (Debian: libopenblas-dev) exist; without it, or with FERNB_NATIVE=0, the wasm
 * kernels are used and the backend description says why. Cases the addon does not cover (NCHW,
 * dilation, other dtypes, activations other than linear/relu) go to the wasm kernels.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { conv2dBackpropFilter } from "./wasmConv2dBackpropFilter";
import { conv2dBackpropInput } from "./wasmConv2dBackpropInput";
import { maxPoolGrad as maxPoolGradWasm } from "./wasmMaxPoolGrad";
import { BATCH_NORM_TRAINING_GRAD_KERNEL, BATCH_NORM_TRAINING_KERNEL, RELU_GRAD_KERNEL, installTrainingKernels } from "./trainingKernels";
import { type Backend, type Info, type KernelArgs, type Padding, captureShipped, heapF32, mark, run } from "./wasmUtil";

interface NativeAddon {
  /** filterKey > 0 names w's values (the same key only for the same values): oneDNN then keeps w reordered for reuse. */
  conv2d(x: Float32Array, w: Float32Array, out: Float32Array, dims: Int32Array, filterKey?: number): void;
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: Int32Array): void;
  sumLeading(x: Float32Array, out: Float32Array, outer: number, scale: number): void;
  batchNorm(x: Float32Array, mean: Float32Array, variance: Float32Array, offset: Float32Array | null, scale: Float32Array | null, epsilon: number, out: Float32Array): void;
  relu(x: Float32Array, out: Float32Array): void;
  reluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  batchNormTraining(x: Float32Array, scale: Float32Array | null, offset: Float32Array | null, epsilon: number, out: Float32Array, mean: Float32Array, variance: Float32Array): void;
  batchNormTrainingGrad(
    x: Float32Array, dy: Float32Array, mean: Float32Array, variance: Float32Array, scale: Float32Array | null,
    dMean: Float32Array | null, dVariance: Float32Array | null, epsilon: number, dx: Float32Array, dScale: Float32Array, dOffset: Float32Array,
  ): void;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, dims: Int32Array): void;
  sgdNesterov(w: Float32Array, g: Float32Array, v: Float32Array, wOut: Float32Array, vOut: Float32Array, lr: number, momentum: number, weightDecay: number): void;
  setThreads(n: number): void;
  threads(): number;
  config(): string;
  /** "oneDNN 2.6.3" when the convolutions are oneDNN's (built with libdnnl-dev), else null. */
  dnnl?(): string | null;
  /** What computes convolution `which` (0 forward, 1 input gradient, 2 filter gradient) of that shape. */
  convImpl?(which: number, dims: Int32Array): string;
}

export const NATIVE_FILE = "fernb_native.node";

/** Where `npm run build` puts the addon: <package root>/dist/native/ (FERNB_NATIVE_FILE: another build, for experiments). */
export function nativePath(): string | undefined {
  if (process.env.FERNB_NATIVE_FILE) return existsSync(process.env.FERNB_NATIVE_FILE) ? path.resolve(process.env.FERNB_NATIVE_FILE) : undefined;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "dist", "native", NATIVE_FILE);
    if (existsSync(candidate)) return candidate;
    const beside = path.join(dir, "native", NATIVE_FILE); // dist/kernel.js → dist/native/
    if (existsSync(beside)) return beside;
    if (path.dirname(dir) === dir) return undefined;
  }
}

let addon: NativeAddon | undefined;
let unavailable: string | undefined;
let registered = false;

/** The addon, once registerNativeKernels has registered the native kernels (else undefined). */
export function nativeAddon(): NativeAddon | undefined {
  return registered ? addon : undefined;
}

/** Loads the addon once. Returns it, or why it is not available. */
export function loadNative(): { addon?: NativeAddon; reason?: string } {
  if (addon || unavailable) return { addon, reason: unavailable };
  if (process.env.FERNB_NATIVE === "0") return { reason: (unavailable = "turned off (FERNB_NATIVE=0)") };
  const file = nativePath();
  if (!file) return { reason: (unavailable = `not built (no dist/native/${NATIVE_FILE}: npm run build needs a C compiler and libopenblas-dev)`) };
  try {
    chooseOpenBlasCore();
    quietOpenMp();
    addon = require(file) as NativeAddon;
    return { addon };
  } catch (e) {
    unavailable = `${file} did not load: ${String((e as Error).message).split("\n")[0]}`;
    return { reason: unavailable };
  }
}

/**
 * oneDNN's threads are OpenMP's (libgomp), which by default spin for a while after each parallel
 * region: between two convolutions they took the cores the wasm backend's threads needed. On this
 * 2-core machine, with another training run on both cores, `npm run bench` trained 82.9 img/s with
 * OMP_WAIT_POLICY=PASSIVE, 39.8 with it unset (im2col + OpenBLAS: 71.5). libgomp reads it when it
 * loads, with the addon, so it is set before; unless the user set it.
 */
function quietOpenMp(): void {
  process.env.OMP_WAIT_POLICY ??= "PASSIVE";
}

/**
 * OpenBLAS picks its kernels from the CPU model when it loads; releases before 0.3.22 (Debian 12
 * ships 0.3.21) do not know AMD Zen 4 and fall back to the AVX2 (Haswell) kernels, half the speed
 * of the AVX-512 (SkylakeX) ones measured on such a CPU. With every AVX-512 subset those kernels use,
 * ask for them, unless the user set OPENBLAS_CORETYPE.
 */
function chooseOpenBlasCore(): void {
  if (process.env.OPENBLAS_CORETYPE || process.platform !== "linux") return;
  let flags: Set<string>;
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("flags"));
    flags = new Set((line ?? "").split(":")[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return;
  }
  if (["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].every((f) => flags.has(f))) process.env.OPENBLAS_CORETYPE = "SkylakeX";
}

/** [N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, CO] for the addon. */
export function convDims(info: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
    info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth, info.outChannels,
  ]);
}

function covered(info: tf.backend_util.Conv2DInfo, ...tensors: Info[]): boolean {
  return info.dilationHeight === 1 && info.dilationWidth === 1 && tensors.every((t) => t.dtype === "float32" && t.shape.every((d) => d > 0));
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: Padding;
  dataFormat: "NHWC" | "NCHW";
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
}

function convInfo(x: Info, filter: Info, a: ConvAttrs): tf.backend_util.Conv2DInfo | undefined {
  if (a.dataFormat === "NCHW") return undefined;
  return tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false, "channelsLast",
  );
}

/**
 * A number for the values of a tensor: tf.js never changes a tensor's data in place (a variable's
 * assign gives it another dataId), so one dataId always holds the same values, and a key is never
 * given to two dataIds. The addon keeps oneDNN's reordered copy of a filter under its key.
 */
const filterKeys = new WeakMap<object, number>();
let nextFilterKey = 1;
function filterKey(t: Info): number {
  let key = filterKeys.get(t.dataId as object);
  if (key === undefined) filterKeys.set(t.dataId as object, (key = nextFilterKey++));
  return key;
}

/** out = conv(x, filter) by the addon; undefined when the case is not covered. */
function nativeForward(backend: Backend, x: Info, filter: Info, attrs: ConvAttrs): Info | undefined {
  const info = convInfo(x, filter, attrs);
  if (!addon || !info || !covered(info, x, filter)) return undefined;
  const out = backend.makeOutput(info.outShape, "float32");
  addon.conv2d(heapF32(backend, x), heapF32(backend, filter), heapF32(backend, out), convDims(info), filterKey(filter));
  return out;
}

function conv2d(args: KernelArgs): Info {
  const { x, filter } = args.inputs as { x: Info; filter: Info };
  return nativeForward(args.backend, x, filter, args.attrs as unknown as ConvAttrs)
    ?? run("Conv2D", args.backend, args.inputs as Record<string, Info>, args.attrs);
}

function fusedConv2d(args: KernelArgs): Info {
  const { x, filter, bias, preluActivationWeights } = args.inputs as { x: Info; filter: Info; bias?: Info; preluActivationWeights?: Info };
  const activation = (args.attrs.activation as string | undefined) ?? "linear";
  const simple = !preluActivationWeights && (activation === "linear" || activation === "relu");
  const biasOk = !bias || (bias.dtype === "float32" && bias.shape.reduce((a, b) => a * b, 1) === filter.shape[3]);
  const out = simple && biasOk ? nativeForward(args.backend, x, filter, args.attrs as unknown as ConvAttrs) : undefined;
  if (!out) return run("FusedConv2D", args.backend, args.inputs as Record<string, Info>, args.attrs);
  if (bias || activation === "relu") {
    const y = heapF32(args.backend, out);
    const b = bias ? heapF32(args.backend, bias) : undefined;
    const co = filter.shape[3];
    const relu = activation === "relu";
    for (let i = 0; i < y.length; i += co) {
      for (let c = 0; c < co; c++) {
        let v = y[i + c] + (b ? b[c] : 0);
        if (relu && v < 0) v = 0;
        y[i + c] = v;
      }
    }
  }
  return out;
}

function backpropInput(args: KernelArgs): Info {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  const info = attrs.dataFormat === "NCHW" ? undefined : tf.backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, "channelsLast",
  );
  if (!addon || !info || !covered(info, dy, filter) || attrs.inputShape.some((d) => d <= 0)) return conv2dBackpropInput(args);
  const dx = args.backend.makeOutput(attrs.inputShape, "float32");
  addon.conv2dBackpropInput(heapF32(args.backend, dy), heapF32(args.backend, filter), heapF32(args.backend, dx), convDims(info));
  return dx;
}

function backpropFilter(args: KernelArgs): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const attrs = args.attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  const info = attrs.dataFormat === "NCHW" ? undefined : tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, "channelsLast",
  );
  if (!addon || !info || !covered(info, x, dy)) return conv2dBackpropFilter(args);
  const dw = args.backend.makeOutput(attrs.filterShape, "float32");
  addon.conv2dBackpropFilter(heapF32(args.backend, x), heapF32(args.backend, dy), heapF32(args.backend, dw), convDims(info));
  return dw;
}

/** Batch norm with per-channel [C] statistics over the last axis of float32 x (what layers use). */
function fusedBatchNorm(args: KernelArgs): Info {
  const { x, mean, variance, offset, scale } = args.inputs as { x: Info; mean: Info; variance: Info; offset?: Info; scale?: Info };
  const c = x.shape[x.shape.length - 1];
  const perChannel = (t?: Info) => !t || (t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === c);
  if (!addon || x.dtype !== "float32" || !(c > 0) || x.shape.some((d) => d <= 0) || ![mean, variance, offset, scale].every(perChannel)) {
    return run("FusedBatchNorm", args.backend, args.inputs as Record<string, Info>, args.attrs);
  }
  const out = args.backend.makeOutput(x.shape, "float32");
  const view = (t?: Info) => (t ? heapF32(args.backend, t) : null);
  addon.batchNorm(heapF32(args.backend, x), view(mean)!, view(variance)!, view(offset), view(scale), Number(args.attrs.varianceEpsilon), heapF32(args.backend, out));
  return out;
}

function relu(args: KernelArgs): Info {
  const { x } = args.inputs as { x: Info };
  if (!addon || x.dtype !== "float32" || x.shape.some((d) => d <= 0)) {
    return run("Relu", args.backend, args.inputs as Record<string, Info>, args.attrs);
  }
  const out = args.backend.makeOutput(x.shape, "float32");
  addon.relu(heapF32(args.backend, x), heapF32(args.backend, out));
  return out;
}

/** Relu's gradient (./trainingKernels.ts): dx = dy where x > 0, else 0, in one pass. */
function reluGrad(args: KernelArgs): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const same = x.dtype === "float32" && dy.dtype === "float32" && tf.util.arraysEqual(x.shape, dy.shape);
  if (!addon || !same) throw new Error(`${RELU_GRAD_KERNEL}: x and dy must be float32 tensors of one shape`);
  const dx = args.backend.makeOutput(x.shape, "float32");
  if (x.shape.every((d) => d > 0)) addon.reluGrad(heapF32(args.backend, x), heapF32(args.backend, dy), heapF32(args.backend, dx));
  return dx;
}

/** Channels of x (its last axis) when x is a non-empty float32 tensor and every other input a float32 [C]. */
function channelsOf(x: Info, ...perChannel: (Info | undefined)[]): number {
  const c = x.shape[x.shape.length - 1];
  const ok = x.dtype === "float32" && x.shape.length >= 1 && x.shape.every((d) => d > 0) &&
    perChannel.every((t) => !t || (t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === c));
  return ok ? c : 0;
}

/**
 * Batch norm in training mode (./trainingKernels.ts): inputs {x, scale?, offset?}, attrs {epsilon};
 * outputs [out, mean, variance] with this batch's per-channel (last axis) mean and biased variance.
 */
function batchNormTraining(args: KernelArgs): Info[] {
  const { x, scale, offset } = args.inputs as { x: Info; scale?: Info; offset?: Info };
  const c = channelsOf(x, scale, offset);
  if (!addon || !c) throw new Error(`${BATCH_NORM_TRAINING_KERNEL}: x must be a non-empty float32 tensor and scale, offset float32 [channels]`);
  const b = args.backend;
  const out = b.makeOutput(x.shape, "float32");
  const mean = b.makeOutput([c], "float32");
  const variance = b.makeOutput([c], "float32");
  const view = (t?: Info) => (t ? heapF32(b, t) : null);
  addon.batchNormTraining(heapF32(b, x), view(scale), view(offset), Number(args.attrs.epsilon), heapF32(b, out), heapF32(b, mean), heapF32(b, variance));
  return [out, mean, variance];
}

/** Its gradient: inputs {x, dy, mean, variance, scale?, dMean?, dVariance?}, attrs {epsilon}; outputs [dx, dScale, dOffset]. */
function batchNormTrainingGrad(args: KernelArgs): Info[] {
  const { x, dy, mean, variance, scale, dMean, dVariance } = args.inputs as Record<string, Info | undefined> as { x: Info; dy: Info; mean: Info; variance: Info; scale?: Info; dMean?: Info; dVariance?: Info };
  const c = channelsOf(x, mean, variance, scale, dMean, dVariance);
  const sameShape = dy.dtype === "float32" && tf.util.arraysEqual(dy.shape, x.shape);
  if (!addon || !c || !sameShape) throw new Error(`${BATCH_NORM_TRAINING_GRAD_KERNEL}: x and dy must be float32 tensors of one shape, the statistics float32 [channels]`);
  const b = args.backend;
  const dx = b.makeOutput(x.shape, "float32");
  const dScale = b.makeOutput([c], "float32");
  const dOffset = b.makeOutput([c], "float32");
  const view = (t?: Info) => (t ? heapF32(b, t) : null);
  addon.batchNormTrainingGrad(
    heapF32(b, x), heapF32(b, dy), heapF32(b, mean), heapF32(b, variance), view(scale), view(dMean), view(dVariance),
    Number(args.attrs.epsilon), heapF32(b, dx), heapF32(b, dScale), heapF32(b, dOffset),
  );
  return [dx, dScale, dOffset];
}

/** MaxPoolGrad: fernb's rule (./wasmMaxPoolGrad.ts: the first maximum of each window gets the gradient) in C. */
function maxPoolGrad(args: KernelArgs): Info {
  const { dy, input: x } = args.inputs as { dy: Info; input: Info };
  const a = args.attrs as { filterSize: number | [number, number]; strides: number | [number, number]; pad: Padding; dimRoundingMode?: "floor" | "round" | "ceil" };
  if (!addon || x.dtype !== "float32" || dy.dtype !== "float32" || x.shape.some((d) => d <= 0)) return maxPoolGradWasm(args);
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const out = args.backend.makeOutput(x.shape, "float32");
  const dims = Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth, info.inChannels,
  ]);
  addon.maxPoolGrad(heapF32(args.backend, x), heapF32(args.backend, dy), heapF32(args.backend, out), dims);
  return out;
}

/**
 * One SGD step with Nesterov momentum and weight decay in one pass (fernb's own kernel, used by the
 * optimizer in ../train.ts where the active backend has it): inputs {w, g, v}, attrs {lr, momentum,
 * weightDecay}; outputs [new w, new v]. The tf-op version makes eight passes over every weight.
 */
export const SGD_NESTEROV_KERNEL = "FernbSgdNesterov";

function sgdNesterov(args: KernelArgs): Info[] {
  const { w, g, v } = args.inputs as { w: Info; g: Info; v: Info };
  const { lr, momentum, weightDecay } = args.attrs as { lr: number; momentum: number; weightDecay: number };
  const same = (t: Info) => t.dtype === "float32" && tf.util.arraysEqual(t.shape, w.shape);
  if (!addon || ![w, g, v].every(same)) throw new Error(`${SGD_NESTEROV_KERNEL}: w, g and v must be float32 tensors of one shape`);
  const wOut = args.backend.makeOutput(w.shape, "float32");
  const vOut = args.backend.makeOutput(w.shape, "float32");
  const b = args.backend;
  addon.sgdNesterov(heapF32(b, w), heapF32(b, g), heapF32(b, v), heapF32(b, wOut), heapF32(b, vOut), lr, momentum, weightDecay);
  return [wOut, vOut];
}

const config = (kernelName: string, f: (args: KernelArgs) => Info | Info[]): tf.KernelConfig =>
  ({ kernelName, backendName: "wasm", kernelFunc: mark(f as unknown as tf.KernelFunc) });

export const NATIVE_KERNEL_CONFIGS: readonly tf.KernelConfig[] = [
  config("Conv2D", conv2d),
  config("FusedConv2D", fusedConv2d),
  config("Conv2DBackpropInput", backpropInput),
  config("Conv2DBackpropFilter", backpropFilter),
  config("FusedBatchNorm", fusedBatchNorm),
  config("Relu", relu),
  config(RELU_GRAD_KERNEL, reluGrad),
  config(BATCH_NORM_TRAINING_KERNEL, batchNormTraining),
  config(BATCH_NORM_TRAINING_GRAD_KERNEL, batchNormTrainingGrad),
  config("MaxPoolGrad", maxPoolGrad),
  config(SGD_NESTEROV_KERNEL, sgdNesterov),
];

export interface NativeKernelStatus {
  /** e.g. "OpenBLAS 0.3.21 … (Haswell kernels)", when the native kernels are registered. */
  library?: string;
  /** e.g. "oneDNN 2.6.3" when the convolutions are oneDNN's (the addon was built with libdnnl-dev). */
  convolutions?: string;
  /** Why they are not, otherwise. */
  reason?: string;
}

/**
 * Registers the native convolution kernels for 'wasm' (over fernb's wasm ones) when the addon
 * loads, with `threads` OpenBLAS threads. Safe to call repeatedly.
 */
export function registerNativeKernels(threads: number): NativeKernelStatus {
  const { addon: a, reason } = loadNative();
  if (!a) return { reason };
  a.setThreads(Math.max(1, threads));
  for (const cfg of NATIVE_KERNEL_CONFIGS) {
    captureShipped(cfg.kernelName);
    const current = tf.getKernel(cfg.kernelName, "wasm");
    if (current?.kernelFunc === cfg.kernelFunc) continue;
    if (current) tf.unregisterKernel(cfg.kernelName, "wasm");
    tf.registerKernel(cfg);
  }
  registered = true;
  installTrainingKernels();
  return { library: a.config(), convolutions: a.dnnl?.() ?? undefined };
}
