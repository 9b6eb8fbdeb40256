/**
 * The messages exchanged between the extension host (extension/kernelClient.ts) and the kernel
 * process (kernel/main.ts); both sides import this module and nothing else about each other.
 * Checked on arrival by parseToKernel / parseFromKernel (validate.ts).
 *
 * Transport: Node's child-process IPC channel with `serialization: "advanced"`, so `Uint8Array`
 * payloads (PNG/JPEG bytes) travel without base64.
 */

/** Version of this protocol; the kernel announces it in its `ready` message. */
export const PROTOCOL_VERSION = 1;

/** One MIME representation of an output, e.g. `text/plain` or `application/vnd.fernb.chart+json` (mime.ts). */
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
 * `rendererId` validates it (rendererMessages.ts).
 */
export interface RendererMessageRequest {
  type: "renderer-message";
  rendererId: string;
  message: unknown;
}

/**
 * Asks for the kernel's top-level variables and TensorFlow.js memory (the variables view); answered
 * by a `variables` message with the same requestId, between two awaits of a running cell too.
 */
export interface InspectRequest {
  type: "inspect";
  requestId: number;
}

export type ToKernel = ExecuteRequest | InterruptRequest | ShutdownRequest | RendererMessageRequest | InspectRequest;

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

/** A tensor's shape, dtype and memory (bytes of its values). */
export interface TensorInfo {
  shape: number[];
  dtype: string;
  bytes: number;
  /** True for a tensor already disposed (its memory is freed; using it throws). */
  disposed?: boolean;
}

/** One top-level name of the kernel (a variable, function, class or import of a cell). */
export interface VariableInfo {
  name: string;
  /** The value's type as the kernel sees it at run time: "number", "string", "Tensor", "LayersModel", "FaceDataset", "Array", "function", … */
  type: string;
  /** A one-line preview of the value ("0.5", "'happy'", "Array(3) [1, 2, 3]"), at most about 120 characters. */
  preview: string;
  tensor?: TensorInfo;
  /** A TensorFlow.js model: its parameters, layers and the memory of its weights. */
  model?: { parameters: number; layers: number; bytes: number };
  /** Tensors held directly in an array or a plain object (e.g. `[x, y]`): how many and their memory. */
  tensors?: { count: number; bytes: number };
}

/** The kernel's answer to an InspectRequest. */
export interface VariablesMessage {
  type: "variables";
  requestId: number;
  /** In declaration order. */
  variables: VariableInfo[];
  /** tf.memory(): every tensor the kernel holds, named or not (a growing count is a leak). */
  memory?: { numTensors: number; numBytes: number; numDataBuffers: number };
  /** The kernel process's memory (process.memoryUsage()): resident set and JavaScript heap, in bytes. */
  process?: { rss: number; heapUsed: number };
}

export type FromKernel = ReadyMessage | StreamMessage | DisplayMessage | ExecuteResult | RendererReplyMessage | VariablesMessage;
