/**
 * The FER2013 CSV (`emotion,pixels,Usage`): rows parsed into a FaceDataset, streamed (progress in
 * bytes), every invalid row listed in `report.skipped` as `<file>#line<N>` with the reason, kept in
 * memory like a folder load (./cache.ts). For an input size other than 48×48×1 each image goes
 * through images.ts's `resizeRaw`, the same resize as decoding a file.
 */
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { createInterface } from "node:readline";
import { resizeRaw, type ImageSpec } from "../images";
import { emotionIndex, FER2013_CSV_CLASSES } from "../labels";
import { fromMemoryCache } from "./cache";
import { FaceDataset, type LoadReport, type LoadStats } from "./faceDataset";
import { specOf, throttled, type LoadOptions } from "./loadOptions";

export type Fer2013Usage = "Training" | "PublicTest" | "PrivateTest";

export interface CsvLoadOptions extends Omit<LoadOptions, "ledger"> {
  /** Keep only rows with this Usage (FER2013: Training 28,709 / PublicTest 3,589 / PrivateTest 3,589). */
  usage?: Fer2013Usage;
}

const CSV_SIDE = 48;
const CSV_PIXELS = CSV_SIDE * CSV_SIDE;

/** Parses "p0 p1 ... p2303" into `out`; returns an error message or undefined. */
function parsePixels(text: string, out: Uint8Array): string | undefined {
  let n = 0;
  let value = -1;
  for (let i = 0, len = text.length; i <= len; i++) {
    const ch = i < len ? text.charCodeAt(i) : 32;
    if (ch >= 48 && ch <= 57) {
      value = value < 0 ? ch - 48 : value * 10 + (ch - 48);
      if (value > 255) {
        let end = i;
        while (end < len && text.charCodeAt(end) > 32) end++;
        let start = i;
        while (start > 0 && text.charCodeAt(start - 1) > 32) start--;
        return `pixel ${n + 1} is '${text.slice(start, end)}', not an integer 0..255`;
      }
    } else if (ch === 32 || ch === 9) {
      if (value >= 0) {
        if (n >= CSV_PIXELS) return `more than ${CSV_PIXELS} pixel values (expected ${CSV_SIDE}x${CSV_SIDE})`;
        out[n++] = value;
        value = -1;
      }
    } else {
      let end = i;
      while (end < len && text.charCodeAt(end) > 32) end++;
      let start = i;
      while (start > 0 && text.charCodeAt(start - 1) > 32) start--;
      return `pixel ${n + 1} is '${text.slice(start, end)}', not an integer 0..255`;
    }
  }
  if (n !== CSV_PIXELS) return `expected ${CSV_PIXELS} pixel values (${CSV_SIDE}x${CSV_SIDE}), got ${n}`;
  return undefined;
}

const unquote = (s: string) => {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).trim() : t;
};

/**
 * Loads the FER2013 CSV (`emotion,pixels,Usage`; emotion 0..6 = FER2013_CSV_CLASSES; pixels =
 * 2304 space-separated integers, a 48×48 grayscale image row by row). Columns are found by header
 * name; Usage is optional unless `usage` is given. Invalid rows are listed in `report.skipped` as
 * `<file>#line<N>` (1-based file line numbers, header = line 1) with the reason. Progress counts bytes.
 * For a spec other than 48×48×1 each image goes through `resizeRaw` (the same resize as decodeImage).
 */
export async function loadFer2013Csv(path: string, options: CsvLoadOptions = {}): Promise<FaceDataset> {
  const t0 = performance.now();
  const spec = specOf(options);
  const usages: Fer2013Usage[] = ["Training", "PublicTest", "PrivateTest"];
  if (options.usage !== undefined && !usages.includes(options.usage)) {
    throw new Error(`usage must be one of ${usages.join(", ")}, got ${JSON.stringify(options.usage)}`);
  }
  const abs = resolve(path);
  const info = await stat(abs).catch((e: NodeJS.ErrnoException) => {
    throw new Error(e.code === "ENOENT" ? `FER2013 CSV not found: ${abs}` : `Cannot read ${abs}: ${e.message}`);
  });
  if (info.isDirectory()) throw new Error(`${abs} is a folder, not a CSV file. For one folder per emotion use loadFolderDataset(path).`);
  const memKey = `csv\0${await realpath(abs)}\0${spec.height}x${spec.width}x${spec.channels}\0${options.usage ?? "*"}`;
  const signature = `${info.size}\0${info.mtimeMs}`;
  return fromMemoryCache(memKey, signature, options, t0, () => options.onProgress?.(info.size, info.size), () => parseFer2013Csv(abs, info.size, spec, options, t0));
}

