/**
 * The review grid: `await review(dataset, options)` shows a grid of the dataset's images (or of its
 * suspects: likely label errors, duplicates, unusable images) in fernb's review renderer
 * (`application/vnd.fernb.review+json`), where each image can be relabelled, excluded, restored,
 * and decisions undone. The renderer's actions come back to the kernel as renderer messages
 * (extension/rendererBridge.ts → kernel/main.ts → `handleReviewMessage`) and are appended to the
 * dataset's curation ledger; nothing else is ever written.
 *
 * The kernel keeps a registry reviewId → { dataset root, ledger, the review's items }. Messages from
 * the webview are untrusted: their shape and types are checked, and an action may only name one of
 * that review's items by its relative path, which must resolve (symlinks followed) inside the
 * dataset root.
 *
 * Given a model (`review(dataset, { model, normalization })`), the grid also shows the model's top
 * predictions and, on demand, the Grad-CAM of one image: the renderer sends `{ action: "gradcam",
 * reviewId, path, class? }` (protocol/rendererMessages.ts, ReviewCamRequest), checked like the other actions,
 * and the kernel answers with a small heat map computed from the image's pixels already in memory
 * (no file is read).
 */
import * as tf from "@tensorflow/tfjs";
import { randomBytes } from "node:crypto";
import { realpath } from "node:fs/promises";
import { basename, isAbsolute, join, resolve, sep } from "node:path";
import { DISPLAY } from "../../display";
import type * as P from "../../../protocol";
import { checkReviewRequest, MIME, parseReviewCamRequest, RENDERER_ID, REVIEW_CAM_MAX_SIDE, REVIEW_MAX_PATH, type OutputItem, type ReviewCamReply } from "../../../protocol";
import { classActivationMaps, type CamMethod } from "../cam/index";
import { defaultCamLayer } from "../cam/layers";
import { FaceDataset } from "../data/faceDataset";
import { EMOTIONS, type Emotion } from "../labels";
import { batchTensor, predictProbabilities } from "../modelInput";
import { pngDataUrl } from "../pngSync";
import type { LabelIssue } from "./confidentLearning";
import type { DuplicateGroup } from "./duplicates";
import { applyLedger, CurationLedger, isCsvRowPath, replayEntries, uncurated, type LedgerEntry } from "./ledger";
import { LedgerIndex, type LedgerIndexWork } from "./ledgerIndex";
import type { UnusableCandidate } from "./unusable";

/** The review renderer's MIME type (protocol/mime.ts); its messages come under RENDERER_ID.review. */
export const REVIEW_MIME = MIME.review;
/** Most items one review output carries (each a 48×48 PNG thumbnail, ~2–3 KB). */
export const REVIEW_MAX_ITEMS = 300;
export const REVIEW_DEFAULT_LIMIT = 200;
export const REVIEW_THUMB_SIZE = 48;
/** Reviews kept in the registry; older ones are forgotten (their grids then answer "run the cell again"). */
export const MAX_OPEN_REVIEWS = 32;

// The review payload's types live in protocol/payloads.ts (the renderer validates into the same
// types); here they are narrowed to the seven emotions and the CAM methods.
export type SuspectKind = P.SuspectKind;
export type ReviewIssue = P.ReviewIssue<Emotion>;
export type ReviewPrediction = P.ReviewPrediction<Emotion>;
export type ReviewItemState = P.ReviewItemState<Emotion>;
export type ReviewItem = P.ReviewItem<Emotion>;
/** Present when the review was given a model: the renderer then offers Grad-CAM per image. */
export type ReviewCamInfo = P.ReviewCamInfo<CamMethod>;
export type ReviewPayload = P.ReviewPayload<Emotion, CamMethod>;

export interface ReviewFilter {
  /** Only images with this dataset label. */
  label?: Emotion;
  /** Only images with a suspected issue (of this kind, or "any"). */
  issue?: SuspectKind | "any";
  /** Only images the model predicts as this class (needs probs). */
  predicted?: Emotion;
}

