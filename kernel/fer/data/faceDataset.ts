/**
 * The data set value: faces (one contiguous HWC uint8 buffer) with one of the seven EMOTIONS each,
 * where each came from, what its load left out (`report`) and how it went (`loadStats`), and how a
 * curated view came from a curation ledger (`curation`); its subsets, fingerprint and display (a
 * summary and a class-count chart). Loading lives beside it: ./folder.ts (a folder per class),
 * ./fer2013Csv.ts (the FER2013 CSV), and ../dataset.ts, where a folder load meets its curation
 * ledger (`loadFolderDataset`).
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { chartWithText, DISPLAY } from "../../display";
import type { OutputItem } from "../../../protocol";
import { validateSpec } from "../images";
import { EMOTIONS, type Emotion } from "../labels";
import { DEFAULT_LEDGER_NAME, ledgerProblems, type CurationReport } from "../curation/report";

export interface SkippedFile {
  /** Relative to the dataset root (or `file.csv#line123`). */
  path: string;
  reason: string;
}

export interface LoadReport {
  /** Files (or CSV rows) that could not be loaded, with a human-readable reason. */
  skipped: SkippedFile[];
  /** Folders under the root whose names are not emotions (their images were NOT loaded). */
  unknownFolders: string[];
  /** Non-hidden files that are not images by extension (e.g. notes.txt, labels.csv), plus nested folders. */
  ignoredFiles: number;
  /** Up to 10 of the ignored entries, for messages. */
  ignoredExamples?: string[];
  /** Folder name → the emotion it was read as (e.g. `{ Happy: "happiness", sadness: "sadness" }`). */
  classFolders?: Record<string, Emotion>;
  /** CSV only: valid rows left out by the `usage` filter. */
  filteredOut?: number;
}

/**
 * What a load left out, as warnings for a command line: files that could not be read (with the
 * first few reasons) and folders that are not emotions. The same words for every command that loads
 * a folder (`fernb evaluate`, `fernb audit`), so none of them drops an image without a word.
 */
export function loadWarnings(report: LoadReport, limit = 3): string[] {
  const out: string[] = [];
  if (report.unknownFolders.length > 0) out.push(`folders that are not emotions were left out: ${report.unknownFolders.join(", ")}`);
  if (report.skipped.length > 0) {
    const shown = report.skipped.slice(0, limit).map((s) => `${s.path}: ${s.reason}`).join("; ");
    out.push(`${report.skipped.length} file(s) could not be read and were left out (${shown}${report.skipped.length > limit ? `; ... ${report.skipped.length - limit} more` : ""})`);
  }
  return out;
}

/** How a load went: where pixels came from and how long it took (for tests and tuning). */
export interface LoadStats {
  /** Image files (or CSV rows) considered. */
  files: number;
  /** Files decoded with sharp in this load. */
  decoded: number;
  /** Files whose pixels (or known decode failure) came from the disk cache. */
  diskCacheHits: number;
  /** True when the whole dataset was reused from this process's memory. */
  memoryCacheHit: boolean;
  /** The pack file used, if the disk cache was enabled. */
  cacheFile?: string;
  /** Why an existing pack file was not used (e.g. "checksum mismatch (truncated or corrupt)"). */
  cacheIgnoredReason?: string;
  /** True when this load wrote (or rewrote) the pack file. */
  cacheWritten: boolean;
  /** A cache write error (the load itself still succeeded). */
  cacheError?: string;
  elapsedMs: number;
}

export interface FaceDatasetInit {
  root: string;
  height: number;
  width: number;
  channels: 1 | 3;
  images: Uint8Array;
  labels: Int32Array;
  paths: string[];
  report?: LoadReport;
  loadStats?: LoadStats;
  curation?: DatasetCuration;
  /** A data set of several sources (`loadSources`): which source each image came from. */
  sourceInfo?: DatasetSources;
}

/**
 * Where the images of a data set of several sources came from (set by `loadSources`, carried by
 * `subset()`): one name and folder per source, and the source of every image.
 */
