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
