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
 */
import { randomBytes } from "node:crypto";
import { realpath } from "node:fs/promises";
import { basename, isAbsolute, join, resolve, sep } from "node:path";
import { DISPLAY } from "../../display";
import type { OutputItem } from "../../protocol";
import { FaceDataset } from "../dataset";
import { EMOTIONS, type Emotion } from "../labels";
import { pngDataUrl } from "../pngSync";
import type { LabelIssue } from "./confidentLearning";
import type { DuplicateGroup } from "./duplicates";
import { applyLedger, CurationLedger, type LedgerEntry } from "./ledger";
import type { UnusableCandidate } from "./unusable";

export const REVIEW_MIME = "application/vnd.fernb.review+json";
/** The renderer id (package.json contributes.notebookRenderer) whose messages go to the review registry. */
export const REVIEW_RENDERER_ID = "fernb-review";
/** Most items one review output carries (each a 48×48 PNG thumbnail, ~2–3 KB). */
export const REVIEW_MAX_ITEMS = 300;
export const REVIEW_DEFAULT_LIMIT = 200;
export const REVIEW_THUMB_SIZE = 48;
/** Reviews kept in the registry; older ones are forgotten (their grids then answer "run the cell again"). */
export const MAX_OPEN_REVIEWS = 32;

export type SuspectKind = "label" | "duplicate" | "unusable";

export interface ReviewIssue {
  kind: SuspectKind;
  /** How suspect, 0..1, higher = more likely a problem (label issues: 1 − their score). */
  score: number;
  /** Label issues: the suggested label. */
  suggested?: Emotion;
  detail?: string;
}

export interface ReviewPrediction {
  label: Emotion;
  p: number;
}

export interface ReviewItemState {
  /** The label in the dataset (folder / CSV). */
  originalLabel: Emotion;
  /** The label after the ledger's decisions. */
  label: Emotion;
  excluded: boolean;
  /** Set when the ledger relabelled the image. */
  relabelled?: Emotion;
}

export interface ReviewItem {
  /** Relative to the dataset root, posix separators. */
  path: string;
  /** The label in the dataset. */
  label: Emotion;
  /** data:image/png;base64 thumbnail, 48×48. */
  thumb: string;
  predictions?: ReviewPrediction[];
  issue?: ReviewIssue;
  state: ReviewItemState;
}

export interface ReviewPayload {
  reviewId: string;
  /** Display name of the dataset root (its folder or file name). */
  dataset: string;
  classes: string[];
  /** The renderer whose messages this review answers (for the webview's postMessage). */
  renderer: string;
  /** Images matching the filter (before the item cap). */
  total: number;
  items: ReviewItem[];
}

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
  /** Allowed relative path → dataset index. */
  allowed: Map<string, number>;
  /** Relative path → the suggested label (accepting it is recorded with source "suggestion"). */
  suggestions: Map<string, Emotion>;
  /** Decisions (ids, paths) this review appended, in order, for undo. */
  history: { id: string; path: string }[];
  undone: Set<string>;
  queue: Promise<unknown>;
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

// ---- building the grid ----------------------------------------------------------------------------

