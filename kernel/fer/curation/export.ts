/**
 * The curated dataset as files (`exportCurated`: a folder per class, images copied, never moved,
 * plus manifest.json) and as a notebook summary (`curationSummary`: how many images were reviewed,
 * relabelled and excluded, per class, as text and a vega-lite chart).
 */
import { constants as fsConstants, lstatSync } from "node:fs";
import { copyFile, mkdir, readdir, realpath, rename, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { chartWithText, DISPLAY } from "../../display";
import type { OutputItem } from "../../../protocol";
import type { FaceDataset } from "../data/faceDataset";
import { pool } from "../pool";
import { encodePng } from "../images";
import { EMOTIONS, type Emotion } from "../labels";
import { isInside, realPathOrPlanned, safeWritePath } from "../safeWrite";
import { applyLedger, CurationLedger, isCsvRowPath, ledgerProblems, uncurated, type AppliedLedger, type CurationReport } from "./ledger";


export interface ExportOptions {
  /** Allow an outDir that already has files (existing files are still never overwritten). Default false. */
  allowNonEmpty?: boolean;
  /** Files copied at once (default 16). */
  concurrency?: number;
}

export interface ManifestFile {
  /** Path in the export (posix, relative to outDir); null for excluded images. */
  file: string | null;
  /** Path relative to the source root. */
  original: string;
  originalLabel: Emotion;
  /** The curated label (for excluded images: the label it had when excluded). */
  label: Emotion;
  action: "kept" | "relabelled" | "excluded";
}

export interface CuratedManifest {
  format: "fernb-curated-dataset";
  version: 1;
  created: string;
  source: { root: string; images: number; fingerprint: string };
  ledger: { file: string; sha256: string; bytes: number; entries: number; invalidLines: number; tornLastLine: boolean };
  counts: Record<Emotion, number>;
  total: number;
  relabelled: number;
  excluded: number;
  /** Decisions not applied because the image changed after them. */
  staleDecisions: { id: string; path: string; action: string; reason: string }[];
  files: ManifestFile[];
}

export interface ExportResult {
  outDir: string;
  manifestFile: string;
  manifest: CuratedManifest;
  applied: AppliedLedger;
}

const posix = (p: string) => p.split(/[\\/]+/).join("/");

/**
 * Writes the curated dataset to `outDir`: `<outDir>/<emotion>/<file>` (files copied from the source,
 * never moved; CSV rows written as PNG) and `manifest.json` (source root, ledger path + sha256,
 * counts per class, every image with its original path, label and action). Refuses an outDir inside
 * the dataset, a non-empty outDir unless `allowNonEmpty`, and never overwrites a file: everything is
 * checked before the first copy, and copies use COPYFILE_EXCL.
 *
 * `dataset` may be raw or a curated view (as `loadFolderDataset` returns when the dataset has a
 * ledger): a curated view is exported from its raw data with the ledger replayed once, the ledger
 * it was made from unless `ledger` names another; the manifest's `source` is the raw data.
 */
export async function exportCurated(dataset: FaceDataset, ledger: CurationLedger | string | undefined, outDir: string, options: ExportOptions = {}): Promise<ExportResult> {
  const out = resolve(outDir);
  const root = resolve(dataset.root);
  // Checked on the paths as given and on their real paths: an outDir reached through a symbolic link
  // into the dataset is refused too.
  const realRoot = await realpath(root).catch(() => root);
  if (isInside(out, root) || isInside(realPathOrPlanned(out), realRoot)) throw new Error(`outDir ${out} is inside the dataset ${root}: choose a folder outside it (the dataset folder is never written to)`);
  await mkdir(out, { recursive: true });
  const existing = (await readdir(out)).filter((n) => n !== ".DS_Store");
  if (existing.length && !options.allowNonEmpty) {
    throw new Error(`${out} is not empty (${existing.slice(0, 3).join(", ")}${existing.length > 3 ? ", ..." : ""}): choose an empty folder, or pass { allowNonEmpty: true } (existing files are never overwritten); nothing was written`);
  }
  const applied = await applyLedger(dataset, ledger);
  // A curated view is exported from the raw data behind it, with the ledger replayed once (applyLedger).
  dataset = applied.source;
  const { dataset: curated, originalIndex, report } = applied;

  // Plan every destination first: unique names per class folder; nothing exists yet.
  const used = new Set<string>();
  const plan: { src: number; dest: string; file: string }[] = [];
  for (let k = 0; k < curated.size; k++) {
    const path = curated.paths[k];
    const label = curated.label(k);
    const isRow = isCsvRowPath(path);
    const base = isRow ? `${posix(path).replace(/[^A-Za-z0-9._-]+/g, "-")}.png` : basename(path);
    let name = base;
    const parent = posix(path).split("/").slice(0, -1).join("__");
    if (used.has(`${label}/${name}`) && parent) name = `${parent}__${base}`;
    for (let n = 2; used.has(`${label}/${name}`); n++) name = base.replace(/(\.[^.]*)?$/, (ext) => `-${n}${ext}`);
    used.add(`${label}/${name}`);
    plan.push({ src: k, dest: join(out, label, name), file: `${label}/${name}` });
  }
  const manifestFile = join(out, "manifest.json");
  // lstat, not exists: a dangling symbolic link is a clash too (writing would create its target).
  const clash = [manifestFile, ...plan.map((p) => p.dest)].find((f) => lstatSync(f, { throwIfNoEntry: false }) !== undefined);
  if (clash) throw new Error(`${clash} already exists; exportCurated never overwrites files: nothing was written`);

  // Class folders already in a non-empty outDir must not lead elsewhere through a symbolic link.
  const classes = EMOTIONS.filter((e) => plan.some((p) => p.file.startsWith(e + "/")));
  for (const e of classes) safeWritePath(join(out, e), out, { what: "export folder" });
  for (const e of classes) await mkdir(join(out, e), { recursive: true });
  await pool(plan.length, options.concurrency ?? 16, async (j) => {
    const p = plan[j];
    const path = curated.paths[p.src];
    if (isCsvRowPath(path)) {
      const png = await encodePng(curated.image(p.src), curated.height, curated.width, curated.channels);
      await writeFile(p.dest, png, { flag: "wx" });
    } else {
      await copyFile(join(root, ...path.split("/")), p.dest, fsConstants.COPYFILE_EXCL);
    }
  });

  const counts = Object.fromEntries(EMOTIONS.map((e) => [e, 0])) as Record<Emotion, number>;
  const files: ManifestFile[] = [];
  for (let k = 0; k < curated.size; k++) {
    const i = originalIndex[k];
    const label = curated.label(k);
    counts[label]++;
    const originalLabel = dataset.label(i);
    files.push({ file: plan[k].file, original: dataset.paths[i], originalLabel, label, action: label === originalLabel ? "kept" : "relabelled" });
  }
  for (const s of report.states) if (s.excluded) files.push({ file: null, original: s.path, originalLabel: s.originalLabel, label: s.label, action: "excluded" });
  const manifest: CuratedManifest = {
    format: "fernb-curated-dataset",
    version: 1,
    created: new Date().toISOString(),
    source: { root, images: dataset.size, fingerprint: dataset.fingerprint() },
    ledger: { file: report.ledgerFile, sha256: report.ledgerSha256, bytes: report.read.bytes, entries: report.entries, invalidLines: report.read.invalidLines.length, tornLastLine: report.read.tornLastLine !== undefined },
    counts,
    total: curated.size,
    relabelled: report.relabelled.length,
    excluded: report.excluded.length,
    staleDecisions: report.stale.map((s) => ({ id: s.id, path: s.path, action: s.action, reason: s.reason })),
    files,
  };
  const tmp = `${manifestFile}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + "\n", { flag: "wx" });
  if (lstatSync(manifestFile, { throwIfNoEntry: false })) throw new Error(`${manifestFile} appeared while exporting; not overwritten (the new manifest is in ${tmp})`);
  await rename(tmp, manifestFile);
  return { outDir: out, manifestFile, manifest, applied };
}

// ---- summary --------------------------------------------------------------------------------------

export interface ClassCurationCounts {
  emotion: Emotion;
  /** Images given this label in the dataset. */
  images: number;
  reviewed: number;
  /** Relabelled from this class to another. */
  relabelledOut: number;
  /** Relabelled from another class to this one. */
  relabelledIn: number;
  excluded: number;
  /** Images with this label in the curated view. */
  curated: number;
}

/** How curation went: reviewed / relabelled / excluded, overall and per class. Displayable. */
export class CurationSummary {
  readonly perClass: ClassCurationCounts[];
  readonly images: number;
  readonly reviewed: number;
  readonly relabelled: number;
  readonly excluded: number;
  readonly stale: number;
  readonly missing: number;
  readonly undone: number;
  readonly problems: string[];

  /** `dataset`: the dataset the report was replayed over; for a curated view, its raw data is used. */
  constructor(
    dataset: FaceDataset,
    readonly report: CurationReport,
  ) {
    dataset = uncurated(dataset);
    const row = (e: Emotion): ClassCurationCounts => ({ emotion: e, images: 0, reviewed: 0, relabelledOut: 0, relabelledIn: 0, excluded: 0, curated: 0 });
    const by = new Map(EMOTIONS.map((e) => [e, row(e)] as const));
    for (let i = 0; i < dataset.size; i++) {
      const r = by.get(dataset.label(i))!;
      r.images++;
      r.curated++;
    }
    for (const s of report.states) {
      const from = by.get(s.originalLabel)!;
      from.reviewed++;
      from.curated--;
      if (s.excluded) from.excluded++;
      else {
        by.get(s.label)!.curated++;
        if (s.label !== s.originalLabel) {
          from.relabelledOut++;
          by.get(s.label)!.relabelledIn++;
        }
      }
    }
    this.perClass = [...by.values()];
    this.images = dataset.size;
    this.reviewed = report.reviewed;
    this.relabelled = report.relabelled.length;
    this.excluded = report.excluded.length;
    this.stale = report.stale.length;
    this.missing = report.missing.length;
    this.undone = report.undone.length;
    this.problems = ledgerProblems(report, 10);
  }

  summary(): string {
    const lines = [
      `Curation of ${this.images.toLocaleString("en-US")} images (ledger ${this.report.ledgerFile}, ${this.report.entries} entries): ` +
        `${this.reviewed} reviewed, ${this.relabelled} relabelled, ${this.excluded} excluded` +
        (this.undone ? `, ${this.undone} decision(s) undone` : "") +
        (this.stale ? `, ${this.stale} stale decision(s) NOT applied` : ""),
      `class       images reviewed  relab.out relab.in excluded  curated`,
      ...this.perClass.map(
        (c) =>
          `${c.emotion.padEnd(10)} ${String(c.images).padStart(7)} ${String(c.reviewed).padStart(8)} ${String(c.relabelledOut).padStart(10)} ${String(c.relabelledIn).padStart(8)} ${String(c.excluded).padStart(8)} ${String(c.curated).padStart(8)}`,
      ),
    ];
    if (this.problems.length) {
      lines.push(`${this.problems.length} problem(s):`);
      for (const p of this.problems) lines.push(`  ${p}`);
    }
    return lines.join("\n");
  }

  /** Stacked bars per (original) class: unreviewed, reviewed and kept, relabelled away, excluded. */
  chartSpec(): object {
    const values: object[] = [];
    for (const c of this.perClass) {
      const kept = c.reviewed - c.relabelledOut - c.excluded;
      const parts: [string, number][] = [
        ["not reviewed", c.images - c.reviewed],
        ["reviewed, label kept", kept],
        ["relabelled to another class", c.relabelledOut],
        ["excluded", c.excluded],
      ];
      for (const [status, count] of parts) values.push({ emotion: c.emotion, status, count, curated: c.curated, relabelledIn: c.relabelledIn });
    }
    return {
      title: { text: `Curation: ${this.reviewed} reviewed, ${this.relabelled} relabelled, ${this.excluded} excluded`, subtitle: this.stale ? [`${this.stale} stale decision(s) not applied`] : undefined },
      width: 380,
      height: 200,
      data: { values },
      mark: { type: "bar", tooltip: true },
      encoding: {
        x: { field: "emotion", type: "nominal", sort: [...EMOTIONS], title: "given label", axis: { labelAngle: 0 } },
        y: { field: "count", type: "quantitative", stack: "zero", title: "images" },
        color: { field: "status", type: "nominal", sort: ["not reviewed", "reviewed, label kept", "relabelled to another class", "excluded"], scale: { range: ["#c7c7c7", "#4c78a8", "#f58518", "#e45756"] }, title: null },
        order: { field: "status", type: "nominal" },
        tooltip: [
          { field: "emotion", type: "nominal" },
          { field: "status", type: "nominal" },
          { field: "count", type: "quantitative" },
          { field: "relabelledIn", type: "quantitative", title: "relabelled into this class" },
          { field: "curated", type: "quantitative", title: "images after curation" },
        ],
      },
    };
  }

  toJSON(): Record<string, unknown> {
    return { images: this.images, reviewed: this.reviewed, relabelled: this.relabelled, excluded: this.excluded, stale: this.stale, missing: this.missing, undone: this.undone, perClass: this.perClass, problems: this.problems };
  }

  [DISPLAY](): OutputItem[] {
    return chartWithText(this.chartSpec(), this.summary());
  }

  toString(): string {
    return this.summary();
  }
}

/**
 * Replays the ledger over the dataset and summarises it (reviewed/relabelled/excluded by class). A
 * curated view is summarised from its raw data (see applyLedger), so the ledger counts once.
 */
export async function curationSummary(dataset: FaceDataset, ledger?: CurationLedger | string | AppliedLedger): Promise<CurationSummary> {
  const applied = ledger && typeof ledger === "object" && "report" in ledger ? ledger : await applyLedger(dataset, ledger as CurationLedger | string | undefined);
  return new CurationSummary(applied.source, applied.report);
}
