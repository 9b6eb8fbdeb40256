/**
 * The `.fernb` file format: pretty-printed JSON that diffs well in git. Free of the `vscode` API
 * (serializer.ts adapts it) so the headless runner and unit tests use the same code.
 *
 * {
 *   "fernb": 1,
 *   "metadata": { ... },                                  keys sorted
 *   "cells": [{
 *     "kind": "code" | "markdown",
 *     "language": "typescript",
 *     "source": ["line 1\n", "line 2"],                  lines, joined on read
 *     "metadata": { ... },                                only when not empty
 *     "execution": { "order": 3, "success": true, "startTime": ..., "endTime": ... },
 *     "outputs": [{ "items": [
 *        { "mime": "text/plain", "text": ["..."] },      UTF-8 data, as lines
 *        { "mime": "image/png", "base64": "..." }         other bytes
 *     ], "metadata": { ... } }]
 *   }]
 * }
 *
 * Writing the same notebook twice gives byte-identical files; reading then writing a file in this
 * canonical form gives it back unchanged.
 */

export const FORMAT_VERSION = 1;

export interface NotebookOutputItem {
  mime: string;
  data: Uint8Array;
}

export interface NotebookOutput {
  items: NotebookOutputItem[];
  metadata?: Record<string, unknown>;
}

export interface CellExecution {
  order?: number;
  success?: boolean;
  startTime?: number;
  endTime?: number;
}

export interface NotebookCell {
  kind: "code" | "markdown";
  language: string;
  source: string;
  metadata?: Record<string, unknown>;
  execution?: CellExecution;
  outputs?: NotebookOutput[];
}

export interface Notebook {
  metadata: Record<string, unknown>;
  cells: NotebookCell[];
}

/** A file that is not a readable fernb notebook; the message is meant for the user. */
export class NotebookFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotebookFormatError";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** Keeps a byte-order mark, so output bytes survive the text round trip exactly. */
const utf8Exact = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.length === 1 && lines[0] === "" ? [] : lines;
}

/**
 * How deeply a notebook's JSON may nest (the document, its cells, their metadata and outputs all
 * count). Deeper files are refused when opened, with the line and column: whatever opens can also
 * be saved (no stack overflow at save time, after a run).
 */
export const MAX_NESTING = 100;

/** Sets an own, enumerable property: a key named `__proto__` stays a key (plain assignment would set the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Copies JSON-like data with object keys sorted; `__proto__` keys are kept as ordinary keys. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) setOwn(out, key, sortKeys(v));
    }
    return out;
  }
  return value;
}

/**
 * Checks, without recursion, that `value` (metadata given to serializeNotebook, e.g. by VS Code or
 * an extension) can be written: nested at most `limit` levels, no cycles, no BigInt. Throws a
 * NotebookFormatError naming where.
 */
function checkWritable(value: unknown, where: string, limit: number): void {
  const stack: { v: unknown; depth: number; at: () => string }[] = [{ v: value, depth: 1, at: () => where }];
  let visited = 0;
  while (stack.length > 0) {
    const { v, depth, at } = stack.pop()!;
    if (typeof v === "bigint") throw new NotebookFormatError(`The notebook cannot be saved: ${at()} is a BigInt, which JSON cannot hold.`);
    if (typeof v !== "object" || v === null) continue;
    if (depth > limit) throw new NotebookFormatError(`The notebook cannot be saved: ${where} is nested more than ${limit} levels deep (or contains itself), at ${at()}.`);
    if (++visited > 50_000_000) throw new NotebookFormatError(`The notebook cannot be saved: ${where} is too large.`);
    for (const key of Object.keys(v)) {
      const child = (v as Record<string, unknown>)[key];
      if (typeof child === "object" || typeof child === "bigint") stack.push({ v: child, depth: depth + 1, at: () => `${at()}${Array.isArray(v) ? `[${key}]` : `.${key}`}` });
    }
  }
}
function isEmpty(o: Record<string, unknown> | undefined): boolean {
  return !o || Object.keys(o).length === 0;
}

function encodeItem(item: NotebookOutputItem): Record<string, unknown> {
  let text: string | undefined;
  try {
    text = utf8Exact.decode(item.data);
  } catch {
    text = undefined;
  }
  // Text that re-encodes to the same bytes is stored readably; anything else as base64.
  if (text !== undefined && !text.includes("\u0000")) return { mime: item.mime, text: splitLines(text) };
  return { mime: item.mime, base64: Buffer.from(item.data).toString("base64") };
}

