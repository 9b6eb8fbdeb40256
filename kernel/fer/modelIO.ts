/**
 * Saving and loading models in the TensorFlow.js layers format (model.json + weights.bin, the same
 * files tfjs-node's `file://` handler writes) plus fernb's model card (card.json). Writes are
 * atomic (temporary file + rename) and never replace an existing model unless asked to.
 */
import * as tf from "@tensorflow/tfjs";
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import { EMOTIONS, type Emotion } from "./labels";
import { safeWritePath, writeFileAtomic } from "./safeWrite";
import { chooseCamLayer, rememberCard, type CardGradcam } from "./cam/layers";
import { withoutMachinePaths } from "./cardPaths";

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
  /** The layer Grad-CAM explains by default and its grid (saveModel fills it in: ./cam/layers.ts). */
  gradcam?: CardGradcam;
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
  await writeFileAtomic(file, data, path.dirname(path.resolve(file)), { what: "model file" });
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

/** The card's Grad-CAM entry for a new model (none for a model without feature maps). */
function cardGradcam(model: tf.LayersModel): CardGradcam | undefined {
  try {
    return chooseCamLayer(model);
  } catch {
    return undefined;
  }
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
  // No folder of this machine goes into the card (checkpointDir → its last component).
  const fullCard: ModelCard = {
    ...withoutMachinePaths(card),
    gradcam: card.gradcam ?? cardGradcam(model),
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
  const next: ModelCard = { ...withoutMachinePaths(update(structuredClone(card))), format: card.format, version: card.version, weights: card.weights };
  await writeAtomic(cardFile, JSON.stringify(next, null, 2) + "\n");
  return next;
}

/** A model folder that cannot be loaded; the message names the file and what is wrong with it. */
export class ModelFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelFolderError";
  }
}

type WeightGroup = { paths: string[]; weights: tf.io.WeightsManifestEntry[] };

/** What inspectModelFolder found: everything loadModel needs, checked. */
export interface ModelFolder {
  dir: string;
  modelTopology: object;
  specs: tf.io.WeightsManifestEntry[];
  /** The weight files, in manifest order, inside `dir`. */
  weightFiles: string[];
  /** Bytes the manifest needs, and bytes the files hold. */
  expectedBytes: number;
  card: ModelCard;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, float16: 2, uint8: 1, uint16: 2 };

async function readJsonFile(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    // A device or pipe in place of the file (a link to /dev/zero) would be read forever.
    const st = await fs.stat(file);
    if (!st.isFile() && !st.isDirectory()) throw new ModelFolderError(`${file} is not a regular file (a device, pipe or socket).`);
    if (st.size > 256 * 1024 * 1024) throw new ModelFolderError(`${file} is ${Math.round(st.size / 1048576)} MiB, too large for a model description (the weights belong in weights.bin).`);
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if (e instanceof ModelFolderError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ModelFolderError(`${file} is missing: ${what}`);
    throw new ModelFolderError(`${file} cannot be read (${code === "EISDIR" ? "it is a folder" : (e as Error).message}).`);
  }
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new ModelFolderError(`${file} is not valid JSON (${(e as Error).message}); the model folder may be damaged or the file truncated.`);
  }
}

/** Checks card.json's content; throws naming the field. */
function checkCard(raw: unknown, cardFile: string): ModelCard {
  const bad = (what: string): never => {
    throw new ModelFolderError(`${cardFile} is not a valid fernb model card: ${what}.`);
  };
  if (!isRecord(raw)) bad("it must be a JSON object");
  const card = raw as Record<string, unknown>;
  if (card.format !== undefined && card.format !== "fernb-model-card") bad(`"format" is ${JSON.stringify(card.format)}, expected "fernb-model-card"`);
  const input = card.input;
  if (!isRecord(input)) bad(`it has no "input" object (height, width, channels, mean, std of the images the model takes)`);
  const inp = input as Record<string, unknown>;
  for (const k of ["height", "width"]) {
    const v = inp[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 4096) bad(`"input.${k}" must be a whole number of pixels from 1 to 4096, not ${JSON.stringify(v)}`);
  }
  if (inp.channels !== 1 && inp.channels !== 3) bad(`"input.channels" must be 1 (grayscale) or 3 (RGB), not ${JSON.stringify(inp.channels)}`);
  if (typeof inp.mean !== "number" || !Number.isFinite(inp.mean)) bad(`"input.mean" must be a number, not ${JSON.stringify(inp.mean)}`);
  if (typeof inp.std !== "number" || !Number.isFinite(inp.std) || inp.std <= 0) bad(`"input.std" must be a number above 0, not ${JSON.stringify(inp.std)}`);
  const classes = card.classes;
  if (!Array.isArray(classes)) bad(`"classes" must list the model's output classes, e.g. ${JSON.stringify(EMOTIONS)}`);
  const seen = new Set<string>();
  for (const c of classes as unknown[]) {
    if (typeof c !== "string" || !(EMOTIONS as readonly string[]).includes(c)) bad(`"classes" holds ${JSON.stringify(c)}, which is not one of fernb's emotions (${EMOTIONS.join(", ")})`);
    if (seen.has(c as string)) bad(`"classes" lists ${JSON.stringify(c)} twice`);
    seen.add(c as string);
  }
  if ((classes as unknown[]).length !== EMOTIONS.length) {
    bad(`"classes" lists ${(classes as unknown[]).length} classes; fernb models predict all ${EMOTIONS.length} emotions (missing: ${EMOTIONS.filter((e) => !seen.has(e)).join(", ")})`);
  }
  return raw as unknown as ModelCard;
}

