/**
 * The embedding map: `display(await embeddingMap(model, data, { normalization }))` draws every face
 * of a data set as a point, placed by a 2-D projection of the model's penultimate-layer features
 * (features.ts), in fernb's embedding renderer (`application/vnd.fernb.embedding+json`,
 * extension/renderers/embedding.ts). Points are coloured by label, prediction or suspicion (the
 * default ranking of rank.ts, shown as the benchmark's share of wrong labels, calibration.ts), and
 * the suspects are marked.
 *
 * Projection: UMAP (umap-js, on the features reduced to 50 dimensions by PCA) or PCA. "auto" uses
 * UMAP up to UMAP_AUTO_MAX_POINTS points and PCA above: umap-js on this project's 2-core machine
 * took about 12 s for 1,000 points and 42 s for 6,000, while PCA of 30,000 takes about a second.
 *
 * The map is interactive through renderer messaging (protocol/rendererMessages.ts): on hover the
 * renderer asks for faces ("thumb"), and a box or lasso selection ("select") is answered with a
 * review grid of exactly those faces (review.ts's `review()`, registered like any review), which the
 * renderer shows with the review renderer's module. Points are named by their id on the map, never
 * by a path; ids outside the map are refused with the reason. That grid's decisions arrive on the
 * map's channel and go through the review grid's own validated handler into the ledger.
 */
import * as tf from "@tensorflow/tfjs";
import { EigenvalueDecomposition, Matrix } from "ml-matrix";
import { randomBytes } from "node:crypto";
import { basename } from "node:path";
import { UMAP } from "umap-js";
import { DISPLAY } from "../../display";
import {
  EMBEDDING_MAX_SELECT,
  MIME,
  parseEmbeddingRequest,
  RENDERER_ID,
  type EmbeddingPayload,
  type EmbeddingReply,
  type OutputItem,
  type ReviewCamReply,
} from "../../../protocol";
import type { CamMethod } from "../cam/index";
import { FaceDataset } from "../data/faceDataset";
import { EMOTIONS } from "../labels";
import { pngDataUrl } from "../pngSync";
import { currentSignal } from "../progress";
import { modelStrength, wrongShare } from "./calibration";
import type { LabelIssue } from "./confidentLearning";
import { curationFeatures, type CurationTta } from "./features";
import type { CurationLedger } from "./ledger";
import { DEFAULT_RANKING, rankLabelIssues } from "./rank";
import { forgetReview, handleReviewRendererMessage, review, REVIEW_THUMB_SIZE, thumbnail, type ReviewPayload, type ReviewReply } from "./review";

/** The embedding renderer's MIME type (protocol/mime.ts); its messages come under RENDERER_ID.embedding. */
export const EMBEDDING_MIME = MIME.embedding;
/** "auto" projects with UMAP up to this many points, with PCA above (UMAP takes minutes beyond). */
export const UMAP_AUTO_MAX_POINTS = 2000;
/** Maps kept for messages; older ones are forgotten (their renderers then say "run the cell again"). */
export const MAX_OPEN_MAPS = 8;

export type ProjectionMethod = "auto" | "umap" | "pca";

export interface EmbeddingMapOptions {
  /** The pixel normalisation the model was trained with (its card's input.mean/std). */
  normalization: { mean: number; std: number };
  /**
   * Class probabilities for the suspicion scores (n × 7, aligned with `data`): out-of-sample ones
   * (crossValidatedProbabilities) are best. Default: the model's own, from the same pass.
   */
  probs?: ArrayLike<number>;
  /** Suspects to mark (findLabelIssues(...).suspects). Default: the `suspectCount` most suspicious by the default ranking. */
  suspects?: LabelIssue[];
  /** How many suspects the default marks (default 2% of the points, 10 to 200). */
  suspectCount?: number;
  /** "auto" (default): UMAP up to UMAP_AUTO_MAX_POINTS points, PCA above. */
  projection?: ProjectionMethod;
  /** Test-time augmentation of the features and probabilities (default "none": one pass). */
  tta?: CurationTta;
  /** UMAP's neighbours (default 15) and seed (default 42). */
  neighbours?: number;
  seed?: number;
  /** For the review grids the map opens: their ledger (default the data set's) and Grad-CAM method/layer. */
  ledger?: CurationLedger | string;
  cam?: { method?: CamMethod; layer?: string };
  onProgress?: (stage: string, done: number, total: number) => void;
}

