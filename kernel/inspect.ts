/**
 * What the variables view shows (extension/variablesView.ts): the kernel's top-level names with
 * their run-time types and a preview, tensors' shape, dtype and memory, models' parameters and
 * weights' memory, and TensorFlow.js's count of tensors and bytes (tf.memory()), so leaks show.
 * It only reads: no getter of a value is called, no tensor's data is downloaded, and a value whose
 * preview throws is listed with the reason.
 */
import { inspect as nodeInspect } from "node:util";
import type { TensorInfo, VariableInfo, VariablesMessage } from "../protocol";

const PREVIEW_CHARS = 120;

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

interface TensorLike {
  shape: number[];
  dtype: string;
  size: number;
  isDisposed?: boolean;
  dataId?: unknown;
}

interface ModelLike {
  layers: unknown[];
  weights: { shape: number[]; dtype: string }[];
  countParams(): number;
}

function isTensor(v: unknown): v is TensorLike {
  if (typeof v !== "object" || v === null) return false;
  const t = v as Partial<TensorLike>;
  return Array.isArray(t.shape) && typeof t.dtype === "string" && typeof t.size === "number" && "dataId" in t;
}

function isModel(v: unknown): v is ModelLike {
  if (typeof v !== "object" || v === null) return false;
  const m = v as Partial<ModelLike>;
  return Array.isArray(m.layers) && Array.isArray(m.weights) && typeof m.countParams === "function";
}

function tensorInfo(t: TensorLike): TensorInfo {
  const info: TensorInfo = { shape: [...t.shape], dtype: t.dtype, bytes: t.size * (BYTES_PER_ELEMENT[t.dtype] ?? 0) };
  if (t.isDisposed) info.disposed = true;
  return info;
}

function clip(text: string): string {
  const line = text.replace(/\s*\n\s*/g, " ");
  return line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS - 1)}…` : line;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "function") return /^class[\s{]/.test(Function.prototype.toString.call(v)) ? "class" : "function";
  if (typeof v !== "object") return typeof v;
  if (Array.isArray(v)) return "Array";
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null;
  const name = proto?.constructor?.name;
  return typeof name === "string" && name !== "" ? name : "Object";
}

/** One variable's description; never throws. */
export function describeValue(name: string, value: unknown): VariableInfo {
  let type = typeof value as string;
  try {
    type = typeName(value);
    if (isTensor(value)) {
      const tensor = tensorInfo(value);
      const rank = tensor.shape.length;
      return { name, type: rank === 0 ? "Scalar" : `Tensor${rank}D`, preview: `${tensor.dtype} [${tensor.shape.join(", ")}]${tensor.disposed ? " (disposed)" : ""}`, tensor };
    }
    if (isModel(value)) {
      const bytes = value.weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1) * (BYTES_PER_ELEMENT[w.dtype] ?? 4), 0);
      const model = { parameters: value.countParams(), layers: value.layers.length, bytes };
      const modelName = (value as { name?: unknown }).name;
      return { name, type, preview: `${typeof modelName === "string" ? modelName + ": " : ""}${model.layers} layers, ${model.parameters.toLocaleString("en-US")} parameters`, model };
    }
    const info: VariableInfo = { name, type, preview: preview(value) };
    const members = Array.isArray(value) ? value : isPlainObject(value) ? dataValues(value) : [];
    const tensors = members.filter(isTensor);
    if (tensors.length > 0) info.tensors = { count: tensors.length, bytes: tensors.reduce((s, t) => s + tensorInfo(t).bytes, 0) };
    return info;
  } catch (e) {
    return { name, type, preview: `(cannot be shown: ${(e as Error)?.message ?? String(e)})` };
  }
}

/** An object's own data properties' values (getters are not called). */
function dataValues(o: object): unknown[] {
  return Object.values(Object.getOwnPropertyDescriptors(o))
    .filter((d) => "value" in d)
    .map((d) => d.value as unknown);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function preview(value: unknown): string {
  if (typeof value === "function") {
    const fn = value as { name?: string; length: number };
    return `${fn.name || "(anonymous)"}(${fn.length === 1 ? "1 parameter" : `${fn.length} parameters`})`;
  }
  // Arrays of tensors would print every tensor's fields: name them instead.
  if (Array.isArray(value) && value.some(isTensor)) return `Array(${value.length}) [${value.slice(0, 4).map((v) => (isTensor(v) ? `Tensor ${v.dtype} [${v.shape.join(", ")}]` : typeName(v))).join(", ")}${value.length > 4 ? ", …" : ""}]`;
  return clip(nodeInspect(value, { depth: 0, maxArrayLength: 8, maxStringLength: 80, breakLength: Infinity, getters: false, customInspect: false }));
}

/**
 * The kernel's variables (`locals`, in declaration order) without the `hidden` ones (the kernel's
 * own globals), tf.memory() when `memory` is given, and the kernel process's memory.
 */
export function describeVariables(
  locals: Readonly<Record<string, unknown>>,
  hidden: readonly string[],
  memory?: () => { numTensors: number; numBytes: number; numDataBuffers: number },
): Omit<VariablesMessage, "type" | "requestId"> {
  const skip = new Set(hidden);
  const variables = Object.keys(locals)
    .filter((name) => !skip.has(name))
    .map((name) => describeValue(name, locals[name]));
  let mem: VariablesMessage["memory"];
  try {
    const m = memory?.();
    if (m) mem = { numTensors: m.numTensors, numBytes: m.numBytes, numDataBuffers: m.numDataBuffers };
  } catch {
    mem = undefined;
  }
  const { rss, heapUsed } = process.memoryUsage();
  return { variables, memory: mem, process: { rss, heapUsed } };
}
