/**
 * Model input, in one place: how a face's pixels become what the network sees, and how its
 * outputs are read back. Pixels are scaled to [0,1] (uint8 0..255 divided by 255; float images,
 * such as an augmenter's output, are taken to be in [0,1] already), then `(x - mean) / std` with
 * the normalisation the model was trained with (its card's input.mean/std), into an NHWC float32
 * tensor. Training, evaluation, prediction, Grad-CAM, curation and the review grid all build their
 * batches here, so they cannot disagree about the same image (test/unit/modelInput.test.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { EMOTIONS } from "./labels";
import type { Rng } from "./rng";

/** The pixel normalisation a model was trained with: pixels in [0,1], then (x - mean) / std. */
export interface Normalization {
  mean: number;
  std: number;
}

/** Height × width × channels of one image (HWC, row-major). */
export interface ImageShape {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** What training (and every batched prediction) needs of a data set (FaceDataset provides it). */
export interface TrainingData extends ImageShape {
  readonly size: number;
  readonly labels: Int32Array;
  image(i: number): Uint8Array;
  fingerprint(): string;
}

/** Per-image augmentation (augment.ts provides one): HWC uint8 in, HWC float32 in [0,1] out. */
export interface Augmenter {
  apply(image: Uint8Array, height: number, width: number, channels: number, rng: Rng, out?: Float32Array): Float32Array;
}

/** One image's pixels: uint8 (0..255), or float in [0,1] (an augmenter's output). */
export type Pixels = Uint8Array | Uint8ClampedArray | Float32Array;

/**
 * Writes the model input of one image into `out` from `offset`: `(pixel / 255 - mean) / std` for
 * uint8 pixels, `(pixel - mean) / std` for float pixels already in [0,1]. The one place this is written.
 */
export function normalizeInto(image: Pixels, norm: Normalization, out: Float32Array, offset = 0): Float32Array {
  const scale = image instanceof Float32Array ? 1 : 255;
  const { mean, std } = norm;
  const n = image.length;
  for (let k = 0; k < n; k++) out[offset + k] = (image[k] / scale - mean) / std;
  return out;
}

/**
 * The mean and standard deviation of `data`'s pixels (scaled to [0,1]): the normalisation a model
 * trained on it uses (saved in its card as input.mean/std).
 */
export function datasetNormalization(data: TrainingData): Normalization {
  let sum = 0;
  let sumSq = 0;
  let count = 0;
  for (let i = 0; i < data.size; i++) {
    const img = data.image(i);
    for (let k = 0; k < img.length; k++) {
      const v = img[k] / 255;
      sum += v;
      sumSq += v * v;
    }
    count += img.length;
  }
  if (count === 0) return { mean: 0.5, std: 0.25 };
  const mean = sum / count;
  return { mean, std: Math.sqrt(Math.max(sumSq / count - mean * mean, 1e-6)) };
}

/** An NHWC tensor of the given images (each HWC of `shape`), normalised. */
export function inputBatch(images: readonly Pixels[], shape: ImageShape, norm: Normalization): tf.Tensor4D {
  const { height: h, width: w, channels: c } = shape;
  const per = h * w * c;
  const x = new Float32Array(images.length * per);
  images.forEach((img, b) => {
    if (img.length !== per) throw new RangeError(`image ${b} has ${img.length} values, not ${h}×${w}×${c} = ${per}`);
    normalizeInto(img, norm, x, b * per);
  });
  return tf.tensor4d(x, [images.length, h, w, c]);
}

/** A normalised NHWC batch of `data`'s images at `indices` (augmented when `augment` and `rng` are given). */
export function batchTensor(data: TrainingData, indices: ArrayLike<number>, norm: Normalization, augment?: Augmenter, rng?: Rng): tf.Tensor4D {
  const { height: h, width: w, channels: c } = data;
  const per = h * w * c;
  const x = new Float32Array(indices.length * per);
  const scratch = augment && rng ? new Float32Array(per) : undefined;
  for (let b = 0; b < indices.length; b++) {
    const img = data.image(indices[b]);
    normalizeInto(scratch ? augment!.apply(img, h, w, c, rng!, scratch) : img, norm, x, b * per);
  }
  return tf.tensor4d(x, [indices.length, h, w, c]);
}

/**
 * Class probabilities (rows of the model's outputs, row-major) for `data`'s images at `indices`
 * (default: all, in order), without augmentation, `batchSize` at a time.
 */
export async function predictProbabilities(model: tf.LayersModel, data: TrainingData, norm: Normalization, batchSize = 128, indices?: ArrayLike<number>): Promise<Float32Array> {
  const classes = (model.outputs[0].shape[1] as number) ?? EMOTIONS.length;
  const n = indices ? indices.length : data.size;
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const idx = Array.from({ length: count }, (_, k) => (indices ? indices[start + k] : start + k));
    const probs = tf.tidy(() => model.predict(batchTensor(data, idx, norm)) as tf.Tensor);
    out.set(await probs.data(), start * classes);
    probs.dispose();
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** Probabilities of already decoded images (HWC of `shape`), `batchSize` at a time: one row per image. */
export async function predictImages(model: tf.LayersModel, images: readonly Pixels[], shape: ImageShape, norm: Normalization, batchSize = 64): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const chunk = images.slice(start, start + batchSize);
    const probs = tf.tidy(() => model.predict(inputBatch(chunk, shape, norm)) as tf.Tensor);
    const values = (await probs.data()) as Float32Array;
    probs.dispose();
    const k = values.length / chunk.length;
    for (let b = 0; b < chunk.length; b++) rows.push(values.slice(b * k, (b + 1) * k));
  }
  return rows;
}

