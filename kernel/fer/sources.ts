/**
 * Several sources in one data set (issue #17): `loadSources` loads several folders, each under a
 * source name (each folder's curation ledger replayed as `loadFolderDataset` does for one), into one
 * FaceDataset that knows each image's source (`dataset.sources`, `dataset.sourceOf(i)`,
 * `dataset.fromSource("web")`) and shows counts per source and class; near copies whose two images
 * come from different sources are searched for on load (`crossSourceDuplicates`); `evaluate` reports
 * metrics per source for such data; `crossSourceEvaluation` trains on each source (and on all) and
 * evaluates on each: the "train on A, evaluate on B" table a notebook asks for.
 */
import type * as tf from "@tensorflow/tfjs";
import { relative, resolve, sep } from "node:path";
import { DISPLAY, htmlWithText } from "../display";
import type { OutputItem } from "../../protocol";
import { findDuplicates, type DuplicateOptions, type DuplicatePair, type DuplicateReport } from "./curation/duplicates";
import { describeCuration, FaceDataset, loadFolderDataset, type LoadOptions, type LoadReport, type LoadStats } from "./dataset";
import type { DatasetSources } from "./data/faceDataset";
import { evaluate, type Evaluation, type EvaluationOptions } from "./evaluate";

/** One source of a data set of several sources. */
export interface SourceSpec {
  /** The name the source is shown and filtered by (e.g. "fer2013", "web"). */
  name: string;
  /** Its folder, laid out as `<root>/<emotion>/*.png` (see `loadFolderDataset`). */
  root: string;
  /** Its curation ledger (default `<root>/.fernb-ledger.jsonl` when it exists), or false for the raw data. */
  ledger?: string | false;
}

export interface SourcesLoadOptions extends Omit<LoadOptions, "ledger"> {
  /** `false`: the raw data of every source (no ledger replayed). A ledger file per source: `SourceSpec.ledger`. */
  ledger?: false;
  /**
   * Search for near copies across sources while loading (shown by the display, kept in
   * `dataset.sourceInfo.duplicates`): `true` (default, pHash distance ≤ 4), a distance 0..20, or false.
   */
  duplicates?: boolean | number;
}

/**
 * Loads several folders, each under a source name, as one data set: the images of the first source
 * first (in `loadFolderDataset`'s order), then the second's, and so on. Each folder's curation
 * ledger is replayed as `loadFolderDataset` replays it for one folder. `dataset.root` is the
 * folders' nearest common parent and `dataset.paths` are relative to it (so `root/path` is the
 * file). A data set of one source has the fingerprint of that folder loaded alone; of several, the
 * fingerprint also covers the source names and each image's source.
 *
 *     const data = await loadSources([{ name: "fer2013", root: "data/fer2013/train" }, { name: "web", root: "data/web" }]);
 *     data.fromSource("web")   // the web images only
 */
