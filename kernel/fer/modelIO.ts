/**
 * Saving and loading models in the TensorFlow.js layers format (model.json + weights.bin, the same
 * files tfjs-node's `file://` handler writes) plus fernb's model card (card.json). Writes are
 * atomic (temporary file + rename) and never replace an existing model unless asked to.
 */
import * as tf from "@tensorflow/tfjs";
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import type { Emotion } from "./labels";
import { safeWritePath } from "./safeWrite";

export interface InputSpec {
  height: number;
  width: number;
  channels: 1 | 3;
  /** Pixels are scaled to [0,1], then (x - mean) / std. */
  mean: number;
  std: number;
}

export interface ModelCard {
  format: "fernb-model-card";
  version: 1;
  name: string;
  classes: Emotion[];
  input: InputSpec;
  architecture: Record<string, unknown>;
  /** How it was trained: recipe, epochs, wall time, backend, machine, data fingerprints. */
  training?: Record<string, unknown>;
  /** Metrics with the data set they were measured on. */
  metrics?: Record<string, unknown>;
  /** "float32" or the quantisation of the shipped weights file. */
  weights: { dtype: "float32" | "float16" | "uint8"; bytes: number };
  created: string;
}

export interface SaveOptions {
  /** Replace a model already in `dir` (default false: an existing model is an error). */
  overwrite?: boolean;
  /** Store weights as float16 or 8-bit affine-quantised values (smaller files). */
  quantize?: "float16" | "uint8";
}

/**
 * Writes `file` whole or not at all (temporary file + rename). The temporary file is created
 * exclusively and `file` is checked first, so no symbolic link is followed out of its folder.
 */
async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  safeWritePath(file, path.dirname(path.resolve(file)), { what: "model file" });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const handle = await fs.open(tmp, "wx");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
}

function toBytes(data: tf.io.WeightData): Uint8Array {
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/** Re-encodes float32 weights as float16 or uint8 with tfjs's quantisation specs. */
function quantizeWeights(specs: tf.io.WeightsManifestEntry[], data: Uint8Array, dtype: "float16" | "uint8"): { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array } {
  const chunks: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype !== "float32") {
      const bytes = size * 4;
      chunks.push(data.slice(offset, offset + bytes));
      offset += bytes;
      out.push(spec);
      continue;
    }
    const values = new Float32Array(data.slice(offset, offset + size * 4).buffer);
    offset += size * 4;
    if (dtype === "float16") {
      const half = new Uint16Array(size);
      for (let i = 0; i < size; i++) half[i] = toHalf(values[i]);
      chunks.push(new Uint8Array(half.buffer));
      out.push({ ...spec, quantization: { dtype: "float16" } });
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const scale = max > min ? (max - min) / 255 : 1;
      const q = new Uint8Array(size);
      for (let i = 0; i < size; i++) q[i] = Math.round((values[i] - min) / scale);
      chunks.push(q);
      out.push({ ...spec, quantization: { dtype: "uint8", scale, min } });
    }
  }
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    joined.set(c, at);
    at += c.length;
  }
  return { specs: out, data: joined };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** IEEE-754 float32 → float16 bits, round to nearest even. */
function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  // A carry out of the mantissa correctly bumps the exponent.
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Saves `model` and its card into `dir` (created if needed). */
export async function saveModel(model: tf.LayersModel, dir: string, card: Omit<ModelCard, "weights" | "format" | "version" | "created"> & Partial<ModelCard>, options: SaveOptions = {}): Promise<ModelCard> {
  if (!options.overwrite && existsSync(path.join(dir, "model.json"))) {
    throw new Error(`${dir} already holds a model (model.json). Choose another folder, or pass { overwrite: true } to replace it.`);
  }
  await fs.mkdir(dir, { recursive: true });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  if (!artifacts?.weightSpecs || !artifacts.weightData) throw new Error("The model produced no weights to save.");
  let specs = artifacts.weightSpecs;
  let data = toBytes(artifacts.weightData);
  if (options.quantize) ({ specs, data } = quantizeWeights(specs, data, options.quantize));
  const modelJson = {
    format: "layers-model",
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: "fernb",
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ["weights.bin"], weights: specs }],
  };
  const fullCard: ModelCard = {
    ...card,
    format: "fernb-model-card",
    version: 1,
    weights: { dtype: options.quantize ?? "float32", bytes: data.length },
    created: card.created ?? new Date().toISOString(),
  };
  await writeAtomic(path.join(dir, "weights.bin"), data);
  await writeAtomic(path.join(dir, "model.json"), JSON.stringify(modelJson));
  await writeAtomic(path.join(dir, "card.json"), JSON.stringify(fullCard, null, 2) + "\n");
  return fullCard;
}

/**
 * Rewrites a saved model's card.json (atomically) with `update(card)`, leaving the weights alone:
 * e.g. to record metrics measured on the saved file itself. `format`, `version` and `weights`
 * describe the files and are kept as they are.
 */
export async function updateModelCard(dir: string, update: (card: ModelCard) => ModelCard): Promise<ModelCard> {
  const cardFile = path.join(dir, "card.json");
  if (!existsSync(cardFile)) throw new Error(`No model card in ${dir}: expected card.json there (saveModel writes it).`);
  let card: ModelCard;
  try {
    card = JSON.parse(await fs.readFile(cardFile, "utf8")) as ModelCard;
  } catch (e) {
    throw new Error(`${cardFile} is not valid JSON (${(e as Error).message}); it was left unchanged.`);
  }
  const next: ModelCard = { ...update(structuredClone(card)), format: card.format, version: card.version, weights: card.weights };
  await writeAtomic(cardFile, JSON.stringify(next, null, 2) + "\n");
  return next;
}

/** Loads a model saved by saveModel (or any TF.js layers model folder with a fernb card). */
export async function loadModel(dir: string): Promise<{ model: tf.LayersModel; card: ModelCard }> {
  const modelFile = path.join(dir, "model.json");
  if (!existsSync(modelFile)) throw new Error(`No model found in ${dir}: expected model.json (and weights.bin, card.json) there.`);
  let json: { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    json = JSON.parse(await fs.readFile(modelFile, "utf8"));
  } catch (e) {
    throw new Error(`${modelFile} is not valid JSON (${(e as Error).message}); the model folder may be damaged.`);
  }
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFile(path.join(dir, p))));
  const weightData = tf.io.CompositeArrayBuffer.join(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
  const model = await tf.loadLayersModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: "layers-model" }),
  });
  const cardFile = path.join(dir, "card.json");
  if (!existsSync(cardFile)) throw new Error(`${dir} has a model but no card.json: fernb needs the card to know the classes and input format.`);
  const card = JSON.parse(await fs.readFile(cardFile, "utf8")) as ModelCard;
  return { model, card };
}

/** Encodes named tensors (optimizer state) as a TF.js weights blob + manifest. */
export async function encodeTensors(tensors: tf.NamedTensorMap): Promise<{ specs: tf.io.WeightsManifestEntry[]; data: Uint8Array }> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  return { specs, data: new Uint8Array(data) };
}

export function decodeTensors(data: Uint8Array, specs: tf.io.WeightsManifestEntry[]): tf.NamedTensorMap {
  return tf.io.decodeWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer, specs);
}

export { writeAtomic };
