/**
 * ResNet-18 for face images: BasicBlock ×[2,2,2,2] with widths 64-128-256-512, batch norm, ReLU,
 * global average pooling and a 7-way softmax, built with tf.layers so it saves in the standard
 * TensorFlow.js format. Layer names follow torchvision's (dots → underscores) so ImageNet weights
 * map onto it by name.
 */
import * as tf from "@tensorflow/tfjs";
import { EMOTIONS } from "./labels";
import { Rng } from "./rng";

/**
 * The first layers, which set the cost of every later layer (feature maps shrink by 4 in the
 * ImageNet stem, by 2 in "stride2", by 1 in "cifar").
 * - "imagenet": 7×7/2 conv + 3×3/2 max-pool (torchvision's; needed for ImageNet weight import)
 * - "imagenet-nopool": the ImageNet stem's 7×7/2 conv without its max-pool (24×24 maps for a 48×48
 *   face, 4× the ImageNet stem's compute; every weight of an "imagenet" model fits it, so such a
 *   model can be warm-started at the higher resolution)
 * - "stride2":  3×3/2 conv, no pool
 * - "cifar":    3×3/1 conv, no pool (full resolution: 16× the ImageNet stem's compute)
 */
export type Stem = "imagenet" | "imagenet-nopool" | "stride2" | "cifar";

export interface ResNetConfig {
  height: number;
  width: number;
  channels: 1 | 3;
  stem: Stem;
  classes: number;
  /** Residual stages: blocks per stage and their widths. */
  blocks: [number, number, number, number];
  widths: [number, number, number, number];
  /** Seed for weight initialisation: the same seed gives the same initial weights. */
  seed: number;
  /** Batch-norm moving-average momentum, Keras convention (PyTorch's 0.1 is 0.9 here). */
  bnMomentum: number;
  /**
   * Initial weights. "pytorch": PyTorch's nn.Conv2d / nn.Linear defaults (uniform ±1/√fan-in, the
   * fc bias too); "he": He-normal convolutions (truncated at 2σ), Glorot-uniform fc, zero fc bias
   * (fernb's default until the parity measurement, with zeroInitResidual). With batch norm after
   * every convolution, the scale of the initial kernels sets the effective learning rate: He-normal
   * kernels are 2.2× larger, and the same SGD step turned them 1.8–1.9× less (bench/parity_step.ts;
   * README, "Trainer parity with PyTorch").
   */
  init: "pytorch" | "he";
  /** Zero-initialise the last batch-norm gamma of each residual block (Goyal et al. 2017); PyTorch's default is 1. */
  zeroInitResidual: boolean;
}

/** The default for 48×48 grayscale faces (FER2013); the README explains the stem choice. */
export const DEFAULT_RESNET: ResNetConfig = {
  height: 48,
  width: 48,
  channels: 1,
  stem: "imagenet",
  classes: EMOTIONS.length,
  blocks: [2, 2, 2, 2],
  widths: [64, 128, 256, 512],
  seed: 42,
  bnMomentum: 0.9,
  // As PyTorch's nn.Conv2d / nn.Linear / nn.BatchNorm2d: with these, fernb's trainer learns as
  // fast as PyTorch on the same recipe (`npm run bench:parity`, README "Trainer parity").
  init: "pytorch",
  zeroInitResidual: false,
};

/** Name of the layer whose output is the logits (before softmax). */
export const LOGITS_LAYER = "fc";
/** Name of the last convolutional stage's output, the default Grad-CAM target. */
export const LAST_CONV_LAYER = "layer4_1_out";

