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

/** Well-known MIME types of fernb's own renderers. */
export const MIME = {
  chart: "application/vnd.fernb.chart+json",
  review: "application/vnd.fernb.review+json",
  stdout: "application/vnd.code.notebook.stdout",
  stderr: "application/vnd.code.notebook.stderr",
  error: "application/vnd.code.notebook.error",
} as const;
