/**
 * Imports ImageNet-pretrained ResNet-18 weights into fernb's ResNet-18 from a file the user
 * provides — nothing is downloaded. Reads safetensors (as saved by timm / `safetensors.torch`) and
 * ONNX (as exported by `torch.onnx.export` of a torchvision model with `do_constant_folding=False`,
 * so weights keep their torchvision names). PyTorch's OIHW kernels become TF's HWIO; the first
 * convolution is adapted to grayscale by summing its RGB filters (exact for a gray image repeated
 * on three channels); the 1000-class classifier is left freshly initialised.
 */
import * as tf from "@tensorflow/tfjs";
import { promises as fs } from "node:fs";
import * as path from "node:path";

export interface SourceTensor {
  shape: number[];
  values: Float32Array;
}

export interface ImportReport {
  /** fernb weights that received values, with the source tensor name. */
  loaded: { weight: string; from: string }[];
  /** Source tensors not used, with why. */
  unused: { name: string; reason: string }[];
  /** fernb weights left as they were (e.g. the classifier), with why. */
  kept: { weight: string; reason: string }[];
  notes: string[];
}

// ---- safetensors -----------------------------------------------------------------------------

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function toFloat32(dtype: string, bytes: Uint8Array, count: number, where: string): Float32Array | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case "F16":
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    case "BF16":
      for (let i = 0; i < count; i++) out[i] = new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0];
      return out;
    case "F64":
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case "I64":
      return undefined; // e.g. bn.num_batches_tracked
    default:
      throw new Error(`${where}: unsupported dtype ${dtype}`);
  }
}