export async function loadSources(sources: SourceSpec[], options: SourcesLoadOptions = {}): Promise<FaceDataset> {
  const t0 = performance.now();
  if (!Array.isArray(sources) || sources.length === 0) throw new TypeError("loadSources takes a list of sources: [{ name: \"fer2013\", root: \"path/to/train\" }, ...]");
  const names = new Set<string>();
  const roots = new Map<string, string>();
  for (const [k, s] of sources.entries()) {
    if (!s || typeof s.name !== "string" || s.name.trim() === "") throw new TypeError(`source ${k + 1} needs a name: { name: "web", root: "path/to/folder" }`);
    if (typeof s.root !== "string" || s.root === "") throw new TypeError(`source ${JSON.stringify(s.name)} needs a root folder: { name: ${JSON.stringify(s.name)}, root: "path/to/folder" }`);
    if (names.has(s.name)) throw new Error(`two sources are named ${JSON.stringify(s.name)}: give each source its own name`);
    names.add(s.name);
    const abs = resolve(s.root);
    if (roots.has(abs)) throw new Error(`sources ${JSON.stringify(roots.get(abs))} and ${JSON.stringify(s.name)} are the same folder (${abs})`);
    roots.set(abs, s.name);
  }
  const { duplicates = true, onProgress, ...rest } = options;
  if ((options as LoadOptions).ledger !== undefined && (options as LoadOptions).ledger !== false) throw new TypeError("a ledger file is per source: { name, root, ledger: \"path/to/ledger.jsonl\" }; options.ledger can only be false (raw data)");
  if (duplicates !== true && duplicates !== false && !(Number.isInteger(duplicates) && duplicates >= 0 && duplicates <= 20)) throw new RangeError(`duplicates must be true, false or a pHash distance 0..20, got ${JSON.stringify(duplicates)}`);

  const parts: FaceDataset[] = [];
  let doneBefore = 0;
  for (const s of sources) {
    const ledger = s.ledger !== undefined ? s.ledger : options.ledger;
    let part: FaceDataset;
    try {
      part = await loadFolderDataset(s.root, { ...rest, ledger, onProgress: onProgress ? (d, t) => onProgress(doneBefore + d, doneBefore + t) : undefined });
    } catch (e) {
      throw new Error(`source ${JSON.stringify(s.name)}: ${(e as Error).message ?? e}`, { cause: e });
    }
    doneBefore += part.loadStats.files;
    parts.push(part);
  }
  const dataset = concatSources(sources.map((s) => s.name), parts, t0);
  if (duplicates !== false && sources.length > 1) {
    const report = crossSourceDuplicates(dataset, { threshold: duplicates === true ? undefined : duplicates });
    dataset.sourceInfo!.duplicates = { threshold: report.threshold, pairs: report.pairs.map((p) => ({ a: p.a.index, b: p.b.index, distance: p.distance, exact: p.exact })) };
  }
  return dataset;
}

/** The folders' nearest common parent. */
function commonParent(dirs: string[]): string {
  let parts = dirs[0].split(sep);
  for (const d of dirs.slice(1)) {
    const q = d.split(sep);
    let k = 0;
    while (k < parts.length && k < q.length && parts[k] === q[k]) k++;
    parts = parts.slice(0, k);
  }
  const joined = parts.join(sep);
  return joined === "" ? sep : joined;
}

function concatSources(names: string[], parts: FaceDataset[], t0: number): FaceDataset {
  const { height, width, channels } = parts[0];
  const roots = parts.map((p) => resolve(p.root));
  const root = parts.length === 1 ? roots[0] : commonParent(roots);
  const prefixes = roots.map((r) => relative(root, r).split(sep).filter(Boolean).join("/"));
  const size = parts.reduce((a, p) => a + p.size, 0);
  const px = height * width * channels;
  const images = new Uint8Array(size * px);
  const labels = new Int32Array(size);
  const index = new Int32Array(size);
  const paths: string[] = [];
  const report: LoadReport = { skipped: [], unknownFolders: [], ignoredFiles: 0 };
  const stats: LoadStats = { files: 0, decoded: 0, diskCacheHits: 0, memoryCacheHit: true, cacheWritten: false, elapsedMs: 0 };
  let at = 0;
  parts.forEach((p, s) => {
    const pre = prefixes[s] ? `${prefixes[s]}/` : "";
    images.set(p.images, at * px);
    labels.set(p.labels, at);
    index.fill(s, at, at + p.size);
    for (const path of p.paths) paths.push(pre + path);
    at += p.size;
    report.skipped.push(...p.report.skipped.map((k) => ({ path: pre + k.path, reason: k.reason })));
    report.unknownFolders.push(...p.report.unknownFolders.map((f) => pre + f));
    report.ignoredFiles += p.report.ignoredFiles;
    if (p.report.ignoredExamples?.length) report.ignoredExamples = [...(report.ignoredExamples ?? []), ...p.report.ignoredExamples.map((f) => pre + f)].slice(0, 10);
    stats.files += p.loadStats.files;
    stats.decoded += p.loadStats.decoded;
    stats.diskCacheHits += p.loadStats.diskCacheHits;
    stats.memoryCacheHit &&= p.loadStats.memoryCacheHit;
    stats.cacheWritten ||= p.loadStats.cacheWritten;
  });
  stats.elapsedMs = performance.now() - t0;
  const sourceInfo: DatasetSources = {
    names: [...names],
    roots,
    index,
    curation: parts.map((p) => {
      if (!p.curation) return undefined;
      const { applied, problems } = describeCuration(p.curation);
      return problems.length ? `${applied}; ${problems.length} ledger problem(s): ${problems[0]}` : applied;
    }),
  };
  return new FaceDataset({ root, height, width, channels, images, labels, paths, report, loadStats: stats, sourceInfo });
}