// ---- PCA ------------------------------------------------------------------------------------------

export interface PcaResult {
  /** n × k, row-major: each point's coordinates along the components. */
  projected: Float64Array;
  /** k × d, row-major: unit vectors, largest variance first; each one's largest-magnitude entry is positive. */
  components: Float64Array;
  /** The variance along each component. */
  variances: number[];
  /** Share of the total variance the k components hold. */
  explained: number;
  mean: Float64Array;
  k: number;
}

/**
 * Principal component analysis of n points of dimension d (row-major): the k directions of largest
 * variance (eigenvectors of the covariance, from its symmetric eigendecomposition) and every point
 * projected on them. The covariance is computed from at most `maxRows` evenly spaced points (all of
 * them when n ≤ maxRows, so the result is then exact); every point is projected.
 */
export function pca(x: ArrayLike<number>, n: number, d: number, options: { components?: number; maxRows?: number } = {}): PcaResult {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1 || x.length !== n * d) throw new RangeError(`pca: ${x.length} values are not ${n} points × ${d} dimensions`);
  const k = Math.max(1, Math.min(options.components ?? 2, d));
  const maxRows = Math.max(2, options.maxRows ?? 3000);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const m = Math.min(n, maxRows);
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let r = 0; r < m; r++) {
    const i = m === n ? r : Math.floor((r * n) / m);
    for (let j = 0; j < d; j++) row[j] = x[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const v = row[a];
      if (v === 0) continue;
      const base = a * d;
      for (let b = a; b < d; b++) cov[base + b] += v * row[b];
    }
  }
  const denom = Math.max(1, m - 1);
  const rows: number[][] = [];
  for (let a = 0; a < d; a++) {
    const r: number[] = new Array(d);
    for (let b = 0; b < d; b++) r[b] = (a <= b ? cov[a * d + b] : cov[b * d + a]) / denom;
    rows.push(r);
  }
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  const order = values.map((v, i) => [v, i] as const).sort((p, q) => q[0] - p[0] || p[1] - q[1]).map((p) => p[1]);
  const components = new Float64Array(k * d);
  const variances: number[] = [];
  for (let c = 0; c < k; c++) {
    const col = order[c];
    let big = 0;
    for (let j = 0; j < d; j++) if (Math.abs(vectors.get(j, col)) > Math.abs(vectors.get(big, col))) big = j;
    const sign = vectors.get(big, col) < 0 ? -1 : 1;
    for (let j = 0; j < d; j++) components[c * d + j] = sign * vectors.get(j, col);
    variances.push(Math.max(0, values[col]));
  }
  const total = values.reduce((s, v) => s + Math.max(0, v), 0);
  const projected = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * components[c * d + j];
      projected[i * k + c] = s;
    }
  }
  return { projected, components, variances, explained: total > 0 ? variances.reduce((s, v) => s + v, 0) / total : 0, mean, k };
}

// ---- the 2-D projection ---------------------------------------------------------------------------

function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Projection {
  /** n × 2, row-major. */
  xy: Float64Array;
  method: "umap" | "pca";
  detail: string;
}

