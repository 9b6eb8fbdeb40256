/**
 * Identity for the wasm backend without a copy: tfjs tensors are immutable, so the output
 * shares the input's buffer (one more reference), as the cpu backend and wasm's own Reshape
 * do. The shipped kernel copies the whole buffer (tf.clone, gradients, optimizers, layers
 * all call Identity), which cost ~170 MB of heap in a ResNet-18 training step.
 */
import * as tf from "@tensorflow/tfjs";
import { type Backend, type Info, mark, shippedKernel } from "./wasmUtil";

export function identity(args: { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: Record<string, unknown> }): Info {
  const { inputs, backend } = args;
  const x = inputs.x as Info;
  if (x.dtype === "string") return shippedKernel("Identity")!(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: "Identity",
  backendName: "wasm",
  kernelFunc: mark(identity as unknown as tf.KernelFunc),
};