export interface ReviewOptions {
  /** The ledger (or ledger file); default the dataset's default ledger. */
  ledger?: CurationLedger | string;
  /** Likely label errors (findLabelIssues(...).suspects): index into this dataset. */
  suspects?: LabelIssue[];
  /** Duplicate groups (findDuplicates(...).groups); members are matched by path. */
  duplicates?: DuplicateGroup[] | { groups: DuplicateGroup[] };
  /** Unusable-image candidates (rankUnusable(...)): index into this dataset. */
  unusable?: UnusableCandidate[];
  /** Predicted probabilities, n × 7 row-major, aligned with the dataset (shown as top predictions). */
  probs?: ArrayLike<number>;
  /**
   * A model over this dataset's images: its top predictions are shown (computed for the shown
   * images, unless `probs` is given) and each image offers its Grad-CAM on demand. Needs
   * `normalization`.
   */
  model?: tf.LayersModel;
  /** The pixel normalisation `model` was trained with (its card's input.mean/std). */
  normalization?: { mean: number; std: number };
  /**
   * Grad-CAM method and layer (default Grad-CAM on the layer the model's card names, else the
   * deepest residual-block output with at least a 6×6 grid, e.g. layer2_1_out for 48×48 faces).
   */
  cam?: { method?: CamMethod; layer?: string };
  /** How many top predictions each item shows (default 3). */
  topK?: number;
  filter?: ReviewFilter;
  /** Most items (default 200, at most 300). With suspects: the most suspect first; else dataset order. */
  limit?: number;
}

interface ReviewSession {
  id: string;
  root: string;
  dataset: FaceDataset;
  ledger: CurationLedger;
  /** The ledger in memory, followed as it grows: a decision's reply replays only that image's decisions. */
  index: LedgerIndex;
  /** Allowed relative path → dataset index. */
  allowed: Map<string, number>;
  /** Relative path → the suggested label (accepting it is recorded with source "suggestion"). */
  suggestions: Map<string, Emotion>;
  /** Decisions this review appended, in order, for undo. */
  history: LedgerEntry[];
  undone: Set<string>;
  queue: Promise<unknown>;
  /** Set when the review was given a model. */
  model?: { model: tf.LayersModel; normalization: { mean: number; std: number }; method: CamMethod; layer: string };
}

const registry = new Map<string, ReviewSession>();

/** The open reviews' ids (oldest first). */
export function openReviews(): string[] {
  return [...registry.keys()];
}

/** Forgets every review (a kernel restart does this implicitly). */
export function closeReviews(): void {
  registry.clear();
}

/** What following the review's ledger has cost so far (entries parsed, full and append-only reads); undefined when not open. */
export function reviewLedgerWork(id: string): LedgerIndexWork | undefined {
  const session = registry.get(id);
  return session ? { ...session.index.work } : undefined;
}

/** Forgets one review (its grid then answers "run the cell again"); true when it was open. */
export function forgetReview(id: string): boolean {
  return registry.delete(id);
}

// ---- building the grid ----------------------------------------------------------------------------

/** Box-filtered resize of HWC uint8 pixels to size×size (up- or down-sampling); already size×size comes back as is. */
export function thumbnail(pixels: Uint8Array, height: number, width: number, channels: number, size: number): Uint8Array {
  if (height === size && width === size) return pixels;
  const out = new Uint8Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    const y0 = Math.floor((y * height) / size);
    const y1 = Math.max(y0 + 1, Math.ceil(((y + 1) * height) / size));
    for (let x = 0; x < size; x++) {
      const x0 = Math.floor((x * width) / size);
      const x1 = Math.max(x0 + 1, Math.ceil(((x + 1) * width) / size));
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) sum += pixels[(yy * width + xx) * channels + c];
        out[(y * size + x) * channels + c] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return out;
}

