/**
 * Picks the TensorFlow.js backend: the first rung of the ladder that loads wins.
 *
 *   tfjs-node-gpu (CUDA) → webgpu (Dawn, hardware adapter) → tfjs-node (native CPU)
 *     → wasm (SIMD, threads) → cpu (pure JS)
 *
 * tfjs-node and tfjs-node-gpu are optional dependencies: their install downloads libtensorflow,
 * which fails without internet, and then they are simply skipped. The webgpu rung needs the
 * optional `webgpu` (Dawn for Node, prebuilt) and `@tensorflow/tfjs-backend-webgpu` packages and
 * a hardware GPU adapter (Vulkan, Metal or D3D12): the ladder never picks a software adapter
 * (Mesa llvmpipe/lavapipe, SwiftShader, WARP; see ./backends/webgpu.ts). `FERNB_BACKEND` (or the
 * `prefer` option) forces one rung; forced, webgpu also accepts a software adapter (tests).
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import * as path from "node:path";

export type BackendChoice = "tensorflow-gpu" | "webgpu" | "tensorflow" | "wasm" | "cpu";
export const BACKEND_LADDER: readonly BackendChoice[] = ["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"];

export interface BackendInfo {
  /** The rung that is active. */
  choice: BackendChoice;
  /** tfjs's backend name ("tensorflow", "webgpu", "wasm", "cpu"). */
  tfBackend: string;
  /** Human description for the notebook, e.g. "wasm (SIMD, 2 threads)" or "WebGPU (Dawn) on …". */
  description: string;
  /** CPU threads the backend computes with, where it says (wasm). */
  threads?: number;
  /** The GPU adapter (webgpu): vendor, architecture, device and description from adapter.info. */
  adapter?: { vendor: string; architecture: string; device: string; description: string; software: boolean };
  /** Why each earlier rung was skipped. */
  skipped: { choice: BackendChoice; reason: string }[];
  /** Something the user should act on, e.g. the native kernels (the fast CPU path) are missing. */
  notice?: string;
}

let active: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

let rungThreads: number | undefined;
let rungAdapter: BackendInfo["adapter"];
let rungNotice: string | undefined;

/** The one command that installs the fast path (a C compiler + OpenBLAS, then the addon build). */
export const FAST_PATH_COMMAND = "bash kernel/fer/backends/native/setup.sh && npm run build";

/**
 * Said wherever the backend is shown (training cell, CLI, status bar) when the wasm rung runs
 * without the native OpenBLAS kernels: training is then about 3× slower, and the user should know
 * why and how to fix it. FERNB_NATIVE=0 is a choice, not a missing fast path.
 */
export function fastPathMissing(reason: string | undefined, sourceTree: boolean = hasNativeSource()): string | undefined {
  if (process.env.FERNB_NATIVE === "0") return undefined;
  const fix = sourceTree
    ? `Install it with: ${FAST_PATH_COMMAND}`
    : `It is prebuilt only in the linux-x64 package; elsewhere, build fernb from its source with: ${FAST_PATH_COMMAND}`;
  return `fast path missing: native kernels ${reason ?? "not loaded"}; training is about 3× slower. ${fix}`;
}

/** Whether this copy of fernb carries the native kernels' source and setup script (a checkout, not a package). */
function hasNativeSource(): boolean {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "kernel", "fer", "backends", "native", "setup.sh"))) return true;
    if (existsSync(path.join(dir, "package.json")) || path.dirname(dir) === dir) return false;
  }
}

async function tryRung(choice: BackendChoice, forced: boolean): Promise<string> {
  rungThreads = undefined;
  rungAdapter = undefined;
  rungNotice = undefined;
  switch (choice) {
    case "tensorflow-gpu":
    case "tensorflow": {
      const pkg = choice === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
      // Optional dependency: a failed or skipped install leaves it missing or without its binary.
      require(pkg);
      if (!(await tf.setBackend("tensorflow"))) throw new Error(`${pkg} loaded but its backend did not initialise`);
      return choice === "tensorflow-gpu" ? "TensorFlow C library with CUDA (tfjs-node-gpu)" : "TensorFlow C library on the CPU (tfjs-node)";
    }
    case "webgpu": {
      const { initWebGpuBackend } = await import("./backends/webgpu");
      // Automatically only on a hardware adapter; forced, a software adapter is accepted too.
      const { adapter, description } = await initWebGpuBackend({ allowSoftware: forced });
      rungAdapter = adapter;
      return description;
    }
    case "wasm": {
      const { initWasmBackend } = await import("./backends/wasm");
      const { threads, simd, native } = await initWasmBackend();
      rungThreads = threads;
      const blas = native?.library?.match(/^(OpenBLAS [\d.]+).*\((\w+) kernels\)$/);
      const dnnl = native?.convolutions ? `${native.convolutions}, ` : "";
      const nativeKernels = native?.library ? ` + native kernels (${dnnl}${blas ? `${blas[1]}, ${blas[2]}` : native.library})` : "";
      rungNotice = native?.library ? undefined : fastPathMissing(native?.reason);
      return `WebAssembly (${simd ? "SIMD" : "no SIMD"}, ${threads} thread${threads === 1 ? "" : "s"})${nativeKernels}${rungNotice ? ` — ${rungNotice}` : ""}`;
    }
    case "cpu":
      if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend did not initialise");
      return "plain JavaScript on the CPU (slow: about 100× slower than wasm for training)";
  }
}

/**
 * Initialises the best available backend (once per process; later calls return the same).
 * `prefer` (or env FERNB_BACKEND) forces a rung and fails loudly if it cannot load.
 */
export function initBackend(prefer: BackendChoice | undefined = process.env.FERNB_BACKEND as BackendChoice | undefined): Promise<BackendInfo> {
  if (active && (!prefer || active.choice === prefer)) return Promise.resolve(active);
  if (pending && !prefer) return pending;
  pending = (async () => {
    tf.env().set("PROD", true);
    if (prefer !== undefined) {
      if (!BACKEND_LADDER.includes(prefer)) {
        throw new Error(`Unknown backend "${prefer}" (FERNB_BACKEND): choose one of ${BACKEND_LADDER.join(", ")}.`);
      }
      try {
        const description = await tryRung(prefer, true);
        active = { choice: prefer, tfBackend: tf.getBackend(), description, threads: rungThreads, adapter: rungAdapter, skipped: [], notice: rungNotice };
        return active;
      } catch (e) {
        throw new Error(`The backend "${prefer}" asked for (FERNB_BACKEND) is not available here: ${firstLine(e)}`);
      }
    }
    const skipped: BackendInfo["skipped"] = [];
    for (const choice of BACKEND_LADDER) {
      try {
        const description = await tryRung(choice, false);
        active = { choice, tfBackend: tf.getBackend(), description, threads: rungThreads, adapter: rungAdapter, skipped, notice: rungNotice };
        return active;
      } catch (e) {
        skipped.push({ choice, reason: firstLine(e) });
      }
    }
    throw new Error(`No TensorFlow.js backend could be initialised:\n${skipped.map((s) => `  ${s.choice}: ${s.reason}`).join("\n")}`);
  })();
  return pending;
}

/** The active backend, if initBackend has run. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}
