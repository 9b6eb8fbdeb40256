/**
 * The kernel process: one per open notebook, started by the extension with Node's `fork`. It
 * receives cells over the IPC channel, runs them with CellExecutor, and streams stdout/stderr,
 * displays and results back as they happen.
 */
import { createDisplay, DISPLAY_DECLARATIONS, DISPLAY_HANDLE, itemsForValue } from "./display";
import { checkMessageShape, describeMalformedMessage, RENDERER_MESSAGE_LIMITS } from "../protocol/messageShape";
import { CellExecutor, InterruptedError } from "./executor";
import { createKernelApi, KERNEL_DECLARATIONS } from "./kernelApi";
import { controlFdFromEnv, startWatchdog } from "./watchdog";
import * as path from "node:path";
import * as fer from "./fer/index";
import { attachNotebook } from "./fer/progress";
import { handleReviewRendererMessage } from "./fer/curation/review";
import { handleEmbeddingRendererMessage } from "./fer/curation/embeddingMap";
import { describeVariables } from "./inspect";
import { parseToKernel, PROTOCOL_VERSION, RENDERER_ID, type ExecuteRequest, type FromKernel, type RendererMessageRequest } from "../protocol";

if (!process.send) {
  process.stderr.write("The fernb kernel must be started by the fernb extension or `fernb run` (it needs an IPC channel).\n");
  process.exit(2);
}

function send(message: FromKernel): void {
  if (process.connected) process.send!(message);
}

/** The execution that output belongs to: the running cell, or the last one for late output. */
let currentExecution = 0;

/**
 * The cell whose code writes: code keeps the cell it came from after its awaits, in its timers
 * and callbacks (AsyncLocalStorage), so output of an earlier cell's leftover code is never shown
 * in a later cell. Kernel code outside any cell writes to the current one.
 */
function outputExecution(): number {
  return executor?.callerExecutionId ?? currentExecution;
}

function captureStream(stream: NodeJS.WriteStream, name: "stdout" | "stderr"): void {
  const decoder = new TextDecoder();
  stream.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
    const text = typeof chunk === "string" ? chunk : decoder.decode(chunk);
    send({ type: "stream", executionId: outputExecution(), name, text });
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof done === "function") process.nextTick(done as () => void);
    return true;
  }) as typeof stream.write;
}
captureStream(process.stdout, "stdout");
captureStream(process.stderr, "stderr");

const display = createDisplay((displayId, update, items) =>
  send({ type: "display", executionId: outputExecution(), displayId, update, items }),
);
let executor: CellExecutor | undefined;
const kernel = createKernelApi(() => executor?.signal);
executor = new CellExecutor({
  rootDir: process.cwd(),
  preludeDeclarations: DISPLAY_DECLARATIONS + KERNEL_DECLARATIONS,
  preludeValues: { display, kernel },
  // dist/kernel.js → dist/fernb-types (built by esbuild.mjs).
  builtinModules: { fernb: { value: fer, typesDir: path.join(__dirname, "fernb-types") } },
});
attachNotebook(display, () => executor?.signal);

// Errors from code still running after its cell ended must not kill the kernel and its state.
// An interruption that ends leftover code of an interrupted cell (a timer's loop) is no error.
const onUncaughtException = (e: unknown) => {
  if (e instanceof InterruptedError) return;
  process.stderr.write(`Uncaught exception from background code:\n${executor!.runtimeError(e).stack}\n`);
};
const onUnhandledRejection = (e: unknown) => {
  if (e instanceof InterruptedError) return;
  process.stderr.write(`Unhandled promise rejection from background code:\n${executor!.runtimeError(e).stack || String(e)}\n`);
};
process.on("uncaughtException", onUncaughtException);
process.on("unhandledRejection", onUnhandledRejection);

/**
 * Emscripten modules (the wasm backend) install handlers that rethrow, which would kill the kernel,
 * and their clean-up can remove ours: afterwards exactly our handlers remain.
 */