export interface DatasetSources {
  /** The source names, in load order. */
  names: string[];
  /** The folder each source was loaded from (absolute), in the order of `names`. */
  roots: string[];
  /** `index[i]` indexes `names`: the source of image i. */
  index: Int32Array;
  /** Per source: how its curation ledger was applied, as a sentence (undefined: no ledger). */
  curation?: (string | undefined)[];
  /** Near copies whose two images come from different sources, when they were searched for. */
  duplicates?: CrossSourceDuplicates;
}

/** Pairs of near copies across sources (indices into the data set), found by `findDuplicates`. */
export interface CrossSourceDuplicates {
  /** The pHash Hamming distance searched (see curation/duplicates.ts). */
  threshold: number;
  pairs: { a: number; b: number; distance: number; exact: boolean }[];
}

/**
 * How a curated view came from a curation ledger (set by `applyLedger`, and so by
 * `loadFolderDataset` when the dataset has a ledger). Curation functions given a curated view
 * (`applyLedger`, `review`, `exportCurated`, `curationSummary`, `CurationLedger.open`) work on `raw`,
 * so the ledger is never applied twice and new ledger lines record the raw (folder) label.
 */
export interface DatasetCuration {
  /** The ledger file that was replayed (absolute path). */
  ledgerFile: string;
  /** sha256 (hex) of the ledger bytes that were replayed. */
  ledgerSha256: string;
  /**
   * The images before the ledger, with their folder (CSV) labels: the whole loaded dataset, or for
   * a `subset()` of a curated view, that subset's images.
   */
  raw: FaceDataset;
  /** `originalIndex[i]` is the index in `raw` of image i of this dataset. */
  originalIndex: Int32Array;
  /** What the replay applied, and what it could not (stale decisions, missing files, bad lines). */
  report: CurationReport;
  /** True for a `subset()` of a curated view (`report` then describes the whole view). */
  subset?: boolean;
}

/** The decisions applied and the ledger's problems, as sentences (for summaries and messages). */
export function describeCuration(c: DatasetCuration): { applied: string; problems: string[] } {
  const r = c.report;
  const name = basename(c.ledgerFile) === DEFAULT_LEDGER_NAME ? DEFAULT_LEDGER_NAME : c.ledgerFile;
  const kept = r.states.length - r.excluded.length - r.relabelled.length;
  const decisions = [`${r.relabelled.length} relabelled`, `${r.excluded.length} excluded`];
  if (kept > 0) decisions.push(`${kept} reviewed and kept as labelled`);
  let applied: string;
  if (!r.read.exists) applied = `Curation ledger ${name} does not exist (yet): nothing applied`;
  else if (!r.entries && !r.read.lines) applied = `Curation ledger ${name} is empty: nothing applied`;
  else applied = `Curation ledger ${name} applied: ${decisions.join(", ")}${c.subset ? " (in the whole dataset this is a subset of)" : ` (${c.raw.size.toLocaleString("en-US")} images before curation)`}`;
  return { applied, problems: ledgerProblems(r) };
}

function emptyReport(): LoadReport {
  return { skipped: [], unknownFolders: [], ignoredFiles: 0 };
}

/** Images (HWC uint8, contiguous) with labels (indices into EMOTIONS). */
export class FaceDataset {
  readonly root: string;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly size: number;
  /** All images back to back: image i is `images.subarray(i * h * w * c, (i + 1) * h * w * c)`. */
  readonly images: Uint8Array;
  /** `labels[i]` indexes EMOTIONS. */
  readonly labels: Int32Array;
  /** Where image i came from, relative to `root` (CSV rows: `fer2013.csv#line123`). */
  readonly paths: string[];
  readonly report: LoadReport;
  readonly loadStats: LoadStats;
  /** Set on a curated view (see DatasetCuration): the ledger replayed and the raw data behind it. */
  readonly curation?: DatasetCuration;
  /** Set on a data set of several sources (`loadSources`); see also `sources` and `sourceOf(i)`. */
  readonly sourceInfo?: DatasetSources;
  private fingerprintCache?: string;