const clamp01 = (v: number) => (Number.isFinite(v) ? Math.max(0, Math.min(1, v)) : 0);
const round3 = (v: number) => Math.round(v * 1000) / 1000;

function collectIssues(dataset: FaceDataset, options: ReviewOptions): Map<number, ReviewIssue> {
  const issues = new Map<number, ReviewIssue>();
  const put = (index: number, issue: ReviewIssue) => {
    if (!Number.isInteger(index) || index < 0 || index >= dataset.size) return;
    const prev = issues.get(index);
    if (!prev || issue.score > prev.score) issues.set(index, issue);
  };
  for (const s of options.suspects ?? []) {
    const suggested = EMOTIONS[s.suggested];
    const what = `labelled ${EMOTIONS[s.given] ?? s.given}, likely ${suggested ?? s.suggested} (p = ${s.selfConfidence.toFixed(2)})`;
    if (s.weakModel) {
      // Too weak a model: no suspicion shown as a number (the tile says so; the detail says why).
      put(s.index, { kind: "label", score: 0, suggested, detail: `${what}. ${s.weakModel}` });
    } else if (s.wrongShare !== undefined && Number.isFinite(s.wrongShare)) {
      // What the suspicion means: the share of faces scored like this that were mislabelled on the
      // curation benchmark (calibration.ts); ties broken by the model's probability of the label.
      const score = Math.round((clamp01(s.wrongShare) * 0.999 + 0.001 * clamp01(1 - s.selfConfidence)) * 1e6) / 1e6;
      put(s.index, { kind: "label", score, suggested, detail: `${what}: about ${Math.round(100 * s.wrongShare)}% of faces scored like this had a wrong label on fernb's curation benchmark${s.duplicateConflict ? "; a near duplicate of it carries another label" : ""}` });
    } else {
      put(s.index, { kind: "label", score: round3(clamp01(1 - s.score)), suggested, detail: what });
    }
  }
  const groups = Array.isArray(options.duplicates) ? options.duplicates : options.duplicates?.groups ?? [];
  if (groups.length) {
    const indexOf = new Map(dataset.paths.map((p, i) => [p, i] as const));
    for (const g of groups) {
      for (const m of g.members) {
        const i = indexOf.get(m.path);
        if (i === undefined) continue;
        const others = g.members.filter((o) => o !== m).map((o) => o.path);
        put(i, {
          kind: "duplicate",
          score: g.exact ? 1 : g.conflict ? 0.9 : 0.75,
          detail: `${g.exact ? "identical to" : "near duplicate of"} ${others.slice(0, 3).join(", ")}${others.length > 3 ? ` and ${others.length - 3} more` : ""}${g.conflict ? ` (labels differ: ${g.labels.join(", ")})` : ""}`,
        });
      }
    }
  }
  for (const u of options.unusable ?? []) put(u.index, { kind: "unusable", score: round3(clamp01(u.score)), detail: u.reasons.join("; ") || undefined });
  return issues;
}

function topPredictions(probs: ArrayLike<number>, i: number, k: number): ReviewPrediction[] {
  const row = Array.from({ length: EMOTIONS.length }, (_, j) => ({ label: EMOTIONS[j], p: round3(clamp01(probs[i * EMOTIONS.length + j])) }));
  return row.sort((a, b) => b.p - a.p).slice(0, k);
}

/** The model's probabilities for `indices` of the dataset, n × 7 row-major in the dataset's order (others left 0). */
async function predictIndices(model: tf.LayersModel, dataset: FaceDataset, indices: number[], norm: { mean: number; std: number }, into: Float32Array): Promise<void> {
  const k = EMOTIONS.length;
  const values = await predictProbabilities(model, dataset, norm, 64, indices);
  indices.forEach((i, b) => into.set(values.subarray(b * k, (b + 1) * k), i * k));
}