/** Projects n points of dimension d to 2-D: UMAP (after PCA to ≤ 50 dimensions) or PCA. */
export async function project2d(
  x: ArrayLike<number>,
  n: number,
  d: number,
  options: { method?: ProjectionMethod; neighbours?: number; seed?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<Projection> {
  const wanted = options.method ?? "auto";
  if (!["auto", "umap", "pca"].includes(wanted)) throw new RangeError(`projection must be "auto", "umap" or "pca", not ${JSON.stringify(wanted)}`);
  const neighbours = Math.max(2, Math.floor(options.neighbours ?? 15));
  const useUmap = (wanted === "umap" || (wanted === "auto" && n <= UMAP_AUTO_MAX_POINTS)) && n > neighbours + 1;
  if (!useUmap) {
    const p = pca(x, n, d, { components: 2 });
    const xy = p.k === 2 ? p.projected : Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? p.projected[i >> 1] : 0));
    const why = wanted === "umap" ? ` (UMAP needs more than ${neighbours + 1} points)` : wanted === "auto" && n > UMAP_AUTO_MAX_POINTS ? ` (UMAP would take minutes for ${n.toLocaleString("en-US")} points)` : "";
    return { xy, method: "pca", detail: `PCA of the model's penultimate-layer features: the two directions of largest variance, ${Math.round(100 * p.explained)}% of it${why}` };
  }
  const reduced = d > 50 ? pca(x, n, d, { components: 50 }) : undefined;
  const dim = reduced ? reduced.k : d;
  const data: number[][] = [];
  for (let i = 0; i < n; i++) data.push(Array.from(reduced ? reduced.projected.subarray(i * dim, (i + 1) * dim) : Array.prototype.slice.call(x, i * d, (i + 1) * d) as number[]));
  const umap = new UMAP({ nComponents: 2, nNeighbors: neighbours, nEpochs: 200, minDist: 0.1, random: seededRandom(options.seed ?? 42) });
  const signal = currentSignal();
  const epochs = umap.initializeFit(data);
  for (let e = 0; e < epochs; e++) {
    umap.step();
    if (e % 10 === 9) {
      options.onProgress?.(e + 1, epochs);
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("interrupted");
    }
  }
  const emb = umap.getEmbedding();
  const xy = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    xy[2 * i] = emb[i][0];
    xy[2 * i + 1] = emb[i][1];
  }
  return { xy, method: "umap", detail: `UMAP (${neighbours} neighbours, seed ${options.seed ?? 42}) of the model's penultimate-layer features${reduced ? ` reduced to ${dim} dimensions by PCA` : ""}` };
}

// ---- building the map -----------------------------------------------------------------------------

interface MapSession {
  id: string;
  dataset: FaceDataset;
  /** n × 7 probabilities the suspicions and the review grids' predictions come from. */
  probs: Float32Array;
  suspects: LabelIssue[];
  model: tf.LayersModel;
  normalization: { mean: number; std: number };
  ledger?: CurationLedger | string;
  cam?: { method?: CamMethod; layer?: string };
  /** The review grid this map opened last: forgotten when it opens the next, so selections never crowd out other reviews. */
  lastReview?: string;
}

const maps = new Map<string, MapSession>();

