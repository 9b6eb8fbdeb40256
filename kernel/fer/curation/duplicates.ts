/**
 * Exact and near duplicates, within one dataset and across two (train vs validation: leaks).
 *
 *  - Exact: identical decoded pixels (sha1 of the pixel bytes). Identical files always decode to
 *    identical pixels, so this also finds every pair of identical files.
 *  - Near: a 64-bit perceptual hash (pHash) of each image's grayscale pixels — the signs, relative to
 *    their median, of the 64 lowest-frequency 2-D DCT coefficients (u, v ≤ 7 without the DC term, plus
 *    (0, 8)) — compared by Hamming distance ≤ `threshold` (default 4 of 64 bits; the median split makes
 *    every distance even). Robust to brightness/contrast changes, small shifts, re-encoding and mild
 *    blur; not to mirroring or large crops. On FER2013 (48×48), pairs at distance ≤ 4 were the same
 *    picture in every sample we looked at; at 6 a few are different photos of the same person, at 8
 *    many are different people.
 *  - Fast: multi-index hashing. The 64 bits are cut into threshold + 1 chunks; two hashes within
 *    distance t agree exactly on at least one chunk (pigeonhole), so only images sharing a chunk value
 *    are compared. Each pair is compared once (in the first chunk where they agree).
 *
 * Pairs and groups (connected components of the pairs) whose images carry different labels are
 * flagged as conflicts. Pixels are only read from the FaceDataset; no file is touched.
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { DISPLAY, htmlWithText } from "../../display";
import type { OutputItem } from "../../../protocol";
import type { Emotion } from "../labels";
import { pngDataUrl } from "../pngSync";

/** What duplicate finding needs of a data set (FaceDataset provides it). */
export interface DuplicateData {
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly size: number;
  readonly paths: string[];
  readonly root?: string;
  image(i: number): Uint8Array;
  label(i: number): Emotion;
}

export interface ImageHashes {
  /** pHash of image i: bits 0..31 in `phash[2i]`, bits 32..63 in `phash[2i + 1]`. */
  phash: Uint32Array;
  /** sha1 (hex) of image i's pixel bytes. */
  pixelHash: string[];
}

// ---- pHash ----------------------------------------------------------------------------------------

const basisCache = new Map<string, Float64Array>();
/** DCT-II basis rows 0..rows-1 over `size` samples: b[u * size + x] = cos(π (2x + 1) u / (2 size)). */
function dctBasis(size: number, rows: number): Float64Array {
  const key = `${size}x${rows}`;
  let b = basisCache.get(key);
  if (!b) {
    b = new Float64Array(rows * size);
    for (let u = 0; u < rows; u++) for (let x = 0; x < size; x++) b[u * size + x] = Math.cos((Math.PI * (2 * x + 1) * u) / (2 * size));
    basisCache.set(key, b);
  }
  return b;
}

/** The 64 (u, v) coefficients used: u, v ∈ 0..7 without (0, 0), plus (0, 8). */
const COEFFS: [number, number][] = [];
for (let u = 0; u < 8; u++) for (let v = 0; v < 8; v++) if (u || v) COEFFS.push([u, v]);
COEFFS.push([0, 8]);

/** 64-bit pHash of one HWC uint8 image as [bits 0..31, bits 32..63]. */
export function perceptualHash(image: Uint8Array, height: number, width: number, channels: number): [number, number] {
  const bh = dctBasis(height, 9);
  const bw = dctBasis(width, 9);
  // Row transform: r[y][v] = Σ_x gray[y][x] · bw[v][x], for v = 0..8.
  const r = new Float64Array(height * 9);
  const gray = new Float64Array(width);
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    if (channels === 1) for (let x = 0; x < width; x++) gray[x] = image[row + x];
    else for (let x = 0; x < width; x++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += image[row + x * channels + c];
      gray[x] = s / channels;
    }
    for (let v = 0; v < 9; v++) {
      let s = 0;
      const o = v * width;
      for (let x = 0; x < width; x++) s += gray[x] * bw[o + x];
      r[y * 9 + v] = s;
    }
  }
  const coef = new Float64Array(64);
  for (let k = 0; k < 64; k++) {
    const [u, v] = COEFFS[k];
    let s = 0;
    const o = u * height;
    for (let y = 0; y < height; y++) s += bh[o + y] * r[y * 9 + v];
    coef[k] = s;
  }
  const sorted = Float64Array.from(coef).sort();
  const median = (sorted[31] + sorted[32]) / 2;
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < 64; k++) {
    if (coef[k] > median) {
      if (k < 32) lo |= 1 << k;
      else hi |= 1 << (k - 32);
    }
  }
  return [lo >>> 0, hi >>> 0];
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Hamming distance between two 64-bit hashes given as [lo, hi]. */
export function hammingDistance(a: readonly [number, number] | Uint32Array, b: readonly [number, number] | Uint32Array): number {
  return popcount32((a[0] ^ b[0]) >>> 0) + popcount32((a[1] ^ b[1]) >>> 0);
}