async function parseFer2013Csv(abs: string, totalBytes: number, spec: ImageSpec, options: CsvLoadOptions, t0: number): Promise<FaceDataset> {
  const name = basename(abs);
  const px = spec.height * spec.width * spec.channels;
  const report: LoadReport = { skipped: [], unknownFolders: [], ignoredFiles: 0, filteredOut: 0 };
  const stats: LoadStats = { files: 0, decoded: 0, diskCacheHits: 0, memoryCacheHit: false, cacheWritten: false, elapsedMs: 0 };
  const progress = throttled(options.onProgress);
  const wantUsage = options.usage?.toLowerCase();
  const resize = !(spec.height === CSV_SIDE && spec.width === CSV_SIDE && spec.channels === 1);

  let capacity = 1024;
  let images = new Uint8Array(capacity * px);
  let labels = new Int32Array(capacity);
  const paths: string[] = [];
  const row = new Uint8Array(CSV_PIXELS);
  let lineNo = 0;
  let bytesRead = 0;
  let cols: { emotion: number; pixels: number; usage: number; count: number } | undefined;

  const stream = createReadStream(abs, { encoding: "utf8", highWaterMark: 1 << 20 });
  stream.on("data", (chunk) => {
    bytesRead += Buffer.byteLength(chunk as string, "utf8");
    progress(Math.min(bytesRead, totalBytes), totalBytes);
  });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  for await (const rawLine of lines) {
    lineNo++;
    const line = lineNo === 1 ? rawLine.replace(/^\uFEFF/, "") : rawLine;
    if (line.trim() === "") continue;
    const fields = line.split(",");
    if (!cols) {
      const names = fields.map((f) => unquote(f).toLowerCase());
      const emotion = names.indexOf("emotion");
      const pixels = names.indexOf("pixels");
      const usage = names.indexOf("usage");
      if (emotion < 0 || pixels < 0) {
        stream.destroy();
        throw new Error(
          `${abs} is not a FER2013 CSV: its first line must be a header with 'emotion' and 'pixels' columns (and optionally 'Usage'), found ${JSON.stringify(line.slice(0, 80))}` +
            (pixels >= 0 ? " (a CSV without 'emotion' labels, like Kaggle's test.csv, cannot be used for training or evaluation)" : ""),
        );
      }
      if (wantUsage && usage < 0) {
        stream.destroy();
        throw new Error(`${abs} has no 'Usage' column, so it cannot be filtered by usage=${options.usage}; omit the usage option to load every row.`);
      }
      cols = { emotion, pixels, usage, count: names.length };
      continue;
    }
    const where = `${name}#line${lineNo}`;
    const skip = (reason: string) => report.skipped.push({ path: where, reason });
    if (fields.length !== cols.count) {
      skip(`expected ${cols.count} comma-separated fields, got ${fields.length}`);
      continue;
    }
    const emotionText = unquote(fields[cols.emotion]);
    const emotion = /^\d+$/.test(emotionText) ? Number(emotionText) : NaN;
    if (!(emotion >= 0 && emotion < FER2013_CSV_CLASSES.length)) {
      skip(`emotion '${emotionText.slice(0, 20)}' is not an integer 0..${FER2013_CSV_CLASSES.length - 1}`);
      continue;
    }
    const error = parsePixels(unquote(fields[cols.pixels]), row);
    if (error) {
      skip(error);
      continue;
    }
    if (wantUsage && unquote(fields[cols.usage]).toLowerCase() !== wantUsage) {
      report.filteredOut!++;
      continue;
    }
    const n = paths.length;
    if (n === capacity) {
      capacity *= 2;
      const grown = new Uint8Array(capacity * px);
      grown.set(images);
      images = grown;
      const grownLabels = new Int32Array(capacity);
      grownLabels.set(labels);
      labels = grownLabels;
    }
    images.set(resize ? await resizeRaw(row, CSV_SIDE, CSV_SIDE, 1, spec) : row, n * px);
    if (resize) stats.decoded++;
    labels[n] = emotionIndex(FER2013_CSV_CLASSES[emotion]);
    paths.push(where);
  }
  if (!cols) throw new Error(`${abs} is empty: expected a FER2013 CSV with an 'emotion,pixels,Usage' header.`);
  stats.files = paths.length + report.skipped.length + report.filteredOut!;
  stats.elapsedMs = performance.now() - t0;
  progress(totalBytes, totalBytes);
  const n = paths.length;
  return new FaceDataset({ root: abs, ...spec, images: images.slice(0, n * px), labels: labels.slice(0, n), paths, report, loadStats: stats });
}