/** Serialises a notebook to its canonical bytes. */
export function serializeNotebook(notebook: Notebook): Uint8Array {
  checkWritable(notebook.metadata ?? {}, "the notebook's metadata", MAX_NESTING - 1);
  notebook.cells.forEach((cell, i) => {
    checkWritable(cell.metadata ?? {}, `cells[${i}].metadata`, MAX_NESTING - 3);
    cell.outputs?.forEach((o, k) => checkWritable(o.metadata ?? {}, `cells[${i}].outputs[${k}].metadata`, MAX_NESTING - 5));
  });
  const cells = notebook.cells.map((cell) => {
    const out: Record<string, unknown> = { kind: cell.kind, language: cell.language, source: splitLines(cell.source) };
    if (!isEmpty(cell.metadata)) out.metadata = sortKeys(cell.metadata);
    if (cell.execution && Object.values(cell.execution).some((v) => v !== undefined)) {
      const { order, success, startTime, endTime } = cell.execution;
      out.execution = sortKeys({ order, success, startTime, endTime });
    }
    if (cell.outputs && cell.outputs.length > 0) {
      out.outputs = cell.outputs.map((o) => {
        const output: Record<string, unknown> = { items: o.items.map(encodeItem) };
        if (!isEmpty(o.metadata)) output.metadata = sortKeys(o.metadata);
        return output;
      });
    }
    return out;
  });
  const doc = { fernb: FORMAT_VERSION, metadata: sortKeys(notebook.metadata ?? {}), cells };
  return encoder.encode(JSON.stringify(doc, null, 2) + "\n");
}

/** Line and column of a character offset, for error messages. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `line ${line}, column ${column}`;
}

function describeJsonError(text: string, error: Error): string {
  const at = /position (\d+)/.exec(error.message);
  if (at) return `${error.message.replace(/ in JSON at position \d+.*$/, "")} at ${position(text, Number(at[1]))}`;
  if (/end of JSON input/i.test(error.message)) return `the JSON ends too early at ${position(text, text.length)} (is the file truncated?)`;
  return error.message;
}

/**
 * The offset at which `text` (JSON) nests deeper than `limit` arrays/objects, or -1. A linear scan,
 * before JSON.parse, so a hostile file never builds a structure too deep to walk or write.
 */
function tooDeepAt(text: string, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return i;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return -1;
}

/** Finds, without recursion, a number JSON.parse read as ±Infinity (e.g. 1e999): it could not be written back. */
function checkNumbers(json: unknown): void {
  const stack: { v: unknown; at: () => string }[] = [{ v: json, at: () => "the document" }];
  while (stack.length > 0) {
    const { v, at } = stack.pop()!;
    if (typeof v === "number" && !Number.isFinite(v)) fail(at(), "holds a number too large to store (it would be written back as null)");
    if (typeof v !== "object" || v === null) continue;
    for (const key of Object.keys(v)) {
      stack.push({ v: (v as Record<string, unknown>)[key], at: () => (Array.isArray(v) ? `${at()}[${key}]` : at() === "the document" ? key : `${at()}.${key}`) });
    }
  }
}

/**
 * The first key that appears twice in one object of `text` (valid JSON, nesting already bounded),
 * with its offset; JSON.parse would keep only the last value, so the first would be lost on save.
 */
function duplicateKeyAt(text: string): { key: string; offset: number } | undefined {
  const frames: { keys: Set<string> | undefined; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
      const top = frames[frames.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) return { key, offset: start };
        top.keys.add(key);
        top.expectKey = false;
      }
    } else if (c === 123 /* { */) frames.push({ keys: new Set(), expectKey: true });
    else if (c === 91 /* [ */) frames.push({ keys: undefined, expectKey: false });
    else if (c === 125 /* } */ || c === 93 /* ] */) frames.pop();
    else if (c === 44 /* , */) {
      const top = frames[frames.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return undefined;
}

/** Refuses fields the format does not have: saving would drop them without a word. */
function onlyKnownFields(o: Record<string, unknown>, where: Path, known: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) fail(where, `has a field ${JSON.stringify(key)} that fernb does not know (it reads ${known.join(", ")}); saving would drop it, so remove it or move it into "metadata"`);
  }
}

type Path = string;

function fail(where: Path, what: string): never {
  throw new NotebookFormatError(`${where} ${what}`);
}

function asObject(value: unknown, where: Path): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "must be a JSON object");
  return value as Record<string, unknown>;
}

function asText(value: unknown, where: Path): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((l) => typeof l === "string")) return value.join("");
  fail(where, "must be a string or an array of strings");
}

function optionalObject(value: unknown, where: Path): Record<string, unknown> | undefined {
  return value === undefined ? undefined : asObject(value, where);
}

function parseItem(value: unknown, where: Path): NotebookOutputItem {
  const item = asObject(value, where);
  onlyKnownFields(item, where, ["mime", "text", "base64"]);
  if (item.text !== undefined && item.base64 !== undefined) fail(where, "has both \"text\" and \"base64\" data; it must have one");
  if (typeof item.mime !== "string" || item.mime === "") fail(`${where}.mime`, "must be a MIME type such as \"text/plain\"");
  if (item.text !== undefined) return { mime: item.mime, data: encoder.encode(asText(item.text, `${where}.text`)) };
  if (typeof item.base64 === "string") {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(item.base64)) fail(`${where}.base64`, "is not valid base64");
    return { mime: item.mime, data: new Uint8Array(Buffer.from(item.base64, "base64")) };
  }
  fail(where, "needs \"text\" or \"base64\" data");
}