const hashCache = new WeakMap<object, ImageHashes>();

/** pHash and pixel hash of every image (cached per dataset object). */
export function imageHashes(data: DuplicateData): ImageHashes {
  const cached = hashCache.get(data);
  if (cached && cached.pixelHash.length === data.size) return cached;
  const phash = new Uint32Array(data.size * 2);
  const pixelHash = new Array<string>(data.size);
  for (let i = 0; i < data.size; i++) {
    const img = data.image(i);
    const [lo, hi] = perceptualHash(img, data.height, data.width, data.channels);
    phash[2 * i] = lo;
    phash[2 * i + 1] = hi;
    pixelHash[i] = createHash("sha1").update(img).digest("hex");
  }
  const h = { phash, pixelHash };
  hashCache.set(data, h);
  return h;
}

// ---- search ---------------------------------------------------------------------------------------

export interface ImageRef {
  /** Which data set: 0 = the first (e.g. train), 1 = the second (e.g. validation). */
  set: 0 | 1;
  /** Name of the data set (options.names, or its folder name). */
  setName: string;
  index: number;
  path: string;
  label: Emotion;
}

export interface DuplicatePair {
  a: ImageRef;
  b: ImageRef;
  /** Hamming distance of the pHashes (0..threshold). */
  distance: number;
  /** Identical pixels. */
  exact: boolean;
  /** The two images carry different labels. */
  conflict: boolean;
}

export interface DuplicateGroup {
  members: ImageRef[];
  /** All members have identical pixels. */
  exact: boolean;
  /** Distinct labels in the group. */
  labels: Emotion[];
  conflict: boolean;
  /** Leak mode: the group has members in both data sets. */
  crossSet: boolean;
}

export interface DuplicateOptions {
  /** Largest pHash Hamming distance that counts as a near duplicate (0..20; default 4). 0 = exact pHash matches only. */
  threshold?: number;
  /** Names of the data sets in the report (default: their folder names). */
  names?: [string, string?];
}

function refOf(data: DuplicateData, set: 0 | 1, setName: string, index: number): ImageRef {
  return { set, setName, index, path: data.paths[index], label: data.label(index) };
}

