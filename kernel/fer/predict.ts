/**
 * Prediction on image files of any size and format: each face is decoded and resized exactly as
 * in training (images.ts), normalised as the model card says, and classified.
 */
import * as tf from "@tensorflow/tfjs";
import { readdir, stat } from "node:fs/promises";
import * as path from "node:path";
import { decodeImage, ImageDecodeError } from "./images";
import { EMOTIONS, type Emotion } from "./labels";
import type { ModelCard } from "./modelIO";

export interface FacePrediction {
  path: string;
  /** Probabilities in EMOTIONS order. */
  probabilities: Record<Emotion, number>;
  top: Emotion;
  confidence: number;
}

export interface PredictionFailure {
  path: string;
  error: string;
}

const IMAGE = /\.(png|jpe?g|webp|gif|tiff?|avif)$/i;

/** Expands folders (recursively) into their image files; files are kept as given. */
export async function imageFiles(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const s = await stat(input).catch(() => undefined);
    if (!s) throw new Error(`No such file or folder: ${input}`);
    if (s.isDirectory()) {
      const entries = (await readdir(input, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
      const nested = entries.filter((e) => !e.name.startsWith(".")).map((e) => path.join(input, e.name));
      out.push(...(await imageFiles(nested.filter((p, i) => entries[i].isDirectory() || IMAGE.test(p)))));
    } else out.push(input);
  }
  return out;
}

/** Classifies image files with a loaded model and its card. Unreadable images are reported, not fatal. */
export async function predictFiles(model: tf.LayersModel, card: ModelCard, files: string[], batchSize = 64): Promise<{ predictions: FacePrediction[]; failures: PredictionFailure[] }> {
  const { height, width, channels, mean, std } = card.input;
  const predictions: FacePrediction[] = [];
  const failures: PredictionFailure[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    const decoded: { file: string; pixels: Uint8Array }[] = [];
    for (const file of chunk) {
      try {
        decoded.push({ file, pixels: await decodeImage(file, { height, width, channels }) });
      } catch (e) {
        failures.push({ path: file, error: e instanceof ImageDecodeError ? e.message : String((e as Error).message ?? e) });
      }
    }
    if (decoded.length === 0) continue;
    const per = height * width * channels;
    const x = new Float32Array(decoded.length * per);
    decoded.forEach((d, b) => {
      for (let j = 0; j < per; j++) x[b * per + j] = (d.pixels[j] / 255 - mean) / std;
    });
    const probs = tf.tidy(() => model.predict(tf.tensor4d(x, [decoded.length, height, width, channels])) as tf.Tensor);
    const values = await probs.data();
    probs.dispose();
    decoded.forEach((d, b) => {
      const row = Array.from(values.subarray(b * EMOTIONS.length, (b + 1) * EMOTIONS.length));
      let best = 0;
      for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
      predictions.push({
        path: d.file,
        probabilities: Object.fromEntries(EMOTIONS.map((e, k) => [e, row[k]])) as Record<Emotion, number>,
        top: EMOTIONS[best],
        confidence: row[best],
      });
    });
  }
  return { predictions, failures };
}