  constructor(init: FaceDatasetInit) {
    validateSpec(init);
    const n = init.labels.length;
    const px = init.height * init.width * init.channels;
    if (init.images.length !== n * px) throw new RangeError(`images has ${init.images.length} bytes; ${n} images of ${init.height}x${init.width}x${init.channels} need ${n * px}`);
    if (init.paths.length !== n) throw new RangeError(`paths has ${init.paths.length} entries, labels ${n}`);
    for (let i = 0; i < n; i++) {
      const l = init.labels[i];
      if (!(l >= 0 && l < EMOTIONS.length)) throw new RangeError(`label ${l} of image ${i} is not an index into EMOTIONS (0..${EMOTIONS.length - 1})`);
    }
    this.root = init.root;
    this.height = init.height;
    this.width = init.width;
    this.channels = init.channels;
    this.size = n;
    this.images = init.images;
    this.labels = init.labels;
    this.paths = init.paths;
    this.report = init.report ?? emptyReport();
    this.loadStats = init.loadStats ?? { files: n, decoded: 0, diskCacheHits: 0, memoryCacheHit: false, cacheWritten: false, elapsedMs: 0 };
    if (init.curation) {
      if (init.curation.originalIndex.length !== n) throw new RangeError(`curation.originalIndex has ${init.curation.originalIndex.length} entries, labels ${n}`);
      this.curation = init.curation;
    }
    if (init.sourceInfo) {
      const si = init.sourceInfo;
      if (si.index.length !== n) throw new RangeError(`sourceInfo.index has ${si.index.length} entries, labels ${n}`);
      if (si.roots.length !== si.names.length) throw new RangeError(`sourceInfo has ${si.names.length} names and ${si.roots.length} roots`);
      for (let i = 0; i < n; i++) if (!(si.index[i] >= 0 && si.index[i] < si.names.length)) throw new RangeError(`source ${si.index[i]} of image ${i} is not an index into the ${si.names.length} source names`);
      this.sourceInfo = si;
    }
  }

  /** The names of the sources this data set was loaded from (`loadSources`); empty for one folder or CSV. */
  get sources(): readonly string[] {
    return this.sourceInfo?.names ?? [];
  }