export function createResNet18(config: Partial<ResNetConfig> = {}): tf.LayersModel {
  const c: ResNetConfig = { ...DEFAULT_RESNET, ...config };
  const rng = new Rng(c.seed);
  const seed = () => rng.nextUint32() % 2147483647;
  // PyTorch's default, kaiming_uniform(a=√5): uniform ±√(1/fan-in), i.e. variance scaling 1/3.
  const pytorchKernel = () => tf.initializers.varianceScaling({ scale: 1 / 3, mode: "fanIn", distribution: "uniform", seed: seed() });
  const conv = (filters: number, kernelSize: number, strides: number, name: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize,
      strides,
      padding: "same",
      useBias: false,
      kernelInitializer: c.init === "pytorch" ? pytorchKernel() : tf.initializers.heNormal({ seed: seed() }),
      name,
    });
  const bn = (name: string, zeroInit = false) =>
    tf.layers.batchNormalization({
      momentum: c.bnMomentum,
      epsilon: 1e-5,
      gammaInitializer: zeroInit && c.zeroInitResidual ? "zeros" : "ones",
      name,
    });
  const relu = (name: string) => tf.layers.reLU({ name });

  const input = tf.input({ shape: [c.height, c.width, c.channels], name: "image" });
  let x: tf.SymbolicTensor;
  if (c.stem === "imagenet" || c.stem === "imagenet-nopool") {
    x = conv(c.widths[0], 7, 2, "conv1").apply(input) as tf.SymbolicTensor;
    x = bn("bn1").apply(x) as tf.SymbolicTensor;
    x = relu("relu").apply(x) as tf.SymbolicTensor;
    if (c.stem === "imagenet") x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same", name: "maxpool" }).apply(x) as tf.SymbolicTensor;
  } else {
    x = conv(c.widths[0], 3, c.stem === "stride2" ? 2 : 1, "conv1").apply(input) as tf.SymbolicTensor;
    x = bn("bn1").apply(x) as tf.SymbolicTensor;
    x = relu("relu").apply(x) as tf.SymbolicTensor;
  }
  let inChannels = c.widths[0];
  for (let stage = 0; stage < 4; stage++) {
    for (let block = 0; block < c.blocks[stage]; block++) {
      const name = `layer${stage + 1}_${block}`;
      const width = c.widths[stage];
      const stride = stage > 0 && block === 0 ? 2 : 1;
      let y = conv(width, 3, stride, `${name}_conv1`).apply(x) as tf.SymbolicTensor;
      y = bn(`${name}_bn1`).apply(y) as tf.SymbolicTensor;
      y = relu(`${name}_relu1`).apply(y) as tf.SymbolicTensor;
      y = conv(width, 3, 1, `${name}_conv2`).apply(y) as tf.SymbolicTensor;
      // With zeroInitResidual, a zero last BN gamma: each block starts as the identity (Goyal et al. 2017).
      y = bn(`${name}_bn2`, true).apply(y) as tf.SymbolicTensor;
      let shortcut = x;
      if (stride !== 1 || inChannels !== width) {
        shortcut = conv(width, 1, stride, `${name}_downsample_0`).apply(x) as tf.SymbolicTensor;
        shortcut = bn(`${name}_downsample_1`).apply(shortcut) as tf.SymbolicTensor;
      }
      x = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
      x = relu(`${name}_out`).apply(x) as tf.SymbolicTensor;
      inChannels = width;
    }
  }
  x = tf.layers.globalAveragePooling2d({ name: "avgpool" }).apply(x) as tf.SymbolicTensor;
  const fcBound = 1 / Math.sqrt(c.widths[3]);
  const logits = tf.layers
    .dense({
      units: c.classes,
      kernelInitializer: c.init === "pytorch" ? pytorchKernel() : tf.initializers.glorotUniform({ seed: seed() }),
      biasInitializer: c.init === "pytorch" ? tf.initializers.randomUniform({ minval: -fcBound, maxval: fcBound, seed: seed() }) : "zeros",
      name: LOGITS_LAYER,
    })
    .apply(x) as tf.SymbolicTensor;
  const probs = tf.layers.activation({ activation: "softmax", name: "probs" }).apply(logits) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: probs, name: `resnet18_${c.stem.replace("-", "_")}` });
}

/** A model sharing `model`'s layers that outputs logits (for training losses and Grad-CAM). */
export function logitsModel(model: tf.LayersModel): tf.LayersModel {
  return tf.model({ inputs: model.inputs, outputs: model.getLayer(LOGITS_LAYER).output as tf.SymbolicTensor });
}
