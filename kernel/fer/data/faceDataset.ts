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
    for (let k = 0; k < n; k++) {
      const i = indices[k];
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`subset index ${i} (position ${k}) out of range 0..${this.size - 1}`);
      images.set(this.images.subarray(i * px, (i + 1) * px), k * px);
      labels[k] = this.labels[i];
      paths[k] = this.paths[i];
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
    return new FaceDataset({ root: this.root, height: this.height, width: this.width, channels: this.channels, images, labels, paths, report: this.report, curation });
  }

  /**
   * SHA-256 (hex) over the shape, the labels and the pixels, in order. It identifies exactly what a
   * model was trained or evaluated on: the same files give the same fingerprint on any machine with
   * the same sharp version; changing any label or pixel, or the order, changes it. File names do not
   * enter it.
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
    this.fingerprintCache = createHash("sha256").update("fernb-face-dataset-v1\0").update(header).update(labels).update(this.images).digest("hex");
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

  /** A vega-lite bar chart of the class counts; its subtitle carries the skipped/unknown notes. */
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
        text: `${this.size.toLocaleString("en-US")} faces, ${this.height}x${this.width}x${this.channels} — ${basename(this.root)}`,
        subtitle: notes.length ? notes : undefined,
      },
      width: 360,
      height: 180,
      data: { values: EMOTIONS.map((e) => ({ emotion: e, count: counts[e], share: this.size ? counts[e] / this.size : 0 })) },
      mark: { type: "bar", tooltip: true },
      encoding: {
        x: { field: "emotion", type: "nominal", sort: [...EMOTIONS], title: null, axis: { labelAngle: 0 } },
        y: { field: "count", type: "quantitative", title: "images" },
        tooltip: [
          { field: "emotion", type: "nominal" },
          { field: "count", type: "quantitative", format: "," },
          { field: "share", type: "quantitative", format: ".1%" },
        ],
      },
    };
  }

  [DISPLAY](): OutputItem[] {
    return chartWithText(this.chartSpec(), this.summary());
  }

  toString(): string {
    return this.summary();
  }
}
