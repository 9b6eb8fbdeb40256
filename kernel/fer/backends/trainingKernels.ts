/**
 * Batch norm in training mode, and ReLU's gradient, as one kernel each where the active backend has
 * them (the wasm backend with fernb's native addon registers them: ./wasmNative.ts).
 *
 * Why: in training, tf.layers' BatchNormalization builds its output from `tf.moments` and
 * `batchNorm`, and its gradient from their elementwise gradients; ReLU's gradient is
 * `dy · cast(step(x))`. On the wasm backend those are single-threaded passes, about 25 per batch-norm
 * layer and step: in a ResNet-18 step (369 ms, imagenet stem, batch 64) `Multiply` took 49 ms in 384
 * calls and `Sub` 13 ms in 123. Here the forward pass is one kernel (the batch's mean and variance,
 * then the normalisation: three passes over x) and the backward one (two passes over x and dy).
 *
 * What changes, and what does not:
 * - Only BatchNormalization's *training* path, and only where the kernel exists for the active
 *   backend, the normalised axis is the last one (NHWC: what fernb's models use) and the layer has
 *   both gamma and beta; otherwise tf.layers' own code runs. Inference (prediction, evaluation,
 *   Grad-CAM's gradients) is untouched.
 * - The moving mean and variance are updated with the same tf ops, in the same order, as tf.layers
 *   (`moving − (moving − batch) · (1 − momentum)`), from the batch's biased variance like
 *   `tf.moments`.
 * - The gradient is the exact one, through the batch's mean and variance as well, and it also
 *   carries gradients that reach the returned mean and variance directly.
 * - ReLU's gradient keeps tf's rule (dy where x > 0, else 0; at x = 0 the gradient is 0). Other
 *   backends keep tf's own gradient function.
 */
import * as tf from "@tensorflow/tfjs";

export const BATCH_NORM_TRAINING_KERNEL = "FernbBatchNormTraining";
export const BATCH_NORM_TRAINING_GRAD_KERNEL = "FernbBatchNormTrainingGrad";
export const RELU_GRAD_KERNEL = "FernbReluGrad";

const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/** True when the active backend normalises batches in one kernel (the wasm backend with the native addon). */
export function hasTrainingBatchNorm(): boolean {
  return hasKernel(BATCH_NORM_TRAINING_KERNEL) && hasKernel(BATCH_NORM_TRAINING_GRAD_KERNEL);
}

/**
 * Batch norm with this batch's statistics over every axis but the last: returns [out, mean,
 * variance] (variance biased, like `tf.moments`). Differentiable with respect to x, scale and offset.
 * Needs hasTrainingBatchNorm().
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  const inputs = { x, scale, offset } as unknown as tf.NamedTensorMap;
  return tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, inputs, { epsilon }) as unknown as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

/** The parts of tf.layers' BatchNormalization this module reads (tfjs-layers 4.x). */
interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: LayerVariable;
  beta?: LayerVariable;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}
interface LayerVariable {
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
}
type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** tf.layers' update: moving − (moving − value) · (1 − momentum), in the same ops. */
function movingAverage(variable: LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const orig = variable.read();
    variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - momentum)));
  });
}

let installed = false;

/**
 * Registers the gradient of the batch-norm kernel, fernb's ReLU gradient and the BatchNormalization
 * training path that uses the kernel. Once per process; harmless where no backend has the kernels.
 */
export function installTrainingKernels(): void {
  if (installed) return;
  installed = true;

  tf.registerGradient({
    kernelName: BATCH_NORM_TRAINING_KERNEL,
    inputsToSave: ["x", "scale"],
    outputsToSave: [false, true, true],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: unknown) => {
      const [dy, dMean, dVariance] = dys as tf.Tensor[];
      const [x, scale, mean, variance] = saved;
      const inputs = { x, dy, mean, variance, scale, dMean, dVariance } as unknown as tf.NamedTensorMap;
      const [dx, dScale, dOffset] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, inputs, { epsilon: (attrs as { epsilon: number }).epsilon }) as tf.Tensor[];
      return { x: () => dx, scale: () => dScale, offset: () => dOffset };
    },
  });

  const reluGradient = tf.getGradient("Relu");
  if (reluGradient) {
    tf.registerGradient({
      ...reluGradient,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        const [x] = saved;
        if (!hasKernel(RELU_GRAD_KERNEL) || x.dtype !== "float32" || Array.isArray(dy)) return reluGradient.gradFunc(dy, saved, attrs);
        return { x: () => tf.engine().runKernel(RELU_GRAD_KERNEL, { x, dy } as unknown as tf.NamedTensorMap, {}) as tf.Tensor };
      },
    });
  }

  const entry = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization as unknown as [{ prototype: { call: Call } }] | undefined;
  if (!entry) return;
  const proto = entry[0].prototype;
  const layerCall = proto.call;
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    const x = Array.isArray(inputs) && inputs.length === 1 ? inputs[0] : inputs;
    const fits = kwargs?.training === true && !Array.isArray(x) && x.dtype === "float32" && x.rank >= 2 &&
      (this.axis === -1 || this.axis === x.rank - 1) && this.gamma != null && this.beta != null && hasTrainingBatchNorm();
    if (!fits) return layerCall.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const [out, mean, variance] = batchNormTraining(x as tf.Tensor, this.gamma!.read() as tf.Tensor1D, this.beta!.read() as tf.Tensor1D, this.epsilon);
      movingAverage(this.movingMean, mean, this.momentum);
      movingAverage(this.movingVariance, variance, this.momentum);
      return out;
    });
  };
}