/** The open maps' ids (oldest first). */
export function openMaps(): string[] {
  return [...maps.keys()];
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** An embedding map: shows itself with the embedding renderer (DISPLAY protocol) and answers its messages. */
export class EmbeddingMap {
  readonly id: string;
  readonly payload: EmbeddingPayload;
  /** n × 2 coordinates as projected (before scaling to the payload's 16 bits). */
  readonly xy: Float64Array;
  constructor(payload: EmbeddingPayload, xy: Float64Array) {
    this.id = payload.mapId;
    this.payload = payload;
    this.xy = xy;
  }

  summary(): string {
    const p = this.payload;
    return `Embedding map of ${p.dataset}: ${p.n.toLocaleString("en-US")} face(s) by ${p.projection.method.toUpperCase()}, ${p.suspects.length} suspect(s) marked (map ${p.mapId}). Open it in VS Code to hover faces and select them for review.`;
  }

  [DISPLAY](): OutputItem[] {
    return [
      { mime: EMBEDDING_MIME, data: JSON.stringify(this.payload) },
      { mime: "text/plain", data: this.summary() },
    ];
  }

  toString(): string {
    return this.summary();
  }
}

/**
 * Builds the embedding map of `data` under `model` and registers it with the kernel, so the
 * renderer's hover and selection messages are answered. Display it (last expression of a cell, or
 * `display(map)`).
 */
export async function embeddingMap(model: tf.LayersModel, data: FaceDataset, options: EmbeddingMapOptions): Promise<EmbeddingMap> {
  if (!model || typeof (model as tf.LayersModel).predict !== "function" || !Array.isArray(model.inputs)) throw new TypeError("embeddingMap: model must be a TensorFlow.js LayersModel");
  if (!(data instanceof FaceDataset) && !(data && typeof (data as FaceDataset).image === "function")) throw new TypeError("embeddingMap needs a FaceDataset");
  const normalization = options?.normalization;
  if (!normalization || !Number.isFinite(normalization.mean) || !Number.isFinite(normalization.std) || normalization.std <= 0) {
    throw new TypeError("embeddingMap: pass normalization: the model's pixel mean/std (its card's input.mean and input.std)");
  }
  const n = data.size;
  if (n < 1) throw new RangeError("embeddingMap: the data set has no images");
  const [, h, w, c] = model.inputs[0].shape;
  if (h !== data.height || w !== data.width || c !== data.channels) {
    throw new Error(`embeddingMap: the model takes ${h}×${w}×${c} images but the data set holds ${data.height}×${data.width}×${data.channels}: load it with the model's input size.`);
  }
  const K = EMOTIONS.length;
  if (model.outputs[0].shape[1] !== K) throw new Error(`embeddingMap: the model has ${model.outputs[0].shape[1]} outputs, not the ${K} emotions`);
  if (options.probs && options.probs.length !== n * K) throw new RangeError(`probs has ${options.probs.length} values; ${n} images × ${K} classes need ${n * K}`);

  const features = await curationFeatures(model, data, normalization, { tta: options.tta ?? "none", onProgress: (d, t) => options.onProgress?.("features", d, t) });
  if (!features.dim) throw new Error('embeddingMap: the model has no classifier layer named "fc", so it has no penultimate-layer features to map');
  const probs = options.probs ? Float32Array.from(options.probs) : features.probs;
  const labels = data.labels;

  const proj = await project2d(features.embeddings, n, features.dim, {
    method: options.projection,
    neighbours: options.neighbours,
    seed: options.seed,
    onProgress: (d, t) => options.onProgress?.("umap", d, t),
  });

  // Coordinates scaled to 16 bits over their extent.
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = proj.xy[2 * i], y = proj.xy[2 * i + 1];
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const xyBytes = new Uint8Array(4 * n);
  const view = new DataView(xyBytes.buffer);
  const q = (v: number, lo: number, hi: number) => (hi > lo && Number.isFinite(v) ? Math.round(((v - lo) / (hi - lo)) * 65535) : 32768);
  for (let i = 0; i < n; i++) {
    view.setUint16(4 * i, q(proj.xy[2 * i], minX, maxX), true);
    view.setUint16(4 * i + 2, q(proj.xy[2 * i + 1], minY, maxY), true);
  }

  // Suspicion: the default ranking's score, shown as the benchmark's share of wrong labels.
  const strength = modelStrength(probs, labels, EMOTIONS);
  const predicted = new Uint8Array(n);
  const suspicion = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let j = 1; j < K; j++) if (probs[i * K + j] > probs[i * K + b]) b = j;
    predicted[i] = b;
    const p = probs[i * K + labels[i]];
    const s = strength.weak ? 1 - p : wrongShare(p);
    suspicion[i] = Math.max(0, Math.min(255, Math.round(255 * (Number.isFinite(s) ? s : 0))));
  }
  let suspects: LabelIssue[];
  if (options.suspects) {
    suspects = options.suspects.filter((s) => Number.isInteger(s.index) && s.index >= 0 && s.index < n);
  } else {
    const count = Math.max(0, Math.floor(options.suspectCount ?? Math.min(200, Math.max(10, Math.round(0.02 * n)))));
    suspects = rankLabelIssues(probs, labels, { method: DEFAULT_RANKING.method })
      .slice(0, count)
      .map((r) => {
        const i = r.index;
        let best = -1;
        for (let j = 0; j < K; j++) if (j !== labels[i] && (best < 0 || probs[i * K + j] > probs[i * K + best])) best = j;
        const p = probs[i * K + labels[i]];
        const issue: LabelIssue = { index: i, given: labels[i], suggested: best, selfConfidence: p, margin: p - probs[i * K + best], score: p, suspicion: r.suspicion };
        if (strength.weak) issue.weakModel = strength.reason;
        else issue.wrongShare = wrongShare(p);
        return issue;
      });
  }

  const id = `map-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
  maps.set(id, { id, dataset: data, probs, suspects, model, normalization, ledger: options.ledger, cam: options.cam });
  while (maps.size > MAX_OPEN_MAPS) maps.delete(maps.keys().next().value!);

  const payload: EmbeddingPayload = {
    mapId: id,
    renderer: RENDERER_ID.embedding,
    dataset: basename(data.root),
    classes: [...EMOTIONS],
    n,
    projection: { method: proj.method, detail: proj.detail },
    xy: base64(xyBytes),
    labels: base64(Uint8Array.from(labels)),
    predicted: base64(predicted),
    suspicion: base64(suspicion),
    suspicionMeaning: strength.weak
      ? "1 − the model's probability of the label (the model is too weak for this to mean much)"
      : "share of faces scored like this that had a wrong label on fernb's curation benchmark (loss of the given label)",
    suspects: suspects.map((s) => s.index),
    maxSelect: EMBEDDING_MAX_SELECT,
  };
  if (strength.weak && strength.reason) payload.weakModel = strength.reason;
  return new EmbeddingMap(payload, proj.xy);
}

// ---- messages from the renderer -------------------------------------------------------------------

const MAP_NOT_OPEN_ERROR = "This map is not open in the kernel (the kernel was restarted, or the map is too old): run the map's cell again.";

/** Answers a "thumb" or "select" request of the embedding map; never throws. */
export async function handleEmbeddingMessage(raw: unknown): Promise<EmbeddingReply<ReviewPayload>> {
  const echo = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const requestId = typeof echo.requestId === "string" || typeof echo.requestId === "number" ? echo.requestId : undefined;
  const action = echo.action === "select" || echo.action === "thumb" ? echo.action : undefined;
  const mapId = typeof echo.mapId === "string" && echo.mapId.length <= 100 ? echo.mapId : undefined;
  const fail = (error: string): EmbeddingReply<ReviewPayload> => ({ ok: false, requestId, mapId, action, error });
  const shape = parseEmbeddingRequest(raw);
  if (typeof shape === "string") return fail(shape);
  const session = maps.get(shape.mapId);
  if (!session) return fail(MAP_NOT_OPEN_ERROR);
  const req = parseEmbeddingRequest(raw, session.dataset.size);
  if (typeof req === "string") return fail(req);
  const d = session.dataset;
  try {
    if (req.action === "thumb") {
      const size = REVIEW_THUMB_SIZE;
      const thumbs = req.ids.map((i) => ({ id: i, path: d.paths[i], thumb: pngDataUrl(thumbnail(d.image(i), d.height, d.width, d.channels, size), size, size, d.channels as 1 | 3) }));
      return { ok: true, action: "thumb", requestId, mapId: session.id, thumbs };
    }
    const K = EMOTIONS.length;
    const sub = d.subset(req.ids);
    const probs = new Float32Array(req.ids.length * K);
    req.ids.forEach((i, k) => probs.set(session.probs.subarray(i * K, (i + 1) * K), k * K));
    const position = new Map(req.ids.map((i, k) => [i, k] as const));
    const suspects = session.suspects.filter((s) => position.has(s.index)).map((s) => ({ ...s, index: position.get(s.index)! }));
    const grid = await review(sub, { probs, suspects, model: session.model, normalization: session.normalization, cam: session.cam, ledger: session.ledger, limit: req.ids.length });
    if (session.lastReview) forgetReview(session.lastReview);
    session.lastReview = grid.id;
    const ids: Record<string, number> = {};
    req.ids.forEach((i) => (ids[d.paths[i]] = i));
    return { ok: true, action: "select", requestId, mapId: session.id, review: grid.payload, ids };
  } catch (e) {
    return fail(`could not ${req.action === "select" ? "open the selection for review" : "read the faces"}: ${(e as Error)?.message ?? String(e)}`);
  }
}

/**
 * Everything the embedding renderer sends: its own "thumb" and "select" requests, and the
 * decisions and Grad-CAM requests of the review grids it opened, which go to the review grid's
 * handler (review.ts: the same checks, the same ledger). Never throws.
 */
export function handleEmbeddingRendererMessage(raw: unknown): Promise<EmbeddingReply<ReviewPayload> | ReviewReply | ReviewCamReply> {
  const action = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>).action : undefined;
  return action === "select" || action === "thumb" ? handleEmbeddingMessage(raw) : handleReviewRendererMessage(raw);
}