/** Box-filtered resize of HWC uint8 pixels to size×size (up- or down-sampling). */
function thumbnail(pixels: Uint8Array, height: number, width: number, channels: number, size: number): Uint8Array {
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
    put(s.index, { kind: "label", score: round3(clamp01(1 - s.score)), suggested, detail: `labelled ${EMOTIONS[s.given] ?? s.given}, likely ${suggested ?? s.suggested} (p = ${s.selfConfidence.toFixed(2)})` });
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
  const probs = options.probs;
  if (probs && probs.length !== dataset.size * EMOTIONS.length) {
    throw new RangeError(`probs has ${probs.length} values; ${dataset.size} images × ${EMOTIONS.length} classes need ${dataset.size * EMOTIONS.length}`);
  }
  const ledger =
    options.ledger && typeof options.ledger === "object"
      ? options.ledger
      : await CurationLedger.open(dataset, { file: typeof options.ledger === "string" ? options.ledger : undefined });
  if (ledger.root !== resolve(dataset.root)) throw new Error(`the ledger belongs to ${ledger.root}, not to the dataset ${dataset.root}`);

  const issues = collectIssues(dataset, options);
  const hasSuspects = issues.size > 0;
  const filter = options.filter ?? {};
  const predictedOf = (i: number) => (probs ? topPredictions(probs, i, 1)[0].label : undefined);
  let indices: number[] = [];
  for (let i = 0; i < dataset.size; i++) {
    if (filter.label && dataset.label(i) !== filter.label) continue;
    if (filter.issue && (filter.issue === "any" ? !issues.has(i) : issues.get(i)?.kind !== filter.issue)) continue;
    if (filter.predicted && predictedOf(i) !== filter.predicted) continue;
    indices.push(i);
  }
  if (hasSuspects) {
    // The most suspect first, then the rest in dataset order.
    indices.sort((a, b) => (issues.get(b)?.score ?? -1) - (issues.get(a)?.score ?? -1) || a - b);
  }
  const total = indices.length;
  indices = indices.slice(0, limit);

  // Current state from the ledger, replayed over just these images (hashes only of these).
  const states = new Map<string, ReviewItemState>();
  if (indices.length) {
    const sub = dataset.subset(indices);
    const { report } = await applyLedger(sub, ledger);
    for (const s of report.states) states.set(s.path, stateOf(s.originalLabel, s.label, s.excluded));
  }

  const id = newReviewId();
  const suggestions = new Map<string, Emotion>();
  const items: ReviewItem[] = indices.map((i) => {
    const path = dataset.paths[i];
    const label = dataset.label(i);
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
    dataset,
    ledger,
    allowed: new Map(indices.map((i) => [dataset.paths[i], i] as const)),
    suggestions,
    history: [],
    undone: new Set(),
    queue: Promise.resolve(),
  });
  while (registry.size > MAX_OPEN_REVIEWS) registry.delete(registry.keys().next().value!);

  return new ReviewGrid({ reviewId: id, dataset: basename(dataset.root), classes: [...EMOTIONS], renderer: REVIEW_RENDERER_ID, total, items });
}

// ---- actions from the renderer --------------------------------------------------------------------

export type ReviewAction = "relabel" | "exclude" | "restore" | "undo";

export interface ReviewRequest {
  reviewId: string;
  action: ReviewAction;
  /** Echoed in the reply, so the renderer can match it. */
  requestId?: string | number;
  path?: string;
  /** relabel: one of the 7 EMOTIONS. */
  label?: Emotion;
  /** undo: the decision to cancel (default: the review's last decision, or its last one on `path`). */
  decisionId?: string;
}

export type ReviewReply =
  | { ok: true; requestId?: string | number; reviewId: string; action: ReviewAction; path: string; state: ReviewItemState; ledgerLine: LedgerEntry }
  | { ok: false; requestId?: string | number; reviewId?: string; action?: string; path?: string; error: string };

export class ReviewRequestError extends Error {}

const ACTIONS: readonly ReviewAction[] = ["relabel", "exclude", "restore", "undo"];
const MAX_PATH = 1024;

/** Checks a message from the webview; throws ReviewRequestError naming the first problem. */
export function parseReviewRequest(raw: unknown): ReviewRequest {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ReviewRequestError("the message must be an object");
  const m = raw as Record<string, unknown>;
  if (typeof m.reviewId !== "string" || !/^[\w.-]{1,100}$/.test(m.reviewId)) throw new ReviewRequestError("reviewId must be a review id string");
  if (typeof m.action !== "string" || !ACTIONS.includes(m.action as ReviewAction)) throw new ReviewRequestError(`action must be one of ${ACTIONS.join(", ")}`);
  const out: ReviewRequest = { reviewId: m.reviewId, action: m.action as ReviewAction };
  if (m.requestId !== undefined) {
    if (!((typeof m.requestId === "string" && m.requestId.length <= 100) || (typeof m.requestId === "number" && Number.isFinite(m.requestId)))) {
      throw new ReviewRequestError("requestId must be a short string or a number");
    }
    out.requestId = m.requestId;
  }
  if (m.path !== undefined) {
    if (typeof m.path !== "string" || m.path.length === 0 || m.path.length > MAX_PATH) throw new ReviewRequestError("path must be a non-empty string");
    out.path = m.path;
  } else if (out.action !== "undo") throw new ReviewRequestError(`${out.action} needs a path`);
  if (out.action === "relabel") {
    if (typeof m.label !== "string" || !(EMOTIONS as readonly string[]).includes(m.label)) throw new ReviewRequestError(`label must be one of ${EMOTIONS.join(", ")}`);
    out.label = m.label as Emotion;
  } else if (m.label !== undefined) throw new ReviewRequestError(`label is only for relabel, not ${out.action}`);
  if (m.decisionId !== undefined) {
    if (out.action !== "undo") throw new ReviewRequestError(`decisionId is only for undo, not ${out.action}`);
    if (typeof m.decisionId !== "string" || !/^[\w.-]{1,200}$/.test(m.decisionId)) throw new ReviewRequestError("decisionId must be a decision id string");
    out.decisionId = m.decisionId;
  }
  return out;
}

