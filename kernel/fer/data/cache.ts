/**
 * The two caches of decoded pixels, orchestrated for every loader:
 *  - memory: a data set loaded earlier in this process is returned again (same pixel buffers) while
 *    what it was loaded from is unchanged (a signature of file sizes and times); a load that fails
 *    is forgotten, so the next one tries again;
 *  - disk: one pack file per (real folder, input size, decoder version), keyed by each file's
 *    content hash (../fileCache.ts holds the format), never inside the data set folder.
 * What a load took from either cache is recorded in its `loadStats`.
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { DECODER_VERSION, type ImageSpec } from "../images";
import { defaultCacheDir, readPack, writePack, type PixelPack } from "../fileCache";
import type { FaceDataset, LoadStats } from "./faceDataset";

const memory = new Map<string, { signature: string; dataset: Promise<FaceDataset> }>();

/** Forgets the datasets kept in memory (they are freed once nothing else references them). */
export function clearDatasetMemoryCache(): void {
  memory.clear();
}

/**
 * The data set kept under `key` when it was loaded from the same `signature` (then `onHit` is told,
 * and the data set is returned with load stats saying it came from memory), else `load()`, kept
 * under `key` unless `memoryCache` is false. Loads of the same key at once share one promise.
 */
export async function fromMemoryCache(
  key: string,
  signature: string,
  options: { memoryCache?: boolean },
  t0: number,
  onHit: (dataset: FaceDataset) => void,
  load: () => Promise<FaceDataset>,
): Promise<FaceDataset> {
  const useMemory = options.memoryCache !== false;
  const cached = useMemory ? memory.get(key) : undefined;
  if (cached && cached.signature === signature) {
    try {
      const ds = await cached.dataset;
      onHit(ds);
      return ds.reused(t0);
    } catch {
      // the earlier load failed; load again
    }
  }
  const promise = load();
  if (useMemory) {
    memory.set(key, { signature, dataset: promise });
    promise.catch(() => {
      if (memory.get(key)?.dataset === promise) memory.delete(key);
    });
  }
  return promise;
}

/** A folder's disk cache for one load: its pack file, and the pack read from it when usable. */
export interface PixelCache {
  file: string;
  key: string;
  entrySize: number;
  /** The pack as it was before this load (undefined: none, or not usable: see `loadStats.cacheIgnoredReason`). */
  old?: PixelPack;
}

/**
 * Opens the disk cache of the folder `realRoot` for `spec` (undefined when `cacheDir` is false),
 * recording the pack file, and why an existing one was not used, in `stats`.
 */
export async function openPixelCache(realRoot: string, spec: ImageSpec, cacheDir: string | false | undefined, stats: LoadStats): Promise<PixelCache | undefined> {
  if (cacheDir === false) return undefined;
  // One pack per (real root, spec, decoder version).
  const key = `${DECODER_VERSION};spec=${spec.height}x${spec.width}x${spec.channels}`;
  const entrySize = spec.height * spec.width * spec.channels;
  const dir = resolve(cacheDir || defaultCacheDir());
  const id = createHash("sha256").update(`${realRoot}\0${key}`).digest("hex").slice(0, 32);
  const file = join(dir, "pixels-v1", `${id}.pack`);
  stats.cacheFile = file;
  const read = await readPack(file, { key, entrySize });
  if (!read.pack && read.reason !== "missing") stats.cacheIgnoredReason = read.reason;
  return { file, key, entrySize, old: read.pack };
}

/**
 * Keeps exactly the current files' entries in the pack (file i: its content hash `hashes[i]`, and
 * its pixels, or the reason in `failures` it could not be decoded; files without a hash could not be
 * read and are not cached), rewriting the pack only when that differs from the one read. A write
 * error is recorded in `stats.cacheError`; the load itself still succeeds.
 */
export async function savePixelCache(cache: PixelCache, hashes: readonly (string | undefined)[], pixels: readonly (Uint8Array | undefined)[], failures: ReadonlyMap<number, string>, stats: LoadStats): Promise<void> {
  const pack: PixelPack = { entries: new Map(), failures: new Map() };
  for (let i = 0; i < hashes.length; i++) {
    const h = hashes[i];
    if (!h) continue; // unreadable/empty: not cached by content
    const reason = failures.get(i);
    if (reason !== undefined) pack.failures.set(h, reason);
    else pack.entries.set(h, pixels[i]!);
  }
  const old = cache.old;
  const unchanged = old !== undefined && stats.decoded === 0 && old.entries.size === pack.entries.size && old.failures.size === pack.failures.size;
  if (unchanged) return;
  try {
    await writePack(cache.file, { key: cache.key, entrySize: cache.entrySize }, pack);
    stats.cacheWritten = true;
  } catch (e) {
    stats.cacheError = (e as Error).message;
  }
}