function search(sets: DuplicateData[], options: DuplicateOptions, crossOnly: boolean): DuplicateReport {
  const t0 = performance.now();
  const t = options.threshold ?? 4;
  if (!Number.isInteger(t) || t < 0 || t > 20) throw new RangeError(`threshold must be an integer 0..20, got ${t}`);
  const names = sets.map((d, s) => options.names?.[s] ?? (d.root ? basename(d.root) : `set${s}`));
  const hashes = sets.map((d) => imageHashes(d));
  const hashSeconds = (performance.now() - t0) / 1000;
  const total = sets.reduce((a, d) => a + d.size, 0);
  // Global ids: set 0 first, then set 1.
  const setOf = new Uint8Array(total);
  const localOf = new Int32Array(total);
  const lo = new Uint32Array(total);
  const hi = new Uint32Array(total);
  const pix: string[] = new Array(total);
  let g = 0;
  sets.forEach((d, s) => {
    for (let i = 0; i < d.size; i++, g++) {
      setOf[g] = s;
      localOf[g] = i;
      lo[g] = hashes[s].phash[2 * i];
      hi[g] = hashes[s].phash[2 * i + 1];
      pix[g] = hashes[s].pixelHash[i];
    }
  });
  // Chunk values for multi-index hashing: m = t + 1 chunks covering bits 0..63.
  const m = t + 1;
  const bounds = Array.from({ length: m + 1 }, (_, c) => Math.floor((c * 64) / m));
  const chunk = new Uint32Array(total * m);
  for (let x = 0; x < total; x++) {
    for (let c = 0; c < m; c++) {
      let v = 0;
      for (let b = bounds[c]; b < bounds[c + 1]; b++) {
        const bit = b < 32 ? (lo[x] >>> b) & 1 : (hi[x] >>> (b - 32)) & 1;
        v = v * 2 + bit;
      }
      chunk[x * m + c] = v;
    }
  }
  const pairs: DuplicatePair[] = [];
  const pairIds: [number, number][] = [];
  let comparisons = 0;
  const order = new Float64Array(total);
  for (let c = 0; c < m; c++) {
    for (let x = 0; x < total; x++) order[x] = chunk[x * m + c] * total + x;
    order.sort();
    for (let start = 0; start < total; ) {
      const key = Math.floor(order[start] / total);
      let end = start + 1;
      while (end < total && Math.floor(order[end] / total) === key) end++;
      for (let p = start; p < end; p++) {
        const x = order[p] - key * total;
        for (let q = p + 1; q < end; q++) {
          const y = order[q] - key * total;
          if (crossOnly && setOf[x] === setOf[y]) continue;
          // Compared already in an earlier chunk where they also agree?
          let earlier = false;
          for (let e = 0; e < c; e++) {
            if (chunk[x * m + e] === chunk[y * m + e]) {
              earlier = true;
              break;
            }
          }
          if (earlier) continue;
          comparisons++;
          const d = popcount32((lo[x] ^ lo[y]) >>> 0) + popcount32((hi[x] ^ hi[y]) >>> 0);
          if (d > t) continue;
          const [a, b] = x < y ? [x, y] : [y, x];
          pairIds.push([a, b]);
        }
      }
      start = end;
    }
  }
  // Exact pixel duplicates always share the pHash, so they are all among the pairs already.
  pairIds.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  const ref = (x: number) => refOf(sets[setOf[x]], setOf[x] as 0 | 1, names[setOf[x]], localOf[x]);
  for (const [x, y] of pairIds) {
    const a = ref(x);
    const b = ref(y);
    const d = popcount32((lo[x] ^ lo[y]) >>> 0) + popcount32((hi[x] ^ hi[y]) >>> 0);
    pairs.push({ a, b, distance: d, exact: pix[x] === pix[y], conflict: a.label !== b.label });
  }
  // Groups: connected components of the pairs (union-find).
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r)! !== r) r = parent.get(r)!;
    while (parent.get(x)! !== r) {
      const next = parent.get(x)!;
      parent.set(x, r);
      x = next;
    }
    return r;
  };
  for (const [x, y] of pairIds) {
    if (!parent.has(x)) parent.set(x, x);
    if (!parent.has(y)) parent.set(y, y);
    const rx = find(x);
    const ry = find(y);
    if (rx !== ry) parent.set(Math.max(rx, ry), Math.min(rx, ry));
  }
  const members = new Map<number, number[]>();
  for (const x of [...parent.keys()].sort((a, b) => a - b)) {
    const r = find(x);
    if (!members.has(r)) members.set(r, []);
    members.get(r)!.push(x);
  }
  const groups: DuplicateGroup[] = [...members.values()].map((xs) => {
    const refs = xs.map(ref);
    const labels = [...new Set(refs.map((r) => r.label))];
    return { members: refs, exact: xs.every((x) => pix[x] === pix[xs[0]]), labels, conflict: labels.length > 1, crossSet: new Set(xs.map((x) => setOf[x])).size > 1 };
  });
  groups.sort((a, b) => Number(b.conflict) - Number(a.conflict) || b.members.length - a.members.length);
  return new DuplicateReport(
    pairs,
    groups,
    t,
    sets.map((d) => d.size),
    names,
    crossOnly,
    { seconds: (performance.now() - t0) / 1000, hashSeconds, comparisons },
    sets,
  );
}

/** Exact and near duplicates within one data set. */
export function findDuplicates(data: DuplicateData, options: DuplicateOptions = {}): DuplicateReport {
  return search([data], options, false);
}

