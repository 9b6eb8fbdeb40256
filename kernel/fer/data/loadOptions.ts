/**
 * What every data set load takes (input size, caches, progress, concurrency, and for a folder the
 * curation ledger to replay), and the small helpers the loaders share.
 */
import { type ImageSpec, validateSpec } from "../images";

export interface LoadOptions {
  /** Model input size; default 48×48×1 (FER2013). */
  height?: number;
  width?: number;
  channels?: 1 | 3;
  /** Disk cache folder, or false for none. Default (also for ""): `defaultCacheDir()`, never the dataset folder. */
  cacheDir?: string | false;
  /** Reuse a dataset loaded earlier in this process when nothing changed (default true). */
  memoryCache?: boolean;
  /** Called as work progresses (at most ~10 times a second, and always at the end). */
  onProgress?: (done: number, total: number) => void;
  /** Images decoded at once (default: the number of CPU cores). */
  concurrency?: number;
  /**
   * `loadFolderDataset` only: the curation ledger to replay over the loaded images — a ledger file
   * (a relative path is resolved against the working directory), or `false` for the raw data.
   * Default: `<root>/.fernb-ledger.jsonl` when that file exists (the ledger the review grid
   * writes), else none. The returned dataset is then the curated view (excluded images left out,
   * relabelled images under their new label; paths in the ledger are relative to `root`), with
   * `dataset.curation` describing what was applied and what could not be (stale decisions about
   * images that changed since, decisions about missing files, an interrupted last line), also
   * shown by `display(dataset)`. The ledger and the images are only read.
   */
  ledger?: string | false;
}

/** The image size a load decodes to (48×48×1 unless told), checked. */
export function specOf(options: LoadOptions): ImageSpec {
  const spec: ImageSpec = { height: options.height ?? 48, width: options.width ?? 48, channels: options.channels ?? 1 };
  validateSpec(spec);
  return spec;
}

/** `onProgress` at most ~10 times a second, and always at the end. */
export function throttled(onProgress: LoadOptions["onProgress"]) {
  let last = 0;
  return (done: number, total: number) => {
    if (!onProgress) return;
    const now = Date.now();
    if (done === total || now - last >= 100) {
      last = now;
      onProgress(done, total);
    }
  };
}
