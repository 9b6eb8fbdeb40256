/**
 * The messages exchanged between the extension host (extension/kernelClient.ts) and the kernel
 * process (kernel/main.ts). Both sides import this module and nothing else about each other.
 *
 * Transport: Node's child-process IPC channel with `serialization: "advanced"`, so `Uint8Array`
 * payloads (PNG/JPEG bytes) travel without base64.
 */

/** Version of this protocol; the kernel announces it in its `ready` message. */
export const PROTOCOL_VERSION = 1;

/** One MIME representation of an output, e.g. `text/plain` or `application/vnd.fernb.chart+json`. */
export interface OutputItem {
  mime: string;
  /** Text for textual MIME types (text/*, JSON, SVG); bytes for binary ones (PNG, JPEG). */
  data: string | Uint8Array;
}

// ---- extension → kernel -------------------------------------------------------------------------

export interface ExecuteRequest {
  type: "execute";
  /** Unique per request; every reply about this execution carries it. */
  executionId: number;
  /** Label used in error messages and stack traces, e.g. "cell 3". */
  cellLabel: string;
  code: string;
}

export interface InterruptRequest {
  type: "interrupt";
}

export interface ShutdownRequest {
  type: "shutdown";
}

/**
 * A message a notebook renderer posted (ctx.postMessage in the webview), forwarded by the extension
 * (extension/rendererBridge.ts). `message` is untrusted webview input: the kernel's handler for
 * `rendererId` validates it.
 */
export interface RendererMessageRequest {
  type: "renderer-message";
  rendererId: string;
  message: unknown;
}

export type ToKernel = ExecuteRequest | InterruptRequest | ShutdownRequest | RendererMessageRequest;

// ---- kernel → extension -------------------------------------------------------------------------

export interface ReadyMessage {
  type: "ready";
  protocol: number;
  pid: number;
  node: string;
  /** The TensorFlow.js backend the kernel chose, e.g. "wasm: WebAssembly (SIMD, 2 threads)". */
  backend: string;
}

export interface StreamMessage {
  type: "stream";
  executionId: number;
  name: "stdout" | "stderr";
  text: string;
}

export interface DisplayMessage {
  type: "display";
  executionId: number;
  /** Identifies a display; `update: true` replaces that display's items in place. */
  displayId: string;
  update: boolean;
  items: OutputItem[];
}

/** A failure of the cell: a type error, a runtime exception or an interrupt. */
export interface CellError {
  /** "TypeError", "Error", "CompileError", "Interrupted", ... */
  name: string;
  message: string;
  /** Stack with frames of the cell's code mapped to the cell's own line numbers. */
  stack: string;
}

export interface ExecuteResult {
  type: "result";
  executionId: number;
  ok: boolean;
  error?: CellError;
  /** True when the cell stopped because of an interrupt. */
  interrupted?: boolean;
}

/** The kernel's answer to a renderer message, posted back to that renderer by the extension. */
export interface RendererReplyMessage {
  type: "renderer-reply";
  rendererId: string;
  message: unknown;
}

export type FromKernel = ReadyMessage | StreamMessage | DisplayMessage | ExecuteResult | RendererReplyMessage;

// ---- validation -------------------------------------------------------------------------------

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
    default:
      return undefined;
  }
}

// ---- the review renderer's Grad-CAM request (the `message` of a renderer-message / renderer-reply) --
//
// The review grid (extension/renderers/review.ts) asks the kernel (kernel/fer/curation/review.ts)
// for the Grad-CAM of one of its images. The other review actions (relabel, exclude, restore, undo)
// are checked by `parseReviewRequest` in review.ts.

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

export interface ReviewCamFailure {
  ok: false;
  action?: string;
  requestId?: string | number;
  reviewId?: string;
  path?: string;
  error: string;
}

export type ReviewCamReply = ReviewCamResult | ReviewCamFailure;

function isRequestId(value: unknown): value is string | number {
  return (typeof value === "string" && value.length <= 100) || (typeof value === "number" && Number.isFinite(value));
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
  if (typeof value.path !== "string" || value.path.length === 0 || value.path.length > 1024) return "gradcam needs the item's path (a non-empty string)";
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

/** Well-known MIME types of fernb's own renderers. */
export const MIME = {
  chart: "application/vnd.fernb.chart+json",
  review: "application/vnd.fernb.review+json",
  stdout: "application/vnd.code.notebook.stdout",
  stderr: "application/vnd.code.notebook.stderr",
  error: "application/vnd.code.notebook.error",
} as const;
