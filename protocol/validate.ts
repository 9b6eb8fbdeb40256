/**
 * Checks of the messages in kernelMessages.ts and rendererMessages.ts, for the side that receives
 * them: each takes an untrusted value and returns it typed, or `undefined` / a string naming the
 * first problem. Pure functions (no Node or DOM API), so the kernel, the extension and the
 * renderers all run the same checks.
 */
import type { DisplayMessage, ExecuteRequest, ExecuteResult, FromKernel, OutputItem, ReadyMessage, StreamMessage, ToKernel, VariablesMessage } from "./kernelMessages";
import {
  EMBEDDING_MAX_SELECT,
  EMBEDDING_MAX_THUMBS,
  type EmbeddingRequest,
  REVIEW_ACTIONS,
  REVIEW_CAM_MAX_SIDE,
  REVIEW_MAX_PATH,
  type ReviewAction,
  type ReviewCamFailure,
  type ReviewCamReply,
  type ReviewCamRequest,
  type ReviewCamResult,
  type ReviewRequest,
} from "./rendererMessages";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** Renderer ids as package.json declares them, e.g. "fernb-review". */
function isRendererId(value: unknown): value is string {
  return typeof value === "string" && /^[\w.-]{1,100}$/.test(value);
}

function isOutputItem(value: unknown): value is OutputItem {
  return (
    isObject(value) &&
    typeof value.mime === "string" &&
    (typeof value.data === "string" || value.data instanceof Uint8Array)
  );
}

// ---- extension ↔ kernel ---------------------------------------------------------------------------

/** Checks a message received by the kernel; returns it typed, or undefined if it is not one. */
export function parseToKernel(value: unknown): ToKernel | undefined {
  if (!isObject(value)) return undefined;
  switch (value.type) {
    case "execute":
      return typeof value.executionId === "number" &&
        typeof value.code === "string" &&
        typeof value.cellLabel === "string"
        ? (value as unknown as ExecuteRequest)
        : undefined;
    case "interrupt":
    case "shutdown":
      return { type: value.type };
    case "renderer-message":
      return isRendererId(value.rendererId) && "message" in value && value.message !== undefined
        ? { type: "renderer-message", rendererId: value.rendererId, message: value.message }
        : undefined;
    case "inspect":
      return typeof value.requestId === "number" && Number.isFinite(value.requestId) ? { type: "inspect", requestId: value.requestId } : undefined;
    default:
      return undefined;
  }
}

/** Checks a message received by the extension; returns it typed, or undefined if it is not one. */
export function parseFromKernel(value: unknown): FromKernel | undefined {
  if (!isObject(value)) return undefined;
  switch (value.type) {
    case "ready":
      return typeof value.protocol === "number" && typeof value.pid === "number" && typeof value.backend === "string"
        ? (value as unknown as ReadyMessage)
        : undefined;
    case "stream":
      return typeof value.executionId === "number" &&
        (value.name === "stdout" || value.name === "stderr") &&
        typeof value.text === "string"
        ? (value as unknown as StreamMessage)
        : undefined;
    case "display":
      return typeof value.executionId === "number" &&
        typeof value.displayId === "string" &&
        typeof value.update === "boolean" &&
        Array.isArray(value.items) &&
        value.items.every(isOutputItem)
        ? (value as unknown as DisplayMessage)
        : undefined;
    case "result": {
      if (typeof value.executionId !== "number" || typeof value.ok !== "boolean") return undefined;
      const error = value.error;
      if (
        error !== undefined &&
        !(isObject(error) && typeof error.name === "string" && typeof error.message === "string" && typeof error.stack === "string")
      ) {
        return undefined;
      }
      return value as unknown as ExecuteResult;
    }
    case "renderer-reply":
      return isRendererId(value.rendererId) && "message" in value && value.message !== undefined
        ? { type: "renderer-reply", rendererId: value.rendererId, message: value.message }
        : undefined;
    case "variables":
      return typeof value.requestId === "number" && Array.isArray(value.variables) && value.variables.every(isVariableInfo) && (value.memory === undefined || isMemory(value.memory)) && (value.process === undefined || isProcessMemory(value.process))
        ? (value as unknown as VariablesMessage)
        : undefined;
    default:
      return undefined;
  }
}