// ---- near copies across sources -------------------------------------------------------------------

/** A near copy whose two images come from different sources. */
export interface SourceDuplicatePair extends DuplicatePair {
  sourceA: string;
  sourceB: string;
}

/** Near copies across the sources of a data set (`crossSourceDuplicates`). */
export class SourceDuplicates {
  constructor(
    readonly pairs: SourceDuplicatePair[],
    readonly threshold: number,
    /** The search over the whole data set (all near copies, within sources too). */
    readonly all: DuplicateReport,
  ) {}

  /** Pairs per pair of sources: `{ "fer2013 × web": 3 }`. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.pairs) {
      const key = `${p.sourceA} × ${p.sourceB}`;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  summary(): string {
    if (!this.pairs.length) return `No near copies across sources (pHash distance ≤ ${this.threshold})`;
    const exact = this.pairs.filter((p) => p.exact).length;
    const lines = [`Near copies across sources: ${this.pairs.length} pair(s), ${exact} identical (pHash distance ≤ ${this.threshold}); ${Object.entries(this.counts()).map(([k, v]) => `${k}: ${v}`).join(", ")}`];
    for (const p of this.pairs.slice(0, 10)) lines.push(`  ${p.conflict ? "CONFLICT " : ""}${p.sourceA}:${p.a.path} (${p.a.label}) ≈ ${p.sourceB}:${p.b.path} (${p.b.label})${p.exact ? " identical" : ` distance ${p.distance}`}`);
    if (this.pairs.length > 10) lines.push(`  ... and ${this.pairs.length - 10} more (see .pairs)`);
    return lines.join("\n");
  }

  toJSON(): Record<string, unknown> {
    return { threshold: this.threshold, counts: this.counts(), pairs: this.pairs };
  }

  [DISPLAY](): OutputItem[] {
    return [{ mime: "text/plain", data: this.summary() }];
  }

  toString(): string {
    return this.summary();
  }
}

/**
 * Near copies (see curation/duplicates.ts `findDuplicates`) whose two images come from different
 * sources of a data set of several sources: the same face in FER2013 and in the web data.
 */
export function crossSourceDuplicates(data: FaceDataset, options: Omit<DuplicateOptions, "names"> = {}): SourceDuplicates {
  if (!data.sourceInfo) throw new Error("this data set has no sources; load several with loadSources([{ name, root }, ...]), or compare two data sets with findLeaks(a, b)");
  const all = findDuplicates(data, options);
  const pairs: SourceDuplicatePair[] = [];
  for (const p of all.pairs) {
    const sourceA = data.sourceOf(p.a.index)!;
    const sourceB = data.sourceOf(p.b.index)!;
    if (sourceA !== sourceB) pairs.push({ ...p, sourceA, sourceB });
  }
  return new SourceDuplicates(pairs, all.threshold, all);
}

// ---- train on A, evaluate on B ------------------------------------------------------------------

/** What `fit` returns: a model, or a model with the pixel normalisation it was trained with. */
export type FittedModel = tf.LayersModel | { model: tf.LayersModel; normalization?: { mean: number; std: number } };

export interface CrossSourceOptions {
  /** Training data of several sources (`loadSources`). */
  train: FaceDataset;
  /** Held-out data of the same sources (`loadSources` on the test folders). */
  test: FaceDataset;
  /**
   * Trains a model on `data` (the training images of the source(s) named `trainedOn`), e.g.
   * `async (data) => { const model = createResNet18(); const r = await train(model, data, { epochs: 5 }); return { model, normalization: r.normalization }; }`.
   */
  fit: (data: FaceDataset, trainedOn: string) => FittedModel | Promise<FittedModel>;
  /** Normalisation for models returned without one (default: none given is an error). */
  normalization?: { mean: number; std: number };
  /** Also train on all sources together (row "all"; default true when there are several). */
  all?: boolean;
  /** Also train on all sources but one (rows "all − web": does a source help or hurt?; default false). */
  leaveOneOut?: boolean;
  /** Dispose the models once all are evaluated (default true). */
  dispose?: boolean;
  /** Passed to `evaluate` (batch size, progress). */
  evaluation?: Omit<EvaluationOptions, "normalization" | "tta">;
}

/** Rows: the training data (a source, "all", "all − X"); columns: the test sources, then "all". */
export class CrossSourceTable {
  constructor(
    readonly rows: string[],
    readonly columns: string[],
    /** accuracy[r][c]: the model trained on rows[r], on the test images of columns[c] (NaN: no images). */
    readonly accuracy: number[][],
    readonly macroF1: number[][],
    /** Test images per column. */
    readonly testSizes: number[],
    /** Training images per row. */
    readonly trainSizes: number[],
    /** The evaluation of each row's model on the whole test set. */
    readonly evaluations: Evaluation[],
  ) {}

