/**
 * Cast for the wasm backend: a cast to the tensor's own dtype shares the buffer instead of
 * copying it (tfjs casts float32 → float32 in many gradients, e.g. ReLU's). Other casts use
 * the shipped kernel.
 */
import * as tf from "@tensorflow/tfjs";
import { type Backend, type Info, mark, shippedKernel } from "./wasmUtil";

export function cast(args: { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs: Record<string, unknown> }): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  if (attrs.dtype === x.dtype && x.dtype !== "string") {
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }
  return shippedKernel("Cast")!(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
}

export const castConfig: tf.KernelConfig = {
  kernelName: "Cast",
  backendName: "wasm",
  kernelFunc: mark(cast as unknown as tf.KernelFunc),
};
