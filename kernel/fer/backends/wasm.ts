/**
 * TensorFlow.js wasm backend for fernb: loads the multi-threaded SIMD build in Node when
 * possible, registers fernb's training kernels, and makes `wasm` the active backend.
 *
 *   const { threads, simd } = await initWasmBackend({ threads: 2 });
 *
 * Why the loader exists: @tensorflow/tfjs-backend-wasm disables threads in Node
 * (WASM_HAS_MULTITHREAD_SUPPORT is false there), and its threaded path could not work in
 * Node anyway — it hands Emscripten's pthread workers Blob URLs, which Node's
 * worker_threads cannot load, and XNNPACK's pool is capped at half the reported cores. This
 * module instantiates the package's own threaded-SIMD Emscripten build directly
 * (wasm-out/tfjs-backend-wasm-threaded-simd.js + dist/tfjs-backend-wasm-threaded-simd.wasm),
 * starts its workers from source with `eval: true` (no Blob URLs, no temp files, without
 * the parent's --import/--require hooks), lets the pool use the requested thread count,
 * and wraps the module in the package's BackendWasm class, so every shipped wasm kernel
 * works unchanged. Without SharedArrayBuffer/worker_threads, or if any of this fails, it
 * falls back to the package's own single-threaded SIMD backend and says why.
 *
 * Training kernels: see ./wasmKernels.ts (Conv2DBackpropFilter, which wasm lacks, and faster
 * or correct replacements of Conv2DBackpropInput, MaxPoolGrad, Tile, Identity and Cast).
 */
import * as tf from "@tensorflow/tfjs";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";
import * as os from "node:os";
import * as path from "node:path";
import { registerWasmKernels } from "./wasmKernels";
import { type NativeKernelStatus, registerNativeKernels } from "./wasmNative";

export { registerWasmKernels, unregisterWasmKernels, WASM_KERNEL_CONFIGS } from "./wasmKernels";

export interface WasmInitOptions {
  /**
   * Threads for XNNPACK's pool (the calling thread counts as one). Default: the
   * FERNB_WASM_THREADS environment variable, else the number of CPU cores (at most 8, the
   * size of the Emscripten worker pool). 1 loads the single-threaded SIMD build.
   */
  threads?: number;
  /** Register fernb's custom training kernels (default true). */
  kernels?: boolean;
}

export interface WasmInitResult {
  /** Threads XNNPACK actually uses. */
  threads: number;
  /** Whether the SIMD build is loaded. */
  simd: boolean;
  /** Why fewer threads than requested are used, when that is the case. */
  reason?: string;
  /** The native (OpenBLAS) convolution kernels: their library, or why they are not used. */
  native?: NativeKernelStatus;
}

const BACKEND = "wasm";
const PRIORITY = 3; // above the package's own registration (2)
const MAX_THREADS = 8; // the threaded build pre-spawns 8 pthread workers
const LOAD_TIMEOUT_MS = 30_000;
const WORKER_SENTINEL = "fernb-tfjs-wasm-threaded-simd.worker.js";

let initPromise: Promise<WasmInitResult> | null = null;

/**
 * Loads the wasm backend (threaded SIMD when possible), registers fernb's kernels and sets
 * `wasm` as the tfjs backend. Idempotent: later calls return the first call's result (the
 * thread count of a loaded wasm module cannot change).
 */
export async function initWasmBackend(options: WasmInitOptions = {}): Promise<WasmInitResult> {
  if (!initPromise) {
    initPromise = doInit(options).catch((e) => {
      initPromise = null;
      throw e;
    });
  }
  const result = await initPromise;
  if (options.kernels !== false) {
    registerWasmKernels();
    result.native = registerNativeKernels(result.threads);
  }
  if (tf.getBackend() !== BACKEND) await activate();
  return result;
}

function requestedThreads(options: WasmInitOptions): number {
  const env = Number(process.env.FERNB_WASM_THREADS);
  let n = options.threads ?? (Number.isFinite(env) && env > 0 ? env : 0);
  if (!n) n = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(MAX_THREADS, Math.floor(n)));
}

async function activate(): Promise<void> {
  if (!(await tf.setBackend(BACKEND))) throw new Error("fernb: could not initialise the tfjs wasm backend");
  await tf.ready();
}

async function simdSupported(): Promise<boolean> {
  // Registered by @tensorflow/tfjs-backend-wasm (WebAssembly.validate of a SIMD probe).
  return Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
}

async function doInit(options: WasmInitOptions): Promise<WasmInitResult> {
  const wanted = requestedThreads(options);
  const existing = tf.findBackend(BACKEND) as tfwasm.BackendWasm | null;
  if (existing) {
    // Someone initialised wasm already: keep it (its tensors live in that module).
    await activate();
    return {
      threads: tfwasm.getThreadsCount(),
      simd: await simdSupported(),
      reason: "the wasm backend had already been initialised before initWasmBackend; its thread count was kept",
    };
  }
  let reason: string | undefined;
  if (wanted > 1) {
    // The package's own registration (single-threaded in Node), restored if ours fails.
    const packaged = tf.engine().registryFactory[BACKEND];
    try {
      const module = await loadThreadedModule(wanted);
      tfwasm.setThreadsCount(wanted);
      tf.removeBackend(BACKEND);
      tf.registerBackend(BACKEND, () => new tfwasm.BackendWasm(module as never), PRIORITY);
      await activate();
      // XNNPACK's pool threads run for the module's lifetime, and Emscripten ref()s the
      // worker of every running pthread: unref them so they do not keep Node alive.
      for (const w of module.PThread?.runningWorkers ?? []) (w as { unref?: () => void }).unref?.();
      const threads = tfwasm.getThreadsCount();
      return { threads, simd: true, reason: threads < wanted ? `XNNPACK created ${threads} of ${wanted} threads` : undefined };
    } catch (e) {
      reason = `threaded SIMD wasm unavailable (${e instanceof Error ? e.message : String(e)}); using single-threaded SIMD`;
      if (packaged && tf.engine().registryFactory[BACKEND] !== packaged) {
        if (tf.engine().registryFactory[BACKEND]) tf.removeBackend(BACKEND);
        tf.registerBackend(BACKEND, packaged.factory, packaged.priority);
      }
      if (!tf.engine().registryFactory[BACKEND]) throw new Error(`fernb: ${reason}, but no wasm backend is registered`);
    }
  }
  // The package's own loader: single-threaded in Node, SIMD when the engine has it.
  tfwasm.setThreadsCount(1);
  await activate();
  return { threads: tfwasm.getThreadsCount(), simd: await simdSupported(), reason };
}