  /** A markdown table of accuracies (macro-F1 in brackets). */
  summary(): string {
    const cell = (r: number, c: number) => (Number.isNaN(this.accuracy[r][c]) ? "–" : `${(100 * this.accuracy[r][c]).toFixed(1)}% (${this.macroF1[r][c].toFixed(3)})`);
    const lines = [
      "Accuracy (macro-F1): rows = trained on, columns = evaluated on",
      `| trained on ↓ / test → | ${this.columns.map((c, k) => `${c} (n=${this.testSizes[k]})`).join(" | ")} |`,
      `|---|${this.columns.map(() => "---:").join("|")}|`,
      ...this.rows.map((r, i) => `| ${r} (n=${this.trainSizes[i]}) | ${this.columns.map((_, c) => cell(i, c)).join(" | ")} |`),
    ];
    return lines.join("\n");
  }

  private html(): string {
    const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
    const td = (v: number, f: number) => {
      if (Number.isNaN(v)) return `<td style="text-align:center">–</td>`;
      const a = Math.max(0, Math.min(1, v));
      return `<td style="text-align:right;padding:2px 8px;background:rgba(46,160,67,${(0.1 + 0.6 * a).toFixed(2)})" title="macro-F1 ${f.toFixed(4)}">${(100 * v).toFixed(1)}%</td>`;
    };
    const head = `<tr><th style="text-align:left">trained on ↓ / evaluated on →</th>${this.columns.map((c, k) => `<th style="padding:2px 8px">${esc(c)}<br><small>n=${this.testSizes[k]}</small></th>`).join("")}</tr>`;
    const body = this.rows.map((r, i) => `<tr><th style="text-align:left;padding:2px 8px">${esc(r)} <small>(n=${this.trainSizes[i]})</small></th>${this.columns.map((_, c) => td(this.accuracy[i][c], this.macroF1[i][c])).join("")}</tr>`).join("");
    return `<table style="border-collapse:collapse"><caption style="text-align:left">Accuracy: rows = trained on, columns = evaluated on (hover: macro-F1)</caption>${head}${body}</table>`;
  }