function parseCell(value: unknown, where: Path): NotebookCell {
  const c = asObject(value, where);
  onlyKnownFields(c, where, ["kind", "language", "source", "metadata", "execution", "outputs"]);
  if (c.kind !== "code" && c.kind !== "markdown") fail(`${where}.kind`, "must be \"code\" or \"markdown\"");
  const language = c.language === undefined ? (c.kind === "code" ? "typescript" : "markdown") : c.language;
  if (typeof language !== "string") fail(`${where}.language`, "must be a string");
  const cell: NotebookCell = { kind: c.kind, language, source: asText(c.source ?? "", `${where}.source`) };
  const metadata = optionalObject(c.metadata, `${where}.metadata`);
  if (metadata) cell.metadata = metadata;
  const execution = optionalObject(c.execution, `${where}.execution`);
  if (execution) {
    onlyKnownFields(execution, `${where}.execution`, ["order", "success", "startTime", "endTime"]);
    const e: CellExecution = {};
    for (const key of ["order", "startTime", "endTime"] as const) {
      const v = execution[key];
      if (v !== undefined && typeof v !== "number") fail(`${where}.execution.${key}`, "must be a number");
      if (v !== undefined) e[key] = v as number;
    }
    if (execution.success !== undefined && typeof execution.success !== "boolean") fail(`${where}.execution.success`, "must be true or false");
    if (execution.success !== undefined) e.success = execution.success as boolean;
    cell.execution = e;
  }
  if (c.outputs !== undefined) {
    if (!Array.isArray(c.outputs)) fail(`${where}.outputs`, "must be an array");
    cell.outputs = c.outputs.map((o, k) => {
      const ow = `${where}.outputs[${k}]`;
      const output = asObject(o, ow);
      onlyKnownFields(output, ow, ["items", "metadata"]);
      if (!Array.isArray(output.items)) fail(`${ow}.items`, "must be an array");
      const parsed: NotebookOutput = { items: output.items.map((it, n) => parseItem(it, `${ow}.items[${n}]`)) };
      const om = optionalObject(output.metadata, `${ow}.metadata`);
      if (om) parsed.metadata = om;
      return parsed;
    });
  }
  return cell;
}

/**
 * Reads a `.fernb` file. An empty file is an empty notebook. Anything unreadable throws a
 * NotebookFormatError whose message says what is wrong and where.
 */
export function parseNotebook(bytes: Uint8Array, fileName = "This file"): Notebook {
  const prefix = `${fileName} is not a valid fernb notebook:`;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new NotebookFormatError(`${prefix} it is not UTF-8 text. The file was left unchanged.`);
  }
  if (text.trim() === "") return { metadata: {}, cells: [] };
  const deep = tooDeepAt(text, MAX_NESTING);
  if (deep >= 0) {
    throw new NotebookFormatError(`${prefix} it nests more than ${MAX_NESTING} levels of objects or arrays (at ${position(text, deep)}); fernb refuses it rather than fail when saving. The file was left unchanged.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new NotebookFormatError(`${prefix} ${describeJsonError(text, e as Error)}. The file was left unchanged.`);
  }
  const duplicate = duplicateKeyAt(text);
  if (duplicate) {
    throw new NotebookFormatError(`${prefix} the key ${JSON.stringify(duplicate.key)} appears twice in one object (at ${position(text, duplicate.offset)}); only the last would be kept. The file was left unchanged.`);
  }
  try {
    const doc = asObject(json, "the document");
    if (doc.fernb === undefined) fail("the document", "has no \"fernb\" version field");
    if (typeof doc.fernb !== "number" || !Number.isInteger(doc.fernb) || doc.fernb < 1) fail("\"fernb\"", "must be a version number (1)");
    if (doc.fernb > FORMAT_VERSION) {
      fail("\"fernb\"", `is version ${doc.fernb}, written by a newer fernb; this one reads version ${FORMAT_VERSION}`);
    }
    checkNumbers(json);
    onlyKnownFields(doc, "the document", ["fernb", "metadata", "cells"]);
    if (!Array.isArray(doc.cells)) fail("\"cells\"", "must be an array");
    return {
      metadata: optionalObject(doc.metadata, "\"metadata\"") ?? {},
      cells: doc.cells.map((c, i) => parseCell(c, `cells[${i}]`)),
    };
  } catch (e) {
    if (e instanceof NotebookFormatError) throw new NotebookFormatError(`${prefix} ${e.message}. The file was left unchanged.`);
    throw e;
  }
}