/** Checks that `path` is one of the review's items and resolves inside its dataset root. */
async function checkPath(session: ReviewSession, path: string): Promise<number> {
  if (path.includes("\0")) throw new ReviewRequestError("path contains a NUL character");
  if (isAbsolute(path) || path.startsWith("/") || path.startsWith("\\") || /^[a-zA-Z]:/.test(path)) throw new ReviewRequestError("absolute paths are not allowed");
  if (path.split(/[\\/]/).some((part) => part === ".." || part === "." || part === "")) throw new ReviewRequestError(`path ${JSON.stringify(path)} is not a plain relative path (no "..", "." or empty parts)`);
  const index = session.allowed.get(path);
  if (index === undefined) throw new ReviewRequestError(`${path} is not an image of this review`);
  if (!path.includes("#")) {
    // A file: it must resolve (symlinks followed) inside the dataset root.
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

/** The image's state after the ledger's decisions (replayed over this one image). */
async function currentState(session: ReviewSession, index: number): Promise<ReviewItemState> {
  const d = session.dataset;
  const one = d.subset([index]);
  const { report } = await applyLedger(one, session.ledger);
  const s = report.states[0];
  const original = d.label(index);
  return s ? stateOf(s.originalLabel, s.label, s.excluded) : stateOf(original, original, false);
}

async function perform(session: ReviewSession, req: ReviewRequest): Promise<ReviewReply> {
  let entry: LedgerEntry;
  if (req.action === "undo") {
    let target: { id: string; path: string } | undefined;
    if (req.decisionId) {
      const { entries } = await session.ledger.read();
      const found = entries.find((e) => e.id === req.decisionId);
      if (!found) throw new ReviewRequestError(`no decision ${req.decisionId} in the ledger`);
      target = { id: found.id, path: found.path };
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
    entry = await session.ledger.undo(target.id, { source: "manual" });
    session.undone.add(target.id);
    return { ok: true, requestId: req.requestId, reviewId: session.id, action: "undo", path: target.path, state: await currentState(session, index), ledgerLine: entry };
  }
  const path = req.path!;
  const index = await checkPath(session, path);
  const oldLabel = session.dataset.label(index);
  if (req.action === "relabel") {
    const source = session.suggestions.get(path) === req.label ? "suggestion" : "manual";
    entry = await session.ledger.append({ path, action: "relabel", newLabel: req.label, oldLabel, source });
  } else {
    entry = await session.ledger.append({ path, action: req.action, oldLabel, source: "manual" });
  }
  session.history.push({ id: entry.id, path });
  return { ok: true, requestId: req.requestId, reviewId: session.id, action: req.action, path, state: await currentState(session, index), ledgerLine: entry };
}

/**
 * Handles one message from the review renderer; never throws: every failure is an `{ ok: false,
 * error }` reply. Actions of one review are applied one at a time, in arrival order.
 */
export async function handleReviewMessage(raw: unknown): Promise<ReviewReply> {
  const echo = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const requestId = typeof echo.requestId === "string" || typeof echo.requestId === "number" ? echo.requestId : undefined;
  const path = typeof echo.path === "string" && echo.path.length <= MAX_PATH ? echo.path : undefined;
  let req: ReviewRequest;
  try {
    req = parseReviewRequest(raw);
  } catch (e) {
    return { ok: false, requestId, path, error: (e as Error).message };
  }
  const session = registry.get(req.reviewId);
  if (!session) {
    return { ok: false, requestId, reviewId: req.reviewId, action: req.action, path, error: "This review is not open in the kernel (the kernel was restarted, or the review is too old): run the review cell again." };
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