  toJSON(): Record<string, unknown> {
    return { rows: this.rows, columns: this.columns, accuracy: this.accuracy, macroF1: this.macroF1, testSizes: this.testSizes, trainSizes: this.trainSizes };
  }

  [DISPLAY](): OutputItem[] {
    return htmlWithText(this.html(), this.summary());
  }

  toString(): string {
    return this.summary();
  }
}

/**
 * Trains a model on each source's training images (and on all of them, and optionally on all but
 * one) with `fit`, evaluates each on every source's test images, and returns the table of
 * accuracies (rows: trained on, columns: evaluated on, plus "all"). Answers "how does a model of
 * one source do on another?" and, with `leaveOneOut`, "does the web data help or hurt?".
 */
export async function crossSourceEvaluation(options: CrossSourceOptions): Promise<CrossSourceTable> {
  const { train: trainData, test, fit } = options;
  if (!trainData?.sourceInfo || !test?.sourceInfo) throw new Error("crossSourceEvaluation needs train and test data of several sources: load each with loadSources([{ name, root }, ...])");
  if (typeof fit !== "function") throw new TypeError("crossSourceEvaluation needs fit: (data, trainedOn) => model");
  const names = [...trainData.sources];
  for (const n of test.sources) if (!names.includes(n)) throw new Error(`the test data has a source ${JSON.stringify(n)} the training data lacks; the training sources are ${names.join(", ")}`);
  const rows: { name: string; sources: string[] }[] = names.map((n) => ({ name: n, sources: [n] }));
  if (options.all ?? names.length > 1) rows.push({ name: "all", sources: names });
  if (options.leaveOneOut && names.length > 1) for (const n of names) rows.push({ name: `all − ${n}`, sources: names.filter((m) => m !== n) });
  const columns = [...test.sources, "all"];
  const accuracy: number[][] = [];
  const macroF1: number[][] = [];
  const trainSizes: number[] = [];
  const evaluations: Evaluation[] = [];
  const models = new Set<tf.LayersModel>();
  for (const row of rows) {
    const data = row.sources.length === names.length ? trainData : trainData.fromSource(...row.sources);
    trainSizes.push(data.size);
    const fitted = await fit(data, row.name);
    const model = "model" in fitted && !("predict" in fitted) ? fitted.model : (fitted as tf.LayersModel);
    const normalization = ("normalization" in fitted ? fitted.normalization : undefined) ?? options.normalization;
    if (!model || typeof (model as tf.LayersModel).predict !== "function") throw new TypeError(`fit returned no model for ${JSON.stringify(row.name)}: return a tf.LayersModel or { model, normalization }`);
    if (!normalization) throw new Error(`fit returned a model without its normalization for ${JSON.stringify(row.name)}: return { model, normalization } (train's result has it), or pass options.normalization`);
    const ev = await evaluate(model, test, { ...options.evaluation, normalization });
    evaluations.push(ev);
    const bySource = new Map(ev.perSource.map((s) => [s.source, s] as const));
    accuracy.push([...test.sources.map((s) => bySource.get(s)?.accuracy ?? NaN), ev.metrics.accuracy]);
    macroF1.push([...test.sources.map((s) => bySource.get(s)?.macroF1 ?? NaN), ev.metrics.macroF1]);
    models.add(model);
  }
  // Disposed at the end: a fit may hand the same model back for several rows.
  if (options.dispose !== false) for (const m of models) m.dispose();
  const testSizes = [...test.sources.map((s) => sourceSize(test, s)), test.size];
  return new CrossSourceTable(rows.map((r) => r.name), columns, accuracy, macroF1, testSizes, trainSizes, evaluations);
}

function sourceSize(data: FaceDataset, source: string): number {
  let n = 0;
  for (let i = 0; i < data.size; i++) if (data.sourceOf(i) === source) n++;
  return n;
}
