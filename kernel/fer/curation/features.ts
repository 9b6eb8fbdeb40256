/**
 * What the label-error rankings (rank.ts) need from a model, in one pass over the data: class
 * probabilities (single crop, and averaged over flip or ten-crop test-time augmentation) and the
 * penultimate-layer features (the 512 global-average-pooled activations before the classifier of
 * fernb's ResNet-18), averaged over the same views. Separate from rank.ts so the rankings stay pure
 * functions over arrays.
 */
import * as tf from "@tensorflow/tfjs";
import { LOGITS_LAYER } from "../resnet";
import { batchTensor, testTimeViews, type TestTimeAugmentation, type TrainingData } from "../modelInput";

export type CurationTta = TestTimeAugmentation;

export interface CurationFeatures {
  n: number;
  classes: number;
  /** n × classes, row-major, averaged over the views of `tta`. */
  probs: Float32Array;
  /** n × dim, row-major: the input of the classifier layer, averaged over the same views (empty when the model has no such layer). */
  embeddings: Float32Array;
  dim: number;
  tta: CurationTta;
}

/**
 * Probabilities and penultimate-layer features of every image of `data`, averaged over the views of
 * `tta` ("flip" by default: the image and its mirror image).
 */
export async function curationFeatures(
  model: tf.LayersModel,
  data: TrainingData,
  normalization: { mean: number; std: number },
  options: { tta?: CurationTta; batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<CurationFeatures> {
  const tta = options.tta ?? "flip";
  const batchSize = options.batchSize ?? 128;
  let features: tf.SymbolicTensor | undefined;
  try {
    const input = model.getLayer(LOGITS_LAYER).input;
    if (!Array.isArray(input)) features = input as tf.SymbolicTensor;
  } catch {
    features = undefined; // no layer named "fc": probabilities only
  }
  const both = tf.model({ inputs: model.inputs, outputs: features ? [model.outputs[0], features] : [model.outputs[0]] });
  const classes = model.outputs[0].shape[1] as number;
  const dim = features ? (features.shape[features.shape.length - 1] as number) : 0;
  const probs = new Float32Array(data.size * classes);
  const embeddings = new Float32Array(data.size * dim);
  for (let start = 0; start < data.size; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, data.size - start) }, (_, k) => start + k);
    const [p, e] = tf.tidy(() => {
      const x = batchTensor(data, idx, normalization);
      const views = testTimeViews(x, tta);
      const outs = views.map((v) => {
        const o = both.predict(v);
        return Array.isArray(o) ? o : [o];
      });
      const pm = tf.stack(outs.map((o) => o[0])).mean(0);
      const em = dim ? tf.stack(outs.map((o) => o[1])).mean(0) : tf.zeros([idx.length, 0]);
      return [pm, em];
    });
    probs.set(await p.data(), start * classes);
    embeddings.set(await e.data(), start * dim);
    tf.dispose([p, e]);
    options.onProgress?.(start + idx.length, data.size);
    await new Promise((r) => setImmediate(r));
  }
  return { n: data.size, classes, probs, embeddings, dim, tta };
}