export function readSafetensors(bytes: Uint8Array, fileName = "file"): Map<string, SourceTensor> {
  if (bytes.length < 8) throw new Error(`${fileName} is too short to be a safetensors file.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength <= 0 || 8 + headerLength > bytes.length) throw new Error(`${fileName} is not a safetensors file (bad header length ${headerLength}).`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new Error(`${fileName} is not a safetensors file (its header is not JSON).`);
  }
  const data = bytes.subarray(8 + headerLength);
  const out = new Map<string, SourceTensor>();
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new Error(`${fileName} is not a safetensors file (its header is not a JSON object).`);
  const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8 };
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    // Each entry checked before use: a damaged header says which tensor and what, never a raw TypeError or RangeError.
    const isIndex = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
    if (typeof info !== "object" || info === null || typeof info.dtype !== "string" || !Array.isArray(info.shape) || !info.shape.every(isIndex) || !Array.isArray(info.data_offsets) || info.data_offsets.length !== 2 || !info.data_offsets.every(isIndex)) {
      throw new Error(`${fileName}: the header entry of tensor ${JSON.stringify(name)} is damaged (it needs dtype, shape and data_offsets).`);
    }
    const [begin, end] = info.data_offsets;
    if (begin < 0 || end > data.length || end < begin) throw new Error(`${fileName}: tensor ${name} points outside the file (truncated?).`);
    const count = info.shape.reduce((a, b) => a * b, 1);
    const per = Object.prototype.hasOwnProperty.call(BYTES, info.dtype) ? BYTES[info.dtype] : undefined;
    if (per !== undefined && end - begin !== count * per) {
      throw new Error(`${fileName}: tensor ${name} has ${end - begin} bytes of data, but its shape ${JSON.stringify(info.shape)} of ${info.dtype} needs ${count * per} (a damaged file?).`);
    }
    const values = toFloat32(info.dtype, data.subarray(begin, end), count, `${fileName}: ${name}`);
    if (values) out.set(name, { shape: info.shape, values });
  }
  return out;
}

// ---- ONNX (a minimal protobuf reader for ModelProto.graph.initializer) -----------------------

class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
    }
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new Error("truncated field");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  /** Iterates over the fields of the message: [field number, wire type]. */
  *fields(): Generator<[number, number]> {
    while (!this.done) {
      const key = this.varint();
      yield [Math.floor(key / 8), key & 7];
    }
  }
}

const ONNX_FLOAT = 1;
const ONNX_FLOAT16 = 10;
const ONNX_DOUBLE = 11;

function readOnnxTensor(buf: Uint8Array): { name: string; tensor?: SourceTensor } {
  const r = new ProtoReader(buf);
  const dims: number[] = [];
  let dataType = 0;
  let name = "";
  let raw: Uint8Array | undefined;
  const floats: number[] = [];
  for (const [field, wire] of r.fields()) {
    if (field === 1 && wire === 0) dims.push(r.varint());
    else if (field === 1 && wire === 2) {
      const p = new ProtoReader(r.bytes());
      while (!p.done) dims.push(p.varint());
    } else if (field === 2 && wire === 0) dataType = r.varint();
    else if (field === 4 && wire === 2) {
      const b = r.bytes();
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i + 4 <= b.length; i += 4) floats.push(v.getFloat32(i, true));
    } else if (field === 8 && wire === 2) name = new TextDecoder().decode(r.bytes());
    else if (field === 9 && wire === 2) raw = r.bytes();
    else r.skip(wire);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const dtype = dataType === ONNX_FLOAT ? "F32" : dataType === ONNX_FLOAT16 ? "F16" : dataType === ONNX_DOUBLE ? "F64" : undefined;
  if (!dtype) return { name };
  if (raw) {
    const values = toFloat32(dtype, raw, count, name);
    return { name, tensor: values && { shape: dims, values } };
  }
  if (floats.length === count) return { name, tensor: { shape: dims, values: Float32Array.from(floats) } };
  return { name };
}

export function readOnnxInitializers(bytes: Uint8Array, fileName = "file"): Map<string, SourceTensor> {
  const out = new Map<string, SourceTensor>();
  try {
    const model = new ProtoReader(bytes);
    for (const [field, wire] of model.fields()) {
      if (field !== 7 || wire !== 2) {
        model.skip(wire);
        continue;
      }
      const graph = new ProtoReader(model.bytes());
      for (const [gField, gWire] of graph.fields()) {
        if (gField === 5 && gWire === 2) {
          const { name, tensor } = readOnnxTensor(graph.bytes());
          if (tensor) out.set(name, tensor);
        } else graph.skip(gWire);
      }
    }
  } catch (e) {
    throw new Error(`${fileName} is not a readable ONNX model (${(e as Error).message}).`);
  }
  if (out.size === 0) throw new Error(`${fileName} holds no float weights (is it an ONNX model with external data files?).`);
  return out;
}

// ---- mapping onto fernb's ResNet-18 ----------------------------------------------------------

/** torchvision/timm name (e.g. layer2.0.downsample.1.running_mean) → fernb weight name. */
export function fernbWeightName(torchName: string): string | undefined {
  const m = /^(?:model\.|module\.)?(conv1|bn1|fc|layer[1-4]\.\d+\.(?:conv[12]|bn[12]|downsample\.[01]))\.(weight|bias|running_mean|running_var)$/.exec(torchName);
  if (!m) return undefined;
  const layer = m[1].replace(/\./g, "_");
  const param = m[2];
  const isBn = /(^|_)bn[12]?$|downsample_1$/.test(layer) || layer === "bn1";
  if (isBn) {
    const tfParam = { weight: "gamma", bias: "beta", running_mean: "moving_mean", running_var: "moving_variance" }[param];
    return `${layer}/${tfParam}`;
  }
  if (param === "weight") return `${layer}/kernel`;
  if (param === "bias") return `${layer}/bias`;
  return undefined;
}

/** OIHW (PyTorch conv) → HWIO (TF), or [out, in] → [in, out] for dense. */
function toTfLayout(t: SourceTensor): { shape: number[]; values: Float32Array } {
  if (t.shape.length === 4) {
    const [o, i, h, w] = t.shape;
    const out = new Float32Array(t.values.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      out[((y * w + x) * i + b) * o + a] = t.values[((a * i + b) * h + y) * w + x];
    }
    return { shape: [h, w, i, o], values: out };
  }
  if (t.shape.length === 2) {
    const [o, i] = t.shape;
    const out = new Float32Array(t.values.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[b * o + a] = t.values[a * i + b];
    return { shape: [i, o], values: out };
  }
  return { shape: t.shape, values: t.values };
}

/** Sums an HWIO kernel's input channels into one (RGB filters → grayscale filter). */
function sumInputChannels(k: { shape: number[]; values: Float32Array }): { shape: number[]; values: Float32Array } {
  const [h, w, i, o] = k.shape;
  const out = new Float32Array(h * w * o);
  for (let p = 0; p < h * w; p++) for (let b = 0; b < i; b++) for (let a = 0; a < o; a++) out[p * o + a] += k.values[(p * i + b) * o + a];
  return { shape: [h, w, 1, o], values: out };
}

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Copies matching tensors into `model` (created by createResNet18 with the ImageNet stem). */
export function applyResNet18Weights(model: tf.LayersModel, tensors: Map<string, SourceTensor>): ImportReport {
  const report: ImportReport = { loaded: [], unused: [], kept: [], notes: [] };
  const byName = new Map(model.weights.map((w) => [w.originalName.replace(/_\d+$/, ""), w] as const));
  const byOriginal = new Map(model.weights.map((w) => [w.originalName, w] as const));
  const assigned = new Set<string>();
  const anonymous = [...tensors.keys()].filter((n) => /^onnx::/.test(n)).length;
  if (anonymous > 0 && anonymous >= tensors.size / 2) {
    report.notes.push(`${anonymous} weights have anonymous ONNX names (onnx::…): the export folded batch norm into the convolutions. Re-export with torch.onnx.export(..., do_constant_folding=False), or save safetensors.`);
  }
  for (const [name, source] of tensors) {
    const target = fernbWeightName(name);
    if (!target) {
      report.unused.push({ name, reason: /num_batches_tracked/.test(name) ? "a counter, not a weight" : "not a ResNet-18 weight name fernb knows" });
      continue;
    }
    const variable = byOriginal.get(target) ?? byName.get(target);
    if (!variable) {
      report.unused.push({ name, reason: `the model has no ${target} (different stem?)` });
      continue;
    }
    let value = toTfLayout(source);
    if (target === "conv1/kernel" && value.shape[2] === 3 && variable.shape[2] === 1) {
      value = sumInputChannels(value);
      report.notes.push("conv1: the RGB filters were summed into one grayscale filter.");
    }
    if (!sameShape(variable.shape, value.shape)) {
      const reason = `shape ${JSON.stringify(value.shape)} does not fit ${JSON.stringify(variable.shape)}`;
      if (target.startsWith("fc/")) report.kept.push({ weight: target, reason: `classifier kept freshly initialised (${reason}: ImageNet's 1000 classes vs 7 emotions)` });
      else report.unused.push({ name, reason });
      continue;
    }
    variable.write(tf.tensor(value.values, value.shape));
    assigned.add(variable.originalName);
    report.loaded.push({ weight: target, from: name });
  }
  for (const w of model.weights) {
    if (!assigned.has(w.originalName) && !report.kept.some((k) => k.weight === w.originalName)) {
      report.kept.push({ weight: w.originalName, reason: "no matching weight in the file" });
    }
  }
  return report;
}

/**
 * Reads ImageNet ResNet-18 weights from a `.safetensors` or `.onnx` file and loads them into
 * `model`. Throws with a readable message if the file cannot be read or nothing matched.
 */
export async function importResNet18Weights(model: tf.LayersModel, file: string): Promise<ImportReport> {
  const bytes = new Uint8Array(await fs.readFile(file));
  const ext = path.extname(file).toLowerCase();
  const tensors = ext === ".onnx" ? readOnnxInitializers(bytes, path.basename(file)) : readSafetensors(bytes, path.basename(file));
  const report = applyResNet18Weights(model, tensors);
  if (report.loaded.length === 0) {
    throw new Error(`No weight of ${path.basename(file)} matched fernb's ResNet-18.${report.notes.length ? " " + report.notes.join(" ") : ""} Expected torchvision/timm names such as conv1.weight, layer1.0.bn1.running_mean.`);
  }
  return report;
}