function keepOnlyOurErrorHandlers(): void {
  process.removeAllListeners("uncaughtException");
  process.removeAllListeners("unhandledRejection");
  process.on("uncaughtException", onUncaughtException);
  process.on("unhandledRejection", onUnhandledRejection);
}
// SIGINT serves only to break the synchronous start of a cell (vm breakOnSigint). Otherwise it is
// ignored: the interrupt itself arrives with its execution id (control pipe, IPC), so a late
// signal cannot stop the next cell. Ctrl-C in a terminal running `fernb run` reaches the kernel too;
// the watchdog then stops it when the CLI is gone.
process.on("SIGINT", () => undefined);
process.on("disconnect", () => process.exit(0));
// Interrupts while the main thread is busy in a cell, and the end of the kernel with its client.
startWatchdog({
  interruptRequests: executor.interruptRequests,
  controlFd: controlFdFromEnv(),
  onInterrupt: (executionId) => executor!.interrupt(executionId),
  onParentGone: () => process.exit(0),
});

const queue: ExecuteRequest[] = [];
let running = false;

async function drain(): Promise<void> {
  if (running) return;
  running = true;
  while (queue.length > 0) {
    const request = queue.shift()!;
    currentExecution = request.executionId;
    const outcome = await executor!.execute(request.code, request.cellLabel, request.executionId);
    const isHandle = typeof outcome.value === "object" && outcome.value !== null && DISPLAY_HANDLE in outcome.value;
    if (outcome.hasValue && !isHandle) {
      send({ type: "display", executionId: request.executionId, displayId: `result-${request.executionId}`, update: false, items: itemsForValue(outcome.value) });
    }
    send({ type: "result", executionId: request.executionId, ok: outcome.ok, error: outcome.error, interrupted: outcome.interrupted });
  }
  running = false;
}

/** Answers a renderer's message (untrusted webview input; the handler validates it). */
async function onRendererMessage(request: RendererMessageRequest): Promise<void> {
  let reply: unknown;
  // Bounded before any handler walks it (the bridge checks too; this process trusts no sender).
  const problem = checkMessageShape(request.message, RENDERER_MESSAGE_LIMITS);
  if (problem !== undefined) {
    const m = request.message as Record<string, unknown> | null;
    const requestId = typeof m === "object" && m !== null && (typeof m.requestId === "string" || typeof m.requestId === "number") ? m.requestId : undefined;
    send({ type: "renderer-reply", rendererId: request.rendererId, message: { ok: false, requestId, error: `The message was refused: ${problem}.` } });
    return;
  }
  try {
    reply =
      request.rendererId === RENDERER_ID.review
        ? await handleReviewRendererMessage(request.message)
        : request.rendererId === RENDERER_ID.embedding
          ? await handleEmbeddingRendererMessage(request.message)
          : { ok: false, error: `the kernel has no handler for renderer ${request.rendererId}` };
  } catch (e) {
    reply = { ok: false, error: (e as Error)?.message ?? String(e) };
  }
  send({ type: "renderer-reply", rendererId: request.rendererId, message: reply });
}

process.on("message", (raw) => {
  const message = parseToKernel(raw);
  if (!message) {
    // Described without walking it: a message too deep, circular or holding a BigInt must not throw here.
    process.stderr.write(`fernb kernel: ignored a malformed message: ${describeMalformedMessage(raw)}\n`);
    return;
  }
  switch (message.type) {
    case "execute":
      queue.push(message);
      void drain();
      break;
    case "renderer-message":
      void onRendererMessage(message);
      break;
    case "inspect":
      // The variables view: answered between two awaits of a running cell too.
      send({ type: "variables", requestId: message.requestId, ...describeVariables(executor!.variables, ["display", "kernel"], () => fer.tf.memory()) });
      break;
    case "interrupt":
      // Cells queued behind the running one do not start; each ends as interrupted.
      for (const dropped of queue.splice(0)) {
        send({ type: "result", executionId: dropped.executionId, ok: false, interrupted: true, error: { name: "Interrupted", message: "The cell was interrupted before it started.", stack: "" } });
      }
      executor!.interrupt();
      break;
    case "shutdown":
      executor!.close();
      process.exit(0);
  }
});

// Pick the TensorFlow.js backend before the first cell, so every tensor lives on it.
fer.initBackend().then(
  (info) => {
    keepOnlyOurErrorHandlers();
    send({ type: "ready", protocol: PROTOCOL_VERSION, pid: process.pid, node: process.version, backend: `${info.choice}: ${info.description}` });
  },
  (e: Error) => {
    keepOnlyOurErrorHandlers();
    process.stderr.write(`fernb kernel: ${e.message}\n`);
    send({ type: "ready", protocol: PROTOCOL_VERSION, pid: process.pid, node: process.version, backend: "none (see the kernel log)" });
  },
);
