/**
 * Mean for the wasm backend: the leading-axes fast path of ./wasmSum.ts (batch-norm
 * moments reduce NHWC over [0, 1, 2]); other reductions use the shipped kernel.
 */
import * as tf from "@tensorflow/tfjs";
import { leadingAxes, sumLeading } from "./wasmSum";
import { type Backend, type Info, mark, shippedKernel } from "./wasmUtil";

export function mean(args: { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs: Record<string, unknown> }): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  const k = x.dtype === "float32" ? leadingAxes(x, attrs.axis as number | number[]) : -1;
  if (k < 0) return shippedKernel("Mean")!(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
  const n = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  return sumLeading(backend, x, k, Boolean(attrs.keepDims), 1 / n);
}

export const meanConfig: tf.KernelConfig = {
  kernelName: "Mean",
  backendName: "wasm",
  kernelFunc: mark(mean as unknown as tf.KernelFunc),
};