/** Images of `b` (e.g. validation) that duplicate or nearly duplicate images of `a` (e.g. train): leaks. */
export function findLeaks(a: DuplicateData, b: DuplicateData, options: DuplicateOptions = {}): DuplicateReport {
  if (a.height !== b.height || a.width !== b.width) throw new Error(`the data sets have different image sizes (${a.height}x${a.width} vs ${b.height}x${b.width}): load both with the same size`);
  return search([a, b], { ...options, names: options.names ?? ["train", "validation"] }, true);
}

export class DuplicateReport {
  constructor(
    readonly pairs: DuplicatePair[],
    readonly groups: DuplicateGroup[],
    readonly threshold: number,
    readonly sizes: number[],
    readonly names: string[],
    /** True for a leak search (only pairs across the two data sets). */
    readonly crossSet: boolean,
    readonly stats: { seconds: number; hashSeconds: number; comparisons: number },
    private readonly sets: DuplicateData[] = [],
  ) {}

  get exactPairs(): DuplicatePair[] {
    return this.pairs.filter((p) => p.exact);
  }
  get nearPairs(): DuplicatePair[] {
    return this.pairs.filter((p) => !p.exact);
  }
  get conflictingPairs(): DuplicatePair[] {
    return this.pairs.filter((p) => p.conflict);
  }
  get conflictingGroups(): DuplicateGroup[] {
    return this.groups.filter((g) => g.conflict);
  }
  /** Leak mode: the images of the second set that have a duplicate in the first. */
  leakedImages(): ImageRef[] {
    const seen = new Map<number, ImageRef>();
    for (const p of this.pairs) for (const r of [p.a, p.b]) if (r.set === 1) seen.set(r.index, r);
    return [...seen.values()].sort((x, y) => x.index - y.index);
  }

  summary(): string {
    const what = this.crossSet ? `Leaks between ${this.names[0]} (${this.sizes[0]}) and ${this.names[1]} (${this.sizes[1]})` : `Duplicates in ${this.names[0]} (${this.sizes[0]} images)`;
    const exact = this.exactPairs.length;
    const lines = [
      `${what}: ${this.pairs.length} pair(s) within pHash distance ${this.threshold} — ${exact} identical, ${this.pairs.length - exact} near; ` +
        `${this.groups.length} group(s), ${this.conflictingGroups.length} with conflicting labels` +
        (this.crossSet ? `; ${this.leakedImages().length} ${this.names[1]} image(s) leaked` : "") +
        ` (${this.stats.seconds.toFixed(2)} s)`,
    ];
    for (const g of this.groups.slice(0, 10)) {
      lines.push(`  ${g.conflict ? "CONFLICT " : ""}${g.exact ? "identical" : "near"}: ${g.members.map((r) => `${this.crossSet ? r.setName + ":" : ""}${r.path} (${r.label})`).join(", ")}`);
    }
    if (this.groups.length > 10) lines.push(`  ... and ${this.groups.length - 10} more group(s) (see .groups)`);
    return lines.join("\n");
  }

  private html(limit = 12): string {
    const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
    const rows = this.groups.slice(0, limit).map((g) => {
      const cells = g.members.slice(0, 8).map((r) => {
        const d = this.sets[r.set];
        const src = d ? pngDataUrl(d.image(r.index), d.height, d.width, d.channels) : "";
        return `<figure style="display:inline-block;margin:2px;text-align:center;font-size:11px"><img src="${src}" width="64" height="64" style="image-rendering:pixelated" title="${esc(r.path)}"><figcaption>${esc(r.label)}${this.crossSet ? `<br>${esc(r.setName)}` : ""}</figcaption></figure>`;
      });
      return `<div style="margin:4px 0">${g.conflict ? "<b>conflicting labels</b> · " : ""}${g.exact ? "identical" : "near duplicate"} · ${g.members.length} images<br>${cells.join("")}</div>`;
    });
    return `<div><pre>${esc(this.summary().split("\n")[0])}</pre>${rows.join("")}</div>`;
  }

  toJSON(): Record<string, unknown> {
    return { threshold: this.threshold, sizes: this.sizes, names: this.names, crossSet: this.crossSet, stats: this.stats, pairs: this.pairs, groups: this.groups };
  }

  [DISPLAY](): OutputItem[] {
    return htmlWithText(this.html(), this.summary());
  }

  toString(): string {
    return this.summary();
  }
}