function checkModel(model: tf.LayersModel, dataset: FaceDataset, normalization: ReviewOptions["normalization"]): { mean: number; std: number } {
  if (!model || typeof (model as tf.LayersModel).predict !== "function" || !Array.isArray(model.inputs)) throw new TypeError("review: model must be a TensorFlow.js LayersModel");
  if (!normalization || !Number.isFinite(normalization.mean) || !Number.isFinite(normalization.std) || normalization.std <= 0) {
    throw new TypeError("review: with a model, pass normalization too: the model's pixel mean/std (its card's input.mean and input.std)");
  }
  const [, h, w, c] = model.inputs[0].shape;
  if (h !== dataset.height || w !== dataset.width || c !== dataset.channels) {
    throw new Error(`review: the model takes ${h}×${w}×${c} images but the data set holds ${dataset.height}×${dataset.width}×${dataset.channels}: load it with the model's input size.`);
  }
  const k = model.outputs[0].shape[1];
  if (k !== EMOTIONS.length) throw new Error(`review: the model has ${k} outputs, not the ${EMOTIONS.length} emotions`);
  return { mean: normalization.mean, std: normalization.std };
}

function newReviewId(): string {
  return `review-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
}

function stateOf(original: Emotion, label: Emotion, excluded: boolean): ReviewItemState {
  const s: ReviewItemState = { originalLabel: original, label, excluded };
  if (label !== original) s.relabelled = label;
  return s;
}

/** A review grid: shows itself with the review renderer (DISPLAY protocol) and answers its actions. */
export class ReviewGrid {
  readonly id: string;
  readonly payload: ReviewPayload;
  constructor(payload: ReviewPayload) {
    this.id = payload.reviewId;
    this.payload = payload;
  }

  summary(): string {
    const p = this.payload;
    const suspects = p.items.filter((i) => i.issue).length;
    return `Review of ${p.dataset}: ${p.items.length} of ${p.total} image(s)${suspects ? `, ${suspects} suspect(s)` : ""} (review ${p.reviewId}). Open it in VS Code to relabel or exclude images.`;
  }

  [DISPLAY](): OutputItem[] {
    return [
      { mime: REVIEW_MIME, data: JSON.stringify(this.payload) },
      { mime: "text/plain", data: this.summary() },
    ];
  }

  toString(): string {
    return this.summary();
  }
}

/**
 * Builds a review grid of `dataset` and registers it with the kernel, so the renderer's actions
 * (relabel, exclude, restore, undo) are appended to the ledger. Display it (last expression of a
 * cell, or `display(grid)`).
 */
export async function review(dataset: FaceDataset, options: ReviewOptions = {}): Promise<ReviewGrid> {
  if (!(dataset instanceof FaceDataset) && !(dataset && typeof (dataset as FaceDataset).image === "function")) throw new TypeError("review needs a FaceDataset");
  const limit = Math.max(1, Math.min(REVIEW_MAX_ITEMS, Math.floor(options.limit ?? REVIEW_DEFAULT_LIMIT)));
  const topK = Math.max(1, Math.min(EMOTIONS.length, Math.floor(options.topK ?? 3)));
  let probs = options.probs;
  const model = options.model;
  const normalization = model ? checkModel(model, dataset, options.normalization) : undefined;
  const camMethod: CamMethod = options.cam?.method ?? "Grad-CAM";
  const camLayer = options.cam?.layer ?? (model ? defaultCamLayer(model) : "");
  if (model) {
    if (camMethod !== "Grad-CAM" && camMethod !== "Grad-CAM++") throw new TypeError(`review: cam.method must be "Grad-CAM" or "Grad-CAM++"`);
    try {
      const out = model.getLayer(camLayer).output as tf.SymbolicTensor;
      if (out.shape.length !== 4) throw new Error(`outputs shape ${JSON.stringify(out.shape)}, not a feature map`);
    } catch (e) {
      throw new Error(`review: cam.layer ${camLayer}: ${(e as Error).message}`);
    }
  }
  if (probs && probs.length !== dataset.size * EMOTIONS.length) {
    throw new RangeError(`probs has ${probs.length} values; ${dataset.size} images × ${EMOTIONS.length} classes need ${dataset.size * EMOTIONS.length}`);
  }
  const ledger =
    options.ledger && typeof options.ledger === "object"
      ? options.ledger
      : await CurationLedger.open(dataset, { file: typeof options.ledger === "string" ? options.ledger : undefined });
  if (ledger.root !== resolve(dataset.root)) throw new Error(`the ledger belongs to ${ledger.root}, not to the dataset ${dataset.root}`);

  // A curated view (what loadFolderDataset returns for a dataset with a ledger): the grid shows its
  // images (filters, suspects and probs refer to it), but items, states and the session use the raw
  // data behind it (`toRaw` maps the indices), so a new ledger line records the raw (folder) label
  // replay checks, and an image excluded in an open grid stays in that grid.
  const raw = uncurated(dataset);
  const toRaw = (i: number) => (dataset.curation ? dataset.curation.originalIndex[i] : i);
  const issues = collectIssues(dataset, options);
  const hasSuspects = issues.size > 0;
  const filter = options.filter ?? {};
  let indices: number[] = [];
  for (let i = 0; i < dataset.size; i++) {
    if (filter.label && dataset.label(i) !== filter.label) continue;
    if (filter.issue && (filter.issue === "any" ? !issues.has(i) : issues.get(i)?.kind !== filter.issue)) continue;
    indices.push(i);
  }
  // Predictions from the model, when no probabilities were given: for every candidate when the
  // filter needs them, else (below) only for the images shown.
  let computed: Float32Array | undefined;
  if (model && !probs) {
    computed = new Float32Array(dataset.size * EMOTIONS.length);
    if (filter.predicted) {
      await predictIndices(model, dataset, indices, normalization!, computed);
      probs = computed;
    }
  }
  if (filter.predicted) {
    const predictedOf = (i: number) => (probs ? topPredictions(probs, i, 1)[0].label : undefined);
    indices = indices.filter((i) => predictedOf(i) === filter.predicted);
  }
  if (hasSuspects) {
    // The most suspect first, then the rest in dataset order.
    indices.sort((a, b) => (issues.get(b)?.score ?? -1) - (issues.get(a)?.score ?? -1) || a - b);
  }
  const total = indices.length;
  indices = indices.slice(0, limit);
  if (computed && !probs) {
    await predictIndices(model!, dataset, indices, normalization!, computed);
    probs = computed;
  }

  // Current state from the ledger, replayed over just these images (hashes only of these).
  const states = new Map<string, ReviewItemState>();
  if (indices.length) {
    const sub = raw.subset(indices.map(toRaw));
    const { report } = await applyLedger(sub, ledger);
    for (const s of report.states) states.set(s.path, stateOf(s.originalLabel, s.label, s.excluded));
  }

  // The ledger in memory from here on (one full read per review); each decision then reads only what it appends.
  const index = new LedgerIndex(ledger);
  await index.sync();

  const id = newReviewId();
  const suggestions = new Map<string, Emotion>();
  const items: ReviewItem[] = indices.map((i) => {
    const path = dataset.paths[i];
    const label = raw.label(toRaw(i));
    const thumb = pngDataUrl(thumbnail(dataset.image(i), dataset.height, dataset.width, dataset.channels, REVIEW_THUMB_SIZE), REVIEW_THUMB_SIZE, REVIEW_THUMB_SIZE, dataset.channels);
    const item: ReviewItem = { path, label, thumb, state: states.get(path) ?? stateOf(label, label, false) };
    if (probs) item.predictions = topPredictions(probs, i, topK);
    const issue = issues.get(i);
    if (issue) item.issue = issue;
    const suggestion = issue?.suggested ?? (item.predictions && item.predictions[0].label !== label ? item.predictions[0].label : undefined);
    if (suggestion) suggestions.set(path, suggestion);
    return item;
  });

  registry.set(id, {
    id,
    root: ledger.root,
    dataset: raw,
    ledger,
    index,
    allowed: new Map(indices.map((i) => [dataset.paths[i], toRaw(i)] as const)),
    suggestions,
    history: [],
    undone: new Set(),
    queue: Promise.resolve(),
    model: model ? { model, normalization: normalization!, method: camMethod, layer: camLayer } : undefined,
  });
  while (registry.size > MAX_OPEN_REVIEWS) registry.delete(registry.keys().next().value!);

  const payload: ReviewPayload = { reviewId: id, dataset: basename(dataset.root), classes: [...EMOTIONS], renderer: RENDERER_ID.review, total, items };
  if (model) payload.cam = { method: camMethod, layer: camLayer };
  return new ReviewGrid(payload);
}

// ---- actions from the renderer --------------------------------------------------------------------

// The requests and replies are declared in protocol/rendererMessages.ts.
export type ReviewAction = P.ReviewAction;
export type ReviewRequest = P.ReviewRequest<Emotion>;
/** `ledgerLine` is null when nothing was written (a relabel to the label the image already has). */
export type ReviewReply = P.ReviewReply<Emotion, LedgerEntry | null>;

export class ReviewRequestError extends Error {}

const NOT_OPEN_ERROR = "This review is not open in the kernel (the kernel was restarted, or the review is too old): run the review cell again.";

/** Checks a message from the webview (protocol's checkReviewRequest); throws ReviewRequestError naming the first problem. */
export function parseReviewRequest(raw: unknown): ReviewRequest {
  const checked = checkReviewRequest(raw, EMOTIONS);
  if (typeof checked === "string") throw new ReviewRequestError(checked);
  return checked;
}

/** Checks that `path` is one of the review's items and resolves inside its dataset root. */
async function checkPath(session: ReviewSession, path: string): Promise<number> {
  if (path.includes("\0")) throw new ReviewRequestError("path contains a NUL character");
  if (isAbsolute(path) || path.startsWith("/") || path.startsWith("\\") || /^[a-zA-Z]:/.test(path)) throw new ReviewRequestError("absolute paths are not allowed");
  if (path.split(/[\\/]/).some((part) => part === ".." || part === "." || part === "")) throw new ReviewRequestError(`path ${JSON.stringify(path)} is not a plain relative path (no "..", "." or empty parts)`);
  const index = session.allowed.get(path);
  if (index === undefined) throw new ReviewRequestError(`${path} is not an image of this review`);
  if (!isCsvRowPath(path)) {
    // A file (whatever its name holds, `#` included): it must resolve (symlinks followed) inside the dataset root.
    let real: string;
    let realRoot: string;
    try {
      [real, realRoot] = await Promise.all([realpath(join(session.root, ...path.split("/"))), realpath(session.root)]);
    } catch {
      throw new ReviewRequestError(`${path} no longer exists under the dataset root`);
    }
    if (!real.startsWith(realRoot + sep)) throw new ReviewRequestError(`${path} resolves outside the dataset root`);
  }
  return index;
}

