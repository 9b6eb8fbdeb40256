/**
 * The messages between the review renderer (extension/renderers/review.ts, in the webview) and the
 * kernel (kernel/fer/curation/review.ts). They travel as the `message` of a renderer-message /
 * renderer-reply (kernelMessages.ts), carried by the extension (extension/rendererBridge.ts) under
 * the renderer id RENDERER_ID.review (mime.ts).
 *
 *   webview → kernel   ReviewRequest (relabel, exclude, restore, undo) or ReviewCamRequest (gradcam)
 *   kernel → webview   ReviewReply or ReviewCamReply, echoing requestId, reviewId, action and path
 *
 * Requests are untrusted webview input: the kernel checks them (checkReviewRequest,
 * parseReviewCamRequest in validate.ts); the renderer checks a Grad-CAM reply before drawing it
 * (parseReviewCamReply).
 */
import type { ReviewItemState } from "./payloads";

// ---- ledger actions: relabel, exclude, restore, undo --------------------------------------------

export type ReviewAction = "relabel" | "exclude" | "restore" | "undo";

export const REVIEW_ACTIONS: readonly ReviewAction[] = ["relabel", "exclude", "restore", "undo"];

/** Longest item path a request may name. */
export const REVIEW_MAX_PATH = 1024;

/** renderer → kernel: one decision about one of the review's items. */
export type ReviewRequest<L extends string = string> = {
  reviewId: string;
  action: ReviewAction;
  /** Echoed in the reply, so the renderer can match it. */
  requestId?: string | number;
  /** The item's id in that review (its path relative to the dataset root); optional for undo. */
  path?: string;
  /** relabel: one of the review's classes. */
  label?: L;
  /** undo: the decision to cancel (default: the review's last decision, or its last one on `path`). */
  decisionId?: string;
};

/** kernel → renderer: the decision was recorded; the item's state after it, and the ledger line written. */
export type ReviewDone<L extends string = string, Line = unknown> = {
  ok: true;
  requestId?: string | number;
  reviewId: string;
  action: ReviewAction;
  path: string;
  state: ReviewItemState<L>;
  ledgerLine: Line;
};

/** kernel → renderer (or the extension, when no kernel is running): the action failed, and why. */
export type ReviewFailure = {
  ok: false;
  requestId?: string | number;
  reviewId?: string;
  action?: string;
  path?: string;
  error: string;
};

export type ReviewReply<L extends string = string, Line = unknown> = ReviewDone<L, Line> | ReviewFailure;

// ---- Grad-CAM of one review item -----------------------------------------------------------------

/** Largest side of a heat map the kernel sends back (larger images are box-filtered down to it). */
export const REVIEW_CAM_MAX_SIDE = 64;

/** renderer → kernel: the Grad-CAM of one review item, for `class` (default: the model's predicted class). */
export interface ReviewCamRequest {
  action: "gradcam";
  reviewId: string;
  /** Echoed in the reply, so the renderer can match it. */
  requestId?: string | number;
  /** The item's id in that review: its path relative to the dataset root, as the payload gave it. */
  path: string;
  /** A class name (one of the review's classes); default the model's predicted class. */
  class?: string;
}

/** kernel → renderer: the heat map, `height` rows of `width` values in [0,1] (high = important). */
export interface ReviewCamResult {
  ok: true;
  action: "gradcam";
  requestId?: string | number;
  reviewId: string;
  path: string;
  /** The class explained. */
  class: string;
  /** The model's predicted class for this image, and the probability of each of the two. */
  predicted: string;
  p: number;
  pPredicted: number;
  method: string;
  layer: string;
  width: number;
  height: number;
  cam: number[][];
}

export type ReviewCamFailure = ReviewFailure;

export type ReviewCamReply = ReviewCamResult | ReviewCamFailure;

// ---- embedding map ↔ kernel ----------------------------------------------------------------------
//
// The embedding map (extension/renderers/embedding.ts, renderer id RENDERER_ID.embedding) asks for
// faces to show on hover ("thumb") and opens a selection of points in the review grid ("select"):
// the kernel answers a selection with a review payload of exactly those faces, which the map shows
// with the review renderer's own module. That grid's decisions (ReviewRequest, ReviewCamRequest)
// are sent on the map's channel and handled by the same validated code as the review grid's.
// Points are named by their id on that map (0..n−1), never by a path.

/** Most points one "select" may name (the review grid's item cap). */
export const EMBEDDING_MAX_SELECT = 300;
/** Most faces one "thumb" request may ask for. */
export const EMBEDDING_MAX_THUMBS = 64;

/** renderer → kernel: open these points of the map in a review grid, or send their faces. */
export interface EmbeddingRequest {
  action: "select" | "thumb";
  mapId: string;
  /** Echoed in the reply, so the renderer can match it. */
  requestId?: string | number;
  /** Point ids on that map (0..n−1), no repeats. */
  ids: number[];
}

/** kernel → renderer: the faces of a "thumb" request (48×48 PNG data URLs) with their paths. */
export interface EmbeddingThumbResult {
  ok: true;
  action: "thumb";
  requestId?: string | number;
  mapId: string;
  thumbs: { id: number; path: string; thumb: string }[];
}

/** kernel → renderer: a review grid of the selected points (drawn by the review renderer's module). */
export interface EmbeddingSelectResult<Review = unknown> {
  ok: true;
  action: "select";
  requestId?: string | number;
  mapId: string;
  review: Review;
  /** Each review item's point id on the map, by the item's path (so the map can follow its decisions). */
  ids: Record<string, number>;
}

export interface EmbeddingFailure {
  ok: false;
  requestId?: string | number;
  mapId?: string;
  action?: string;
  error: string;
}

export type EmbeddingReply<Review = unknown> = EmbeddingThumbResult | EmbeddingSelectResult<Review> | EmbeddingFailure;