function isVariableInfo(value: unknown): boolean {
  if (!isObject(value) || typeof value.name !== "string" || typeof value.type !== "string" || typeof value.preview !== "string") return false;
  const t = value.tensor;
  if (t !== undefined && !(isObject(t) && Array.isArray(t.shape) && t.shape.every((d) => typeof d === "number") && typeof t.dtype === "string" && typeof t.bytes === "number")) return false;
  const m = value.model;
  if (m !== undefined && !(isObject(m) && typeof m.parameters === "number" && typeof m.layers === "number" && typeof m.bytes === "number")) return false;
  const ts = value.tensors;
  return ts === undefined || (isObject(ts) && typeof ts.count === "number" && typeof ts.bytes === "number");
}

function isProcessMemory(value: unknown): boolean {
  return isObject(value) && typeof value.rss === "number" && typeof value.heapUsed === "number";
}

function isMemory(value: unknown): boolean {
  return isObject(value) && typeof value.numTensors === "number" && typeof value.numBytes === "number" && typeof value.numDataBuffers === "number";
}

// ---- review renderer ↔ kernel ---------------------------------------------------------------------

function isRequestId(value: unknown): value is string | number {
  return (typeof value === "string" && value.length <= 100) || (typeof value === "number" && Number.isFinite(value));
}

/**
 * Checks a ledger action from the review renderer (untrusted): returns it typed, or a string naming
 * the first problem. `labels` are the classes a relabel may choose. Whether `path` is an item of
 * that review is for the kernel's review registry to check.
 */
export function checkReviewRequest<L extends string>(raw: unknown, labels: readonly L[]): ReviewRequest<L> | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "the message must be an object";
  const m = raw as Record<string, unknown>;
  if (typeof m.reviewId !== "string" || !/^[\w.-]{1,100}$/.test(m.reviewId)) return "reviewId must be a review id string";
  if (typeof m.action !== "string" || !REVIEW_ACTIONS.includes(m.action as ReviewAction)) return `action must be one of ${REVIEW_ACTIONS.join(", ")}`;
  const out: ReviewRequest<L> = { reviewId: m.reviewId, action: m.action as ReviewAction };
  if (m.requestId !== undefined) {
    if (!isRequestId(m.requestId)) return "requestId must be a short string or a number";
    out.requestId = m.requestId;
  }
  if (m.path !== undefined) {
    if (typeof m.path !== "string" || m.path.length === 0 || m.path.length > REVIEW_MAX_PATH) return "path must be a non-empty string";
    out.path = m.path;
  } else if (out.action !== "undo") return `${out.action} needs a path`;
  if (out.action === "relabel") {
    if (typeof m.label !== "string" || !(labels as readonly string[]).includes(m.label)) return `label must be one of ${labels.join(", ")}`;
    out.label = m.label as L;
  } else if (m.label !== undefined) return `label is only for relabel, not ${out.action}`;
  if (m.decisionId !== undefined) {
    if (out.action !== "undo") return `decisionId is only for undo, not ${out.action}`;
    if (typeof m.decisionId !== "string" || !/^[\w.-]{1,200}$/.test(m.decisionId)) return "decisionId must be a decision id string";
    out.decisionId = m.decisionId;
  }
  return out;
}

/**
 * Checks a Grad-CAM request from the webview (untrusted): returns it typed, or a string naming the
 * first problem. Whether `path` is an item of that review, and `class` one of its classes, is for
 * the kernel's review registry to check.
 */
export function parseReviewCamRequest(value: unknown): ReviewCamRequest | string {
  if (!isObject(value) || Array.isArray(value)) return "the message must be an object";
  if (value.action !== "gradcam") return 'action must be "gradcam"';
  if (typeof value.reviewId !== "string" || !/^[\w.-]{1,100}$/.test(value.reviewId)) return "reviewId must be a review id string";
  if (value.requestId !== undefined && !isRequestId(value.requestId)) return "requestId must be a short string or a number";
  if (typeof value.path !== "string" || value.path.length === 0 || value.path.length > REVIEW_MAX_PATH) return "gradcam needs the item's path (a non-empty string)";
  if (value.class !== undefined && (typeof value.class !== "string" || !/^[\w-]{1,64}$/.test(value.class))) return "class must be a class name";
  for (const key of Object.keys(value)) {
    if (!["action", "reviewId", "requestId", "path", "class"].includes(key)) return `unexpected field ${JSON.stringify(key.slice(0, 40))} in a gradcam request`;
  }
  const out: ReviewCamRequest = { action: "gradcam", reviewId: value.reviewId, path: value.path };
  if (value.requestId !== undefined) out.requestId = value.requestId as string | number;
  if (value.class !== undefined) out.class = value.class as string;
  return out;
}