/**
 * The image's state after the ledger's decisions, from the ledger in memory (brought up to date
 * first): only this image's decisions and the undos about them are replayed, whatever the ledger's length.
 */
async function currentState(session: ReviewSession, index: number): Promise<ReviewItemState> {
  await session.index.sync();
  const d = session.dataset;
  const one = d.subset([index]);
  const [s] = await replayEntries(session.index.decisionsAbout(d.paths[index]), one, session.ledger.file);
  const original = d.label(index);
  return s ? stateOf(s.originalLabel, s.label, s.excluded) : stateOf(original, original, false);
}

async function perform(session: ReviewSession, req: ReviewRequest): Promise<ReviewReply> {
  let entry: LedgerEntry;
  if (req.action === "undo") {
    let target: LedgerEntry | undefined;
    if (req.decisionId) {
      await session.index.sync();
      target = session.index.entry(req.decisionId);
      if (!target) throw new ReviewRequestError(`no decision ${req.decisionId} in the ledger`);
    } else {
      for (let i = session.history.length - 1; i >= 0; i--) {
        const h = session.history[i];
        if (session.undone.has(h.id) || (req.path !== undefined && h.path !== req.path)) continue;
        target = h;
        break;
      }
      if (!target) throw new ReviewRequestError(req.path ? `nothing to undo for ${req.path} in this review` : "nothing to undo in this review");
    }
    if (req.path !== undefined && req.path !== target.path) throw new ReviewRequestError(`decision ${target.id} is about ${target.path}, not ${req.path}`);
    const index = await checkPath(session, target.path);
    entry = await session.ledger.undo(target, { source: "manual" });
    session.undone.add(target.id);
    return { ok: true, requestId: req.requestId, reviewId: session.id, action: "undo", path: target.path, state: await currentState(session, index), ledgerLine: entry };
  }
  const path = req.path!;
  const index = await checkPath(session, path);
  const oldLabel = session.dataset.label(index);
  if (req.action === "relabel") {
    const source = session.suggestions.get(path) === req.label ? "suggestion" : "manual";
    // The label it already has (after the ledger's decisions about it): not a decision, nothing
    // written (ledgerLine null), nothing to undo. As CurationLedger.relabel, without re-reading the ledger.
    const before = await currentState(session, index);
    if (before.label === req.label) return { ok: true, requestId: req.requestId, reviewId: session.id, action: req.action, path, state: before, ledgerLine: null };
    entry = await session.ledger.append({ path, action: "relabel", newLabel: req.label!, oldLabel, source });
  } else {
    entry = await session.ledger.append({ path, action: req.action, oldLabel, source: "manual" });
  }
  session.history.push(entry);
  return { ok: true, requestId: req.requestId, reviewId: session.id, action: req.action, path, state: await currentState(session, index), ledgerLine: entry };
}

