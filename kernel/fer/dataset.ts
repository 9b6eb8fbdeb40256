/**
 * Where data meets curation: `loadFolderDataset` loads a folder data set (data/folder.ts) and
 * replays its curation ledger (curation/ledger.ts, `<root>/.fernb-ledger.jsonl`) when it exists, so
 * what it returns is the curated view: excluded images left out, relabelled images under their new
 * label, and `dataset.curation` saying what was applied (and what could not be). The memory cache
 * holds the raw images; the ledger is read and replayed on every load, so a load always reflects
 * the ledger as it is then. Loading never writes anything. This is the one place a curated view is
 * loaded; the data modules below (data/) never import the ledger (a curated view carries its
 * replay report, whose types and sentences live in curation/report.ts, a leaf).
 *
 * The rest of loading is re-exported from its homes, so `./dataset` is the one import for loading:
 *   data/faceDataset.ts  the FaceDataset value, its reports and display
 *   data/scan.ts         folder scanning (which files, which labels, what was left out)
 *   data/folder.ts       reading and decoding a folder's images (raw, no ledger)
 *   data/cache.ts        the memory and disk caches of decoded pixels
 *   data/fer2013Csv.ts   the FER2013 CSV
 *   data/loadOptions.ts  the options every load takes
 */
import { statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { readErrorReason } from "./images";
import { UnsafeWriteError } from "./safeWrite";
import { applyLedger, defaultLedgerFile } from "./curation/ledger";
import { FaceDataset, type SkippedFile } from "./data/faceDataset";
import { loadRawFolderDataset } from "./data/folder";
import type { LoadOptions } from "./data/loadOptions";

export { FaceDataset, describeCuration, loadWarnings, type DatasetCuration, type FaceDatasetInit, type LoadReport, type LoadStats, type SkippedFile } from "./data/faceDataset";
export { IMAGE_EXTENSIONS } from "./data/scan";
export { clearDatasetMemoryCache } from "./data/cache";
export { loadFer2013Csv, type CsvLoadOptions, type Fer2013Usage } from "./data/fer2013Csv";
export type { LoadOptions } from "./data/loadOptions";

/**
 * Loads `<root>/<emotion>/*.{png,jpg,jpeg,webp}` (folder names mapped with `canonicalEmotion`,
 * case-insensitive). Folders that are not emotions are listed in `report.unknownFolders` and not
 * loaded; hidden files are ignored; other files are counted in `report.ignoredFiles`; images that
 * cannot be decoded are listed in `report.skipped`. Throws a descriptive Error when `root` is
 * missing, is a file, or is not laid out as one folder per emotion. Images are sorted by folder then
 * file name (code-unit order), so the order — and the fingerprint — are the same on every machine.
 *
 * Curation: when `<root>/.fernb-ledger.jsonl` exists (or `options.ledger` names a ledger), its
 * decisions are replayed and the curated view is returned (see `LoadOptions.ledger`); its
 * fingerprint differs from the raw data's exactly when the decisions change a label or leave an
 * image out, so a checkpoint of a run on the raw data still resumes while the ledger changes
 * nothing. `{ ledger: false }` loads the raw data.
 */
export async function loadFolderDataset(root: string, options: LoadOptions = {}): Promise<FaceDataset> {
  const t0 = performance.now();
  const option = options.ledger;
  if (option !== undefined && option !== false && (typeof option !== "string" || option === "")) throw new TypeError(`ledger must be a ledger file path or false, got ${JSON.stringify(option)}`);
  const raw = await loadRawFolderDataset(root, options, t0);
  if (option === false) return raw;
  let ledgerFile: string;
  if (option !== undefined) {
    ledgerFile = resolve(option);
  } else {
    ledgerFile = await defaultLedgerFile(raw.root);
    let info;
    try {
      info = statSync(ledgerFile, { throwIfNoEntry: false });
    } catch (e) {
      // A ledger that cannot be read (a symbolic link loop, no permission): the raw data, and a word.
      return withSkipped(raw, { path: basename(ledgerFile), reason: `curation ledger not applied: ${readErrorReason(e)}` });
    }
    if (!info?.isFile()) return raw;
  }
  let applied;
  try {
    applied = await applyLedger(raw, ledgerFile);
  } catch (e) {
    if (!(e instanceof UnsafeWriteError || (e as Error)?.name === "UnsafeWriteError") || option !== undefined) throw e;
    // The data set's own ledger links out of it: not applied, and said so.
    return withSkipped(raw, { path: basename(ledgerFile), reason: `curation ledger not applied: ${(e as Error).message}` });
  }
  const { dataset } = applied;
  dataset.loadStats.elapsedMs = performance.now() - t0;
  return dataset;
}

/** The dataset with one more entry in `report.skipped` (a copy of the report: the memory cache shares the raw one). */
function withSkipped(raw: FaceDataset, skipped: SkippedFile): FaceDataset {
  const report = { ...raw.report, skipped: [...raw.report.skipped, skipped] };
  return new FaceDataset({ root: raw.root, height: raw.height, width: raw.width, channels: raw.channels, images: raw.images, labels: raw.labels, paths: raw.paths, report, loadStats: raw.loadStats });
}