/**
 * Checks a model folder without building the model: model.json (JSON, topology, weights
 * manifest whose files stay inside the folder), the weight files (present, of the size the
 * manifest needs) and card.json (classes, input). Every problem is a ModelFolderError that names
 * the file and says what is wrong. Cheap: the CLI calls it before any other work.
 */
export async function inspectModelFolder(dir: string): Promise<ModelFolder> {
  let st;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new ModelFolderError(`No model found in ${dir}: the folder does not exist (a model folder holds model.json, weights.bin and card.json).`);
  }
  if (!st.isDirectory()) throw new ModelFolderError(`${dir} is not a model folder: it is a file (a model folder holds model.json, weights.bin and card.json).`);
  const modelFile = path.join(dir, "model.json");
  if (!existsSync(modelFile)) throw new ModelFolderError(`No model found in ${dir}: expected model.json (and weights.bin, card.json) there.`);
  const json = await readJsonFile(modelFile, "the model folder needs it.");
  const badModel = (what: string): never => {
    throw new ModelFolderError(`${modelFile} is not a TensorFlow.js layers model: ${what}.`);
  };
  if (!isRecord(json)) badModel("it must be a JSON object");
  const mj = json as Record<string, unknown>;
  if (!isRecord(mj.modelTopology)) badModel(`it has no "modelTopology" object`);
  if (!Array.isArray(mj.weightsManifest) || mj.weightsManifest.length === 0) badModel(`it has no "weightsManifest" list`);
  const groups = mj.weightsManifest as unknown[];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const weightFiles: string[] = [];
  const root = path.resolve(dir);
  let expectedBytes = 0;
  for (const [g, group] of groups.entries()) {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) badModel(`weightsManifest[${g}] must have "paths" and "weights" lists`);
    const wg = group as unknown as WeightGroup;
    for (const p of wg.paths as unknown[]) {
      if (typeof p !== "string" || p === "") badModel(`weightsManifest[${g}].paths holds ${JSON.stringify(p)}, not a file name`);
      const full = path.resolve(root, p as string);
      const rel = path.relative(root, full);
      if (path.isAbsolute(p as string) || rel === "" || rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
        badModel(`weightsManifest[${g}].paths names ${JSON.stringify(p)}, which is outside the model folder`);
      }
      weightFiles.push(full);
    }
    for (const [w, spec] of (wg.weights as unknown[]).entries()) {
      const where = `weightsManifest[${g}].weights[${w}]`;
      if (!isRecord(spec) || typeof spec.name !== "string" || !Array.isArray(spec.shape) || typeof spec.dtype !== "string") badModel(`${where} needs "name", "shape" and "dtype"`);
      const s = spec as unknown as tf.io.WeightsManifestEntry;
      if (!s.shape.every((d) => Number.isInteger(d) && d >= 0)) badModel(`${where} (${s.name}) has the shape ${JSON.stringify(s.shape)}`);
      const stored = s.quantization?.dtype ?? s.dtype;
      const bytes = DTYPE_BYTES[stored];
      if (bytes === undefined || !Object.prototype.hasOwnProperty.call(DTYPE_BYTES, stored)) badModel(`${where} (${s.name}) has the dtype ${JSON.stringify(stored)}, which fernb cannot read`);
      expectedBytes += bytes * s.shape.reduce((a, b) => a * b, 1);
      specs.push(s);
    }
  }
  let actualBytes = 0;
  for (const file of weightFiles) {
    let fst;
    try {
      fst = await fs.stat(file);
    } catch {
      throw new ModelFolderError(`${file} is missing: ${modelFile} lists it as the model's weights.`);
    }
    if (!fst.isFile()) throw new ModelFolderError(`${file} is not a file: ${modelFile} lists it as the model's weights.`);
    actualBytes += fst.size;
  }
  if (actualBytes !== expectedBytes) {
    const names = weightFiles.map((f) => path.relative(root, f)).join(", ");
    throw new ModelFolderError(
      `${weightFiles.length === 1 ? weightFiles[0] : `${names} in ${dir}`} ${actualBytes < expectedBytes ? "is truncated" : "is too long"}: it holds ${actualBytes.toLocaleString("en")} bytes, ` +
        `but ${modelFile} needs ${expectedBytes.toLocaleString("en")} bytes of weights (a damaged download, or weights of another model).`,
    );
  }
  const cardFile = path.join(dir, "card.json");
  if (!existsSync(cardFile)) throw new ModelFolderError(`${dir} has a model but no card.json: fernb needs the card to know the classes and input format.`);
  const card = checkCard(await readJsonFile(cardFile, "fernb needs the card to know the classes and input format."), cardFile);
  return { dir, modelTopology: mj.modelTopology as object, specs, weightFiles, expectedBytes, card };
}