  /** The source name of image i (undefined for a data set of one folder or CSV). */
  sourceOf(i: number): string | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`image index ${i} out of range 0..${this.size - 1}`);
    const si = this.sourceInfo;
    return si ? si.names[si.index[i]] : undefined;
  }

  /** The images of the named source(s), in order (a `subset`): `dataset.fromSource("web")`. */
  fromSource(...names: string[]): FaceDataset {
    const si = this.sourceInfo;
    if (!si) throw new Error(`this data set has no sources (it was loaded from one folder, ${this.root}); load several with loadSources([{ name, root }, ...])`);
    const wanted = new Set<number>();
    for (const name of names.flat()) {
      const k = si.names.indexOf(name);
      if (k < 0) throw new Error(`no source named ${JSON.stringify(name)}; the sources are ${si.names.map((s) => JSON.stringify(s)).join(", ")}`);
      wanted.add(k);
    }
    const indices: number[] = [];
    for (let i = 0; i < this.size; i++) if (wanted.has(si.index[i])) indices.push(i);
    return this.subset(indices);
  }

  /** Images per source and class: `{ fer2013: { anger: 3, ... }, web: { ... } }` (empty for one folder). */
  sourceCounts(): Record<string, Record<Emotion, number>> {
    const si = this.sourceInfo;
    if (!si) return {};
    const out: Record<string, Record<Emotion, number>> = {};
    for (const name of si.names) out[name] = Object.fromEntries(EMOTIONS.map((e) => [e, 0])) as Record<Emotion, number>;
    for (let i = 0; i < this.size; i++) out[si.names[si.index[i]]][EMOTIONS[this.labels[i]]]++;
    return out;
  }

  /**
   * The same data (shared buffers, no copy) with load stats saying it came from the memory cache.
   * @internal
   */
  reused(t0: number): FaceDataset {
    const ds = new FaceDataset({
      root: this.root, height: this.height, width: this.width, channels: this.channels, images: this.images, labels: this.labels, paths: this.paths, report: this.report,
      loadStats: { ...this.loadStats, decoded: 0, diskCacheHits: 0, memoryCacheHit: true, cacheWritten: false, elapsedMs: performance.now() - t0 },
    });
    ds.fingerprintCache = this.fingerprintCache;
    return ds;
  }

  /**
   * The same images and labels (shared, no copy; same fingerprint) marked as a curated view.
   * @internal used by applyLedger when the ledger changes nothing.
   */
  withCuration(curation: DatasetCuration, loadStats: LoadStats = this.loadStats): FaceDataset {
    const ds = new FaceDataset({ root: this.root, height: this.height, width: this.width, channels: this.channels, images: this.images, labels: this.labels, paths: this.paths, report: this.report, loadStats, curation });
    ds.fingerprintCache = this.fingerprintCache;
    return ds;
  }

  /** Bytes per image (height × width × channels). */
  get imageSize(): number {
    return this.height * this.width * this.channels;
  }

  /** Image i as a view (no copy) into `images`. */
  image(i: number): Uint8Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`image index ${i} out of range 0..${this.size - 1}`);
    const px = this.imageSize;
    return this.images.subarray(i * px, (i + 1) * px);
  }

  /** The emotion of image i. */
  label(i: number): Emotion {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`image index ${i} out of range 0..${this.size - 1}`);
    return EMOTIONS[this.labels[i]];
  }

  classCounts(): Record<Emotion, number> {
    const counts = Object.fromEntries(EMOTIONS.map((e) => [e, 0])) as Record<Emotion, number>;
    for (const l of this.labels) counts[EMOTIONS[l]]++;
    return counts;
  }

  /**
   * A new dataset with the given images (copied, in the given order; repeats allowed). A subset of a
   * curated view is a curated view too: its `curation.raw` is the same images with their raw labels.
   */
  subset(indices: ArrayLike<number>): FaceDataset {
    const px = this.imageSize;
    const n = indices.length;
    const images = new Uint8Array(n * px);
    const labels = new Int32Array(n);
    const paths = new Array<string>(n);
    const si = this.sourceInfo;
    const sourceIndex = si ? new Int32Array(n) : undefined;
    for (let k = 0; k < n; k++) {
      const i = indices[k];
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`subset index ${i} (position ${k}) out of range 0..${this.size - 1}`);
      images.set(this.images.subarray(i * px, (i + 1) * px), k * px);
      labels[k] = this.labels[i];
      paths[k] = this.paths[i];
      if (sourceIndex) sourceIndex[k] = si!.index[i];
    }
    let sourceInfo: DatasetSources | undefined;
    if (si) {
      sourceInfo = { names: si.names, roots: si.roots, index: sourceIndex!, curation: si.curation };
      if (si.duplicates) {
        // Pairs whose two images are both in the subset, at their first new positions.
        const first = new Map<number, number>();
        for (let k = n - 1; k >= 0; k--) first.set(indices[k], k);
        const pairs = si.duplicates.pairs.filter((p) => first.has(p.a) && first.has(p.b)).map((p) => ({ ...p, a: first.get(p.a)!, b: first.get(p.b)! }));
        sourceInfo.duplicates = { threshold: si.duplicates.threshold, pairs };
      }
    }
    let curation: DatasetCuration | undefined;
    if (this.curation) {
      const { raw, originalIndex } = this.curation;
      const rawLabels = Int32Array.from({ length: n }, (_, k) => raw.labels[originalIndex[indices[k]]]);
      curation = {
        ...this.curation,
        raw: new FaceDataset({ root: this.root, height: this.height, width: this.width, channels: this.channels, images, labels: rawLabels, paths, report: this.report }),
        originalIndex: Int32Array.from({ length: n }, (_, k) => k),
        subset: true,
      };
    }
    return new FaceDataset({ root: this.root, height: this.height, width: this.width, channels: this.channels, images, labels, paths, report: this.report, curation, sourceInfo });
  }

  /**
   * SHA-256 (hex) over the shape, the labels and the pixels, in order. It identifies exactly what a
   * model was trained or evaluated on: the same files give the same fingerprint on any machine with
   * the same sharp version; changing any label or pixel, or the order, changes it. File names do not
   * enter it. A data set of several sources also hashes the source names and each image's source
   * (a data set of one folder, or of one source, hashes exactly what it always did).
   */
  fingerprint(): string {
    if (this.fingerprintCache) return this.fingerprintCache;
    const header = Buffer.alloc(16);
    header.writeUInt32LE(this.size, 0);
    header.writeUInt32LE(this.height, 4);
    header.writeUInt32LE(this.width, 8);
    header.writeUInt32LE(this.channels, 12);
    const labels = Buffer.alloc(this.size * 4);
    for (let i = 0; i < this.size; i++) labels.writeInt32LE(this.labels[i], i * 4);
    const hash = createHash("sha256").update("fernb-face-dataset-v1\0").update(header).update(labels).update(this.images);
    const si = this.sourceInfo;
    if (si && si.names.length > 1) hash.update("\0sources\0").update(JSON.stringify(si.names)).update(new Uint8Array(si.index.buffer, si.index.byteOffset, si.index.byteLength));
    this.fingerprintCache = hash.digest("hex");
    return this.fingerprintCache;
  }

  /** A short text summary (class counts, skipped/unknown/ignored files). */
  summary(): string {
    const counts = this.classCounts();
    const lines = [`FaceDataset: ${this.size.toLocaleString("en-US")} images, ${this.height}x${this.width}x${this.channels}, from ${this.root}`];
    const width = Math.max(...EMOTIONS.map((e) => e.length));
    for (const e of EMOTIONS) {
      const pct = this.size ? ((100 * counts[e]) / this.size).toFixed(1) : "0.0";
      lines.push(`  ${e.padEnd(width)} ${String(counts[e]).padStart(7)}  ${pct.padStart(5)}%`);
    }
    if (this.sourceInfo) lines.push(...this.sourceLines());
    const r = this.report;
    if (r.skipped.length) {
      lines.push(`Skipped ${r.skipped.length} file${r.skipped.length === 1 ? "" : "s"} that could not be loaded:`);
      for (const s of r.skipped.slice(0, 5)) lines.push(`  ${s.path}: ${s.reason}`);
      if (r.skipped.length > 5) lines.push(`  ... and ${r.skipped.length - 5} more (see .report.skipped)`);
    }
    if (r.unknownFolders.length) lines.push(`Not loaded — folders that are not emotion names: ${r.unknownFolders.map((f) => f + "/").join(", ")}`);
    if (r.ignoredFiles) lines.push(`Ignored ${r.ignoredFiles} non-image entr${r.ignoredFiles === 1 ? "y" : "ies"}${r.ignoredExamples?.length ? ` (e.g. ${r.ignoredExamples.slice(0, 3).join(", ")})` : ""}`);
    if (r.filteredOut) lines.push(`Left out ${r.filteredOut} rows of other Usage values`);
    if (this.curation) {
      const { applied, problems } = describeCuration(this.curation);
      lines.push(applied + (this.curation.subset ? "" : "; the raw data: .curation.raw, or load with { ledger: false }"));
      for (const p of problems) lines.push(`  ${p}`);
    }
    lines.push(`Fingerprint: sha256:${this.fingerprint().slice(0, 16)}…`);
    return lines.join("\n");
  }

  /** The per-source part of the summary: a source × class table, each source's ledger, near copies across sources. */
  private sourceLines(): string[] {
    const si = this.sourceInfo!;
    const counts = this.sourceCounts();
    const nameWidth = Math.max(6, ...si.names.map((s) => s.length));
    const col = (e: string) => Math.max(e.length, 6);
    const lines = [`${si.names.length} source${si.names.length === 1 ? "" : "s"}, images per source and class:`];
    lines.push(`  ${"source".padEnd(nameWidth)} ${EMOTIONS.map((e) => e.padStart(col(e))).join(" ")} ${"total".padStart(7)}`);
    const totals = Object.fromEntries(EMOTIONS.map((e) => [e, 0])) as Record<Emotion, number>;
    for (const name of si.names) {
      const c = counts[name];
      let total = 0;
      for (const e of EMOTIONS) {
        total += c[e];
        totals[e] += c[e];
      }
      lines.push(`  ${name.padEnd(nameWidth)} ${EMOTIONS.map((e) => String(c[e]).padStart(col(e))).join(" ")} ${String(total).padStart(7)}`);
    }
    if (si.names.length > 1) lines.push(`  ${"total".padEnd(nameWidth)} ${EMOTIONS.map((e) => String(totals[e]).padStart(col(e))).join(" ")} ${String(this.size).padStart(7)}`);
    si.names.forEach((name, k) => {
      const c = si.curation?.[k];
      lines.push(`  ${name}: ${si.roots[k]}${c ? ` (${c})` : ""}`);
    });
    const d = si.duplicates;
    if (d) {
      if (d.pairs.length === 0) lines.push(`No near copies across sources (pHash distance ≤ ${d.threshold})`);
      else {
        const exact = d.pairs.filter((p) => p.exact).length;
        const conflicts = d.pairs.filter((p) => this.labels[p.a] !== this.labels[p.b]).length;
        const ref = (i: number) => `${this.sourceOf(i)}:${this.paths[i]}`;
        lines.push(`Near copies across sources: ${d.pairs.length} pair${d.pairs.length === 1 ? "" : "s"} (${exact} identical, ${conflicts} with different labels, pHash distance ≤ ${d.threshold}); the same face in two sources can leak between a train and a test split:`);
        for (const p of d.pairs.slice(0, 5)) lines.push(`  ${this.labels[p.a] !== this.labels[p.b] ? "CONFLICT " : ""}${ref(p.a)} (${this.label(p.a)}) ≈ ${ref(p.b)} (${this.label(p.b)})${p.exact ? " identical" : ` distance ${p.distance}`}`);
        if (d.pairs.length > 5) lines.push(`  ... and ${d.pairs.length - 5} more (see .sourceInfo.duplicates, or crossSourceDuplicates(dataset))`);
      }
    }
    return lines;
  }

  /** A vega-lite bar chart of the class counts (stacked by source for several sources); its subtitle carries the skipped/unknown notes. */
  chartSpec(): object {
    const counts = this.classCounts();
    const r = this.report;
    const notes: string[] = [];
    if (r.skipped.length) notes.push(`${r.skipped.length} file(s) skipped (unreadable/corrupt), e.g. ${r.skipped[0].path}: ${r.skipped[0].reason}`.slice(0, 160));
    if (r.unknownFolders.length) notes.push(`not loaded (unknown folders): ${r.unknownFolders.join(", ")}`.slice(0, 160));
    if (this.curation) {
      const { applied, problems } = describeCuration(this.curation);
      notes.push(applied.slice(0, 160));
      if (problems.length) notes.push(`${problems.length} ledger problem(s), e.g. ${problems[0]}`.slice(0, 160));
    }
    return {
      title: {
        text: `${this.size.toLocaleString("en-US")} faces, ${this.height}x${this.width}x${this.channels} — ${this.sourceInfo ? this.sources.join(" + ") : basename(this.root)}`,
        subtitle: notes.length ? notes : undefined,
      },
      width: 360,
      height: 180,
      data: { values: this.sourceInfo ? this.sourceChartValues() : EMOTIONS.map((e) => ({ emotion: e, count: counts[e], share: this.size ? counts[e] / this.size : 0 })) },
      mark: { type: "bar", tooltip: true },
      encoding: {
        x: { field: "emotion", type: "nominal", sort: [...EMOTIONS], title: null, axis: { labelAngle: 0 } },
        y: { field: "count", type: "quantitative", title: "images" },
        ...(this.sourceInfo ? { color: { field: "source", type: "nominal", sort: [...this.sources] } } : {}),
        tooltip: [
          { field: "emotion", type: "nominal" },
          ...(this.sourceInfo ? [{ field: "source", type: "nominal" }] : []),
          { field: "count", type: "quantitative", format: "," },
          { field: "share", type: "quantitative", format: ".1%" },
        ],
      },
    };
  }

  private sourceChartValues(): object[] {
    const counts = this.sourceCounts();
    return this.sources.flatMap((source) => EMOTIONS.map((e) => ({ emotion: e, source, count: counts[source][e], share: this.size ? counts[source][e] / this.size : 0 })));
  }

  [DISPLAY](): OutputItem[] {
    return chartWithText(this.chartSpec(), this.summary());
  }

  toString(): string {
    return this.summary();
  }
}