/**
 * Handles one message from the review renderer; never throws: every failure is an `{ ok: false,
 * error }` reply. Actions of one review are applied one at a time, in arrival order.
 */
export async function handleReviewMessage(raw: unknown): Promise<ReviewReply> {
  const echo = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const requestId = typeof echo.requestId === "string" || typeof echo.requestId === "number" ? echo.requestId : undefined;
  const path = typeof echo.path === "string" && echo.path.length <= REVIEW_MAX_PATH ? echo.path : undefined;
  let req: ReviewRequest;
  try {
    req = parseReviewRequest(raw);
  } catch (e) {
    return { ok: false, requestId, path, error: (e as Error).message };
  }
  const session = registry.get(req.reviewId);
  if (!session) {
    return { ok: false, requestId, reviewId: req.reviewId, action: req.action, path, error: NOT_OPEN_ERROR };
  }
  const work = session.queue.then(() => perform(session, req));
  session.queue = work.catch(() => undefined);
  try {
    return await work;
  } catch (e) {
    const message = e instanceof ReviewRequestError ? e.message : `could not record the decision: ${(e as Error)?.message ?? String(e)}`;
    return { ok: false, requestId, reviewId: req.reviewId, action: req.action, path, error: message };
  }
}

// ---- Grad-CAM on demand ---------------------------------------------------------------------------