/**
 * A card whose classes are in another order than EMOTIONS: the final Dense layer's output columns
 * are permuted into EMOTIONS order, so every caller (predict, evaluate, Grad-CAM on the logits)
 * sees EMOTIONS order; the returned card lists EMOTIONS.
 */
function mapClassesToEmotions(model: tf.LayersModel, card: ModelCard, cardFile: string): ModelCard {
  const order = card.classes as readonly string[];
  if (order.every((c, i) => c === EMOTIONS[i])) return card;
  let layer = model.outputs[0].sourceLayer as tf.layers.Layer;
  while (layer.getClassName() === "Activation" && layer.inboundNodes[0]?.inboundLayers.length === 1) layer = layer.inboundNodes[0].inboundLayers[0] as tf.layers.Layer;
  const weights = layer.getWeights();
  if (layer.getClassName() !== "Dense" || weights.length !== 2 || weights[1].shape[0] !== EMOTIONS.length) {
    throw new ModelFolderError(`${cardFile} lists the classes in the order ${order.join(", ")}, not fernb's (${EMOTIONS.join(", ")}), and the model does not end in a Dense layer whose outputs fernb could reorder; write the classes in fernb's order.`);
  }
  const perm = EMOTIONS.map((e) => order.indexOf(e));
  const index = tf.tensor1d(perm, "int32");
  const [kernel, bias] = weights;
  const reordered = [tf.gather(kernel, index, 1), tf.gather(bias, index, 0)];
  layer.setWeights(reordered);
  tf.dispose([index, ...reordered]);
  return { ...card, classes: [...EMOTIONS] };
}

/** Loads a model saved by saveModel (or any TF.js layers model folder with a fernb card). */
export async function loadModel(dir: string): Promise<{ model: tf.LayersModel; card: ModelCard }> {
  const folder = await inspectModelFolder(dir);
  const modelFile = path.join(dir, "model.json");
  const cardFile = path.join(dir, "card.json");
  const buffers = await Promise.all(folder.weightFiles.map((f) => fs.readFile(f)));
  const total = buffers.reduce((a, b) => a + b.length, 0);
  if (total !== folder.expectedBytes) throw new ModelFolderError(`The weight files of ${dir} changed while being read (${total} bytes, ${modelFile} needs ${folder.expectedBytes}).`);
  const weightData = tf.io.CompositeArrayBuffer.join(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel({
      load: async () => ({ modelTopology: folder.modelTopology, weightSpecs: folder.specs, weightData, format: "layers-model" }),
    });
  } catch (e) {
    throw new ModelFolderError(`${modelFile} could not be built into a model: ${(e as Error)?.message ?? String(e)} (the file may be damaged, or its weights may not match its layers).`);
  }
  const { card } = folder;
  const out = model.outputs[0]?.shape;
  if (model.outputs.length !== 1 || !out || out[out.length - 1] !== card.classes.length) {
    model.dispose();
    throw new ModelFolderError(`${modelFile}'s model gives ${out ? out[out.length - 1] : "no"} outputs per image, but ${cardFile} lists ${card.classes.length} classes.`);
  }
  const inShape = model.inputs[0]?.shape;
  const { height, width, channels } = card.input;
  if (!inShape || inShape.length !== 4 || [inShape[1], inShape[2], inShape[3]].some((d, i) => d !== null && d !== [height, width, channels][i])) {
    model.dispose();
    throw new ModelFolderError(`${cardFile} says the model takes ${height}×${width} images with ${channels} channel(s), but ${modelFile}'s model takes ${inShape ? inShape.slice(1).join("×") : "no image"}.`);
  }
  try {
    const mapped = mapClassesToEmotions(model, card, cardFile);
    rememberCard(model, mapped); // explain, review: the card's Grad-CAM layer by default
    return { model, card: mapped };
  } catch (e) {
    model.dispose();
    throw e;
  }
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