/** Index of the largest of `length` values from `offset` (the first on ties). */
export function argmax(values: ArrayLike<number>, offset = 0, length = values.length - offset): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[offset + k] > values[offset + best]) best = k;
  return best;
}

/** The predicted class of each row of an n × classes row-major matrix. */
export function argmaxRows(probs: ArrayLike<number>, classes: number): Int32Array {
  const n = Math.floor(probs.length / classes);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = argmax(probs, i * classes, classes);
  return out;
}

/** Test-time augmentation: none, the mirror image, or ten crops (see {@link testTimeViews}). */
export type TestTimeAugmentation = "none" | "flip" | "tencrop";

/**
 * The views of a batch that test-time augmentation averages over: the batch itself ("none"), the
 * batch and its mirror image ("flip"), or the ten crops of {@link tenCrops} ("tencrop"). The first
 * view of "none" and "flip" is `x` itself: callers dispose only the others.
 */
export function testTimeViews(x: tf.Tensor4D, tta: TestTimeAugmentation): tf.Tensor4D[] {
  if (tta === "none") return [x];
  if (tta === "flip") return [x, tf.image.flipLeftRight(x)];
  return tenCrops(x);
}

/** The five crops (corners + centre) of a reflect-padded batch, and their mirror images (ten-crop test-time augmentation). */
export function tenCrops(x: tf.Tensor4D): tf.Tensor4D[] {
  return tf.tidy(() => tenCropsOf(x));
}

function tenCropsOf(x: tf.Tensor4D): tf.Tensor4D[] {
  const [, h, w] = x.shape;
  const pad = Math.max(2, Math.round(h / 12));
  const padded = tf.mirrorPad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], "reflect");
  const offsets = [[0, 0], [0, 2 * pad], [2 * pad, 0], [2 * pad, 2 * pad], [pad, pad]];
  const crops = offsets.map(([y, xo]) => tf.slice(padded, [0, y, xo, 0], [-1, h, w, -1]) as tf.Tensor4D);
  return [...crops, ...crops.map((c) => tf.image.flipLeftRight(c))];
}