export const REVIEW_NO_MODEL_ERROR = "This review has no model: pass `model` (and `normalization`) to review() to see Grad-CAM.";

/** A w×h map of values in [0,1] as `rows` of at most REVIEW_CAM_MAX_SIDE values, box-filtered down if larger, 3 decimals. */
function camRows(cam: Float32Array, height: number, width: number): { width: number; height: number; rows: number[][] } {
  const scale = Math.min(1, REVIEW_CAM_MAX_SIDE / Math.max(height, width));
  const W = Math.max(1, Math.round(width * scale));
  const H = Math.max(1, Math.round(height * scale));
  const rows: number[][] = [];
  for (let y = 0; y < H; y++) {
    const y0 = Math.floor((y * height) / H);
    const y1 = Math.max(y0 + 1, Math.ceil(((y + 1) * height) / H));
    const row: number[] = [];
    for (let x = 0; x < W; x++) {
      const x0 = Math.floor((x * width) / W);
      const x1 = Math.max(x0 + 1, Math.ceil(((x + 1) * width) / W));
      let sum = 0;
      for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) sum += cam[yy * width + xx];
      row.push(round3(clamp01(sum / ((y1 - y0) * (x1 - x0)))));
    }
    rows.push(row);
  }
  return { width: W, height: H, rows };
}