/**
 * Checks the kernel's answer to a Grad-CAM request (the renderer does, before drawing it): returns
 * it typed, or a string naming the first problem. Heat maps are at most REVIEW_CAM_MAX_SIDE on a
 * side, with finite values in [0,1].
 */
export function parseReviewCamReply(value: unknown): ReviewCamReply | string {
  if (!isObject(value) || Array.isArray(value)) return "the reply must be an object";
  if (value.requestId !== undefined && !isRequestId(value.requestId)) return "requestId must be a short string or a number";
  if (value.ok === false) {
    if (typeof value.error !== "string") return "a failed reply needs an error message";
    const out: ReviewCamFailure = { ok: false, error: value.error };
    if (value.requestId !== undefined) out.requestId = value.requestId as string | number;
    for (const k of ["action", "reviewId", "path"] as const) if (typeof value[k] === "string") out[k] = value[k] as string;
    return out;
  }
  if (value.ok !== true) return "ok must be true or false";
  if (value.action !== "gradcam") return 'action must be "gradcam"';
  for (const k of ["reviewId", "path", "class", "predicted", "method", "layer"] as const) {
    if (typeof value[k] !== "string") return `${k} must be a string`;
  }
  for (const k of ["p", "pPredicted"] as const) {
    const v = value[k];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) return `${k} must be a probability`;
  }
  const { width, height, cam } = value;
  const side = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= REVIEW_CAM_MAX_SIDE;
  if (!side(width) || !side(height)) return `width and height must be integers from 1 to ${REVIEW_CAM_MAX_SIDE}`;
  if (!Array.isArray(cam) || cam.length !== height) return `cam must have height (${String(height)}) rows`;
  for (let y = 0; y < cam.length; y++) {
    const row: unknown = cam[y];
    if (!Array.isArray(row) || row.length !== width) return `cam[${y}] must have width (${String(width)}) values`;
    for (const v of row) if (typeof v !== "number" || !(v >= 0 && v <= 1)) return `cam[${y}] has a value outside [0,1]`;
  }
  return value as unknown as ReviewCamResult;
}

// ---- embedding map ↔ kernel -----------------------------------------------------------------------

/**
 * Checks a "select" or "thumb" request from the embedding map (untrusted): returns it typed, or a
 * string naming the first problem. Ids must be whole numbers, each at most once, at most
 * EMBEDDING_MAX_SELECT (select) or EMBEDDING_MAX_THUMBS (thumb) of them, and below `size` when it is
 * given (the map's number of points: the kernel checks them against the map the request names).
 */
export function parseEmbeddingRequest(value: unknown, size?: number): EmbeddingRequest | string {
  if (!isObject(value) || Array.isArray(value)) return "the message must be an object";
  if (value.action !== "select" && value.action !== "thumb") return 'action must be "select" or "thumb"';
  if (typeof value.mapId !== "string" || !/^[\w.-]{1,100}$/.test(value.mapId)) return "mapId must be a map id string";
  if (value.requestId !== undefined && !isRequestId(value.requestId)) return "requestId must be a short string or a number";
  for (const key of Object.keys(value)) {
    if (!["action", "mapId", "requestId", "ids"].includes(key)) return `unexpected field ${JSON.stringify(key.slice(0, 40))} in a ${value.action} request`;
  }
  const max = value.action === "select" ? EMBEDDING_MAX_SELECT : EMBEDDING_MAX_THUMBS;
  const ids = value.ids;
  if (!Array.isArray(ids) || ids.length === 0) return "ids must be a non-empty array of point ids";
  if (ids.length > max) return `at most ${max} points per ${value.action} request (got ${ids.length})`;
  const seen = new Set<number>();
  for (const id of ids) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) return `ids must be point ids (whole numbers from 0), not ${JSON.stringify(id)?.slice(0, 40)}`;
    if (size !== undefined && id >= size) return `point ${id} is not on this map (its points are 0 to ${size - 1})`;
    if (seen.has(id)) return `point ${id} is named twice`;
    seen.add(id);
  }
  const out: EmbeddingRequest = { action: value.action, mapId: value.mapId, ids: ids as number[] };
  if (value.requestId !== undefined) out.requestId = value.requestId as string | number;
  return out;
}