interface EmscriptenModule {
  cwrap: (name: string, ret: string | null, args: string[]) => (...a: unknown[]) => unknown;
  /** The module's WebAssembly.Memory (only its buffer is read; kernel code is type-checked without the DOM library, which declares WebAssembly). */
  wasmMemory?: { readonly buffer: ArrayBufferLike };
  HEAPU8: Uint8Array;
  PThread?: { unusedWorkers: unknown[]; runningWorkers: unknown[] };
  tfjs?: Record<string, unknown>;
}

/** Instantiates the package's threaded-SIMD Emscripten module with `threads` XNNPACK threads. */
async function loadThreadedModule(threads: number): Promise<EmscriptenModule> {
  if (typeof SharedArrayBuffer === "undefined") throw new Error("SharedArrayBuffer is not available");
  if (!(await simdSupported())) throw new Error("WebAssembly SIMD is not supported");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const req: NodeRequire =
    typeof require === "function"
      ? require
      : (await import("node:module")).createRequire(
          typeof __filename === "string" ? __filename : path.join(process.cwd(), "fernb-wasm-loader.js"),
        );
  const distDir = path.dirname(req.resolve("@tensorflow/tfjs-backend-wasm"));
  const outDir = path.join(distDir, "..", "wasm-out");
  const factoryPath = path.join(outDir, "tfjs-backend-wasm-threaded-simd.js");
  const wasmPath = path.join(distDir, "tfjs-backend-wasm-threaded-simd.wasm");
  const factory = req(factoryPath) as (cfg: object) => Promise<EmscriptenModule>;
  // The worker script ships as a JS string meant for a Blob; its "\n" escapes were
  // unescaped by the template literal, so re-escape them (as the package does).
  const workerSource = String(req(path.join(outDir, "tfjs-backend-wasm-threaded-simd.worker.js")).wasmWorkerContents)
    .replace(/\n/g, "\\n");

  // Emscripten creates its pthread workers with `new Worker(locateFile(...))` using the
  // worker_threads Worker it finds when the factory runs (and stores it as global.Worker).
  const wt = req("node:worker_threads") as typeof import("node:worker_threads");
  const NodeWorker = wt.Worker;
  class PthreadWorker extends NodeWorker {
    constructor(file: string | URL, opts: import("node:worker_threads").WorkerOptions = {}) {
      if (file === WORKER_SENTINEL) super(workerSource, { ...opts, eval: true, execArgv: [] });
      else super(file, opts);
    }
  }
  // XNNPACK caps its pool at (reported cores / 2) — "2 hyper-threads per core" — computed
  // when the module's constructors run; report enough cores for the requested count.
  const osMod = req("node:os") as typeof os;
  const realCpus = osMod.cpus;
  const cpus = realCpus();
  (osMod as { cpus: typeof os.cpus }).cpus = () =>
    Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i % Math.max(1, cpus.length)]);
  (wt as { Worker: typeof NodeWorker }).Worker = PthreadWorker;
  let timer: NodeJS.Timeout | undefined;
  try {
    let pending: Promise<EmscriptenModule>;
    try {
      pending = factory({
        locateFile: (p: string, prefix: string) =>
          p.endsWith(".worker.js") ? WORKER_SENTINEL : p.endsWith(".wasm") ? wasmPath : prefix + p,
        // Workers importScripts() this file (a real path: Node cannot load Blob URLs).
        mainScriptUrlOrBlob: factoryPath,
        print: () => {},
      });
    } finally {
      (wt as { Worker: typeof NodeWorker }).Worker = NodeWorker;
    }
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`loading timed out after ${LOAD_TIMEOUT_MS} ms`)), LOAD_TIMEOUT_MS);
      timer.unref();
    });
    const module = await Promise.race([pending, timeout]);
    wrapModule(module);
    return module;
  } finally {
    if (timer) clearTimeout(timer);
    (osMod as { cpus: typeof os.cpus }).cpus = realCpus;
  }
}

/** Adds what BackendWasm expects (the `tfjs` C API) and keeps HEAPU8 fresh. */
function wrapModule(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, []),
  };
  // With shared memory, a pthread may grow the heap; Emscripten only refreshes Module.HEAPU8
  // on the thread that grew it. BackendWasm reads Module.HEAPU8, so re-derive it when stale.
  const memory = module.wasmMemory;
  if (memory) {
    let view = module.HEAPU8;
    Object.defineProperty(module, "HEAPU8", {
      configurable: true,
      enumerable: true,
      get: () => {
        if (view.buffer !== memory.buffer) view = new Uint8Array(memory.buffer);
        return view;
      },
      set: (v: Uint8Array) => {
        view = v;
      },
    });
  }
}