/**
 * Answers a Grad-CAM request from the review renderer (protocol/rendererMessages.ts ReviewCamRequest); never
 * throws. The item must be one of that review's images (checked like the ledger actions); the map is
 * computed from its pixels in memory, for `class` or else the model's predicted class.
 */
export async function handleReviewCamMessage(raw: unknown): Promise<ReviewCamReply> {
  const echo = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const requestId = typeof echo.requestId === "string" || typeof echo.requestId === "number" ? echo.requestId : undefined;
  const path = typeof echo.path === "string" && echo.path.length <= REVIEW_MAX_PATH ? echo.path : undefined;
  const fail = (error: string, reviewId?: string): ReviewCamReply => ({ ok: false, action: "gradcam", requestId, reviewId, path, error });
  const req = parseReviewCamRequest(raw);
  if (typeof req === "string") return fail(req);
  const session = registry.get(req.reviewId);
  if (!session) return fail(NOT_OPEN_ERROR, req.reviewId);
  if (!session.model) return fail(REVIEW_NO_MODEL_ERROR, req.reviewId);
  let target: number | undefined;
  if (req.class !== undefined) {
    target = (EMOTIONS as readonly string[]).indexOf(req.class);
    if (target < 0) return fail(`class must be one of ${EMOTIONS.join(", ")}`, req.reviewId);
  }
  let index: number;
  try {
    index = await checkPath(session, req.path);
  } catch (e) {
    return fail(e instanceof ReviewRequestError ? e.message : String((e as Error)?.message ?? e), req.reviewId);
  }
  const { model, normalization, method, layer } = session.model;
  const d = session.dataset;
  let x: tf.Tensor4D | undefined;
  try {
    x = batchTensor(d, [index], normalization);
    const probs = tf.tidy(() => (model.predict(x!) as tf.Tensor).dataSync());
    let predicted = 0;
    for (let j = 1; j < EMOTIONS.length; j++) if (probs[j] > probs[predicted]) predicted = j;
    const cls = target ?? predicted;
    const [cam] = classActivationMaps(model, x, [cls], { method, layer });
    const { width, height, rows } = camRows(cam, d.height, d.width);
    return {
      ok: true, action: "gradcam", requestId, reviewId: session.id, path: req.path,
      class: EMOTIONS[cls], predicted: EMOTIONS[predicted], p: round3(clamp01(probs[cls])), pPredicted: round3(clamp01(probs[predicted])),
      method, layer, width, height, cam: rows,
    };
  } catch (e) {
    return fail(`could not compute the Grad-CAM: ${(e as Error)?.message ?? String(e)}`, req.reviewId);
  } finally {
    x?.dispose();
  }
}

/** Everything the review renderer sends: Grad-CAM requests, and the ledger actions. Never throws. */
export function handleReviewRendererMessage(raw: unknown): Promise<ReviewReply | ReviewCamReply> {
  const action = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>).action : undefined;
  return action === "gradcam" ? handleReviewCamMessage(raw) : handleReviewMessage(raw);
}
