/**
 * TensorFlow.js WebGPU backend in Node, on Dawn (the `webgpu` npm package: Dawn's Node bindings,
 * prebuilt for Linux/macOS/Windows, on Vulkan/Metal/D3D12), for training on any GPU.
 *
 *   const { adapter } = await initWebGpuBackend();                      // hardware adapters only
 *   const { adapter } = await initWebGpuBackend({ allowSoftware: true }); // e.g. Mesa lavapipe in tests
 *
 * Both packages are optional dependencies (`webgpu`, `@tensorflow/tfjs-backend-webgpu`).
 *
 * The adapter rule: fernb never picks a software adapter by itself. An adapter is software when
 * Dawn says it is a fallback adapter (`adapter.info.isFallbackAdapter`), when its architecture is
 * "software", or when it is a known CPU rasteriser (Mesa llvmpipe/lavapipe/softpipe, SwiftShader,
 * Microsoft's WARP / Basic Render Driver). Training ResNet-18 on one runs at about 1 img/s on a
 * 2-core CPU, slower than the wasm backend by far; `allowSoftware` (FERNB_BACKEND=webgpu) accepts
 * one, for correctness tests. Among the adapters, a hardware one is always preferred.
 *
 * What this module adds to the package, so the rest of fernb runs unchanged:
 * - `navigator.gpu` and the WebGPU globals (GPUBufferUsage ...) that the package expects, set
 *   before its first import (it registers itself only when `navigator.gpu` exists then);
 * - the backend's factory uses the adapter chosen here (the package's own takes whatever
 *   `requestAdapter` returns, software or not);
 * - synchronous reads (`dataSync`, used by the training step's accuracy count and by Grad-CAM):
 *   the package reads synchronously through an OffscreenCanvas, which Node lacks. Here the
 *   staging buffer's map is completed synchronously by running Dawn's event processing (the
 *   callback dawn.node schedules with `setImmediate`) until the map is done.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";

const BACKEND = "webgpu";
const PRIORITY = 3; // as the package's own registration
/** The longest a synchronous read waits for the GPU (a software adapter can take minutes). */
const READ_SYNC_TIMEOUT_MS = 10 * 60_000;

export interface WebGpuInitOptions {
  /** Accept a software (CPU) adapter when no hardware adapter exists. Default false. */
  allowSoftware?: boolean;
}

export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software (CPU) adapter: fallback adapter, architecture "software", llvmpipe, SwiftShader, WARP. */
  software: boolean;
}

export interface WebGpuInitResult {
  adapter: WebGpuAdapterInfo;
  /** Human description, e.g. "WebGPU (Dawn) on NVIDIA GeForce RTX 4090 (nvidia, lovelace)". */
  description: string;
}

// Minimal shapes of what is used from WebGPU / dawn.node / the tfjs package (both are optional
// dependencies, so fernb type-checks without them).
interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor?: object): Promise<GpuDeviceLike>;
}
interface GpuDeviceLike {
  queue: { onSubmittedWorkDone(): Promise<void> };
  lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}
interface GpuLike {
  requestAdapter(options?: object): Promise<GpuAdapterLike | null>;
}
interface GpuBufferLike {
  size: number;
  mapState: string;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}
interface TensorDataLike {
  values: unknown;
  dtype: string;
  resource?: GpuBufferLike;
}
interface WebGpuBackendLike {
  tensorMap: { get(dataId: object): TensorDataLike };
  bufferManager: { acquireBuffer(size: number, usage: number): GpuBufferLike; releaseBuffer(b: GpuBufferLike, reuse?: boolean): void };
  commandEncoder: { copyBufferToBuffer(a: GpuBufferLike, ao: number, b: GpuBufferLike, bo: number, size: number): void };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  convertAndCacheOnCPU(dataId: object, values: unknown): unknown;
  readSync(dataId: object): unknown;
}
type WebGpuBackendClass = (new (device: GpuDeviceLike, adapterInfo?: GpuAdapterInfoLike) => WebGpuBackendLike) & { prototype: WebGpuBackendLike };

let gpu: GpuLike | undefined;
/** dawn.node's "process events" callback, captured from its setImmediate call; see readSync. */
let processEvents: (() => void) | undefined;
let chosen: { adapter: GpuAdapterLike; info: WebGpuAdapterInfo } | undefined;
let initQueue: Promise<unknown> = Promise.resolve();

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

/** The software-adapter rule (see the module comment). */
export function isSoftwareAdapter(info: GpuAdapterInfoLike | undefined, adapter?: { isFallbackAdapter?: boolean }): boolean {
  if (info?.isFallbackAdapter === true || adapter?.isFallbackAdapter === true) return true;
  if ((info?.architecture ?? "").toLowerCase() === "software") return true;
  const text = `${info?.vendor ?? ""} ${info?.device ?? ""} ${info?.description ?? ""}`.toLowerCase();
  return /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/.test(text);
}

function describeAdapter(adapter: GpuAdapterLike): WebGpuAdapterInfo {
  const i = adapter.info ?? {};
  return {
    vendor: i.vendor ?? "",
    architecture: i.architecture ?? "",
    device: i.device ?? "",
    description: i.description ?? "",
    software: isSoftwareAdapter(i, adapter),
  };
}

/** "NVIDIA GeForce RTX 4090 (nvidia, lovelace)" from the adapter's info. */
export function adapterLabel(a: WebGpuAdapterInfo): string {
  const name = a.description || a.device || "unnamed adapter";
  const detail = [a.vendor, a.architecture, a.device && a.device !== name ? a.device : ""].filter(Boolean).join(", ");
  return detail ? `${name} (${detail})` : name;
}

/**
 * Linux only: whether any Vulkan driver (ICD manifest) is visible to the Vulkan loader, and
 * whether all of them are Mesa's software lavapipe. Checked before Dawn loads, so a machine
 * without a GPU skips the rung quietly (Dawn prints warnings when Vulkan has no driver).
 */
function vulkanDrivers(): { any: boolean; onlySoftware: boolean; where: string } {
  const env = process.env;
  const explicit = [env.VK_DRIVER_FILES, env.VK_ICD_FILENAMES, env.VK_ADD_DRIVER_FILES].filter((v): v is string => !!v);
  let files: string[];
  let where: string;
  if (explicit.length > 0) {
    files = explicit.flatMap((v) => v.split(":")).filter(Boolean);
    where = "VK_DRIVER_FILES/VK_ICD_FILENAMES";
  } else {
    const home = os.homedir();
    const configDirs = [env.XDG_CONFIG_HOME || path.join(home, ".config"), ...(env.XDG_CONFIG_DIRS || "/etc/xdg").split(":"), "/etc"];
    const dataDirs = [env.XDG_DATA_HOME || path.join(home, ".local/share"), ...(env.XDG_DATA_DIRS || "/usr/local/share:/usr/share").split(":")];
    const dirs = [...configDirs, ...dataDirs].filter(Boolean).map((d) => path.join(d, "vulkan", "icd.d"));
    files = dirs.flatMap((d) => {
      try {
        return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith(".json")).map((f) => path.join(d, f)) : [];
      } catch {
        return [];
      }
    });
    where = "vulkan/icd.d in /etc, /usr/share and the XDG folders";
  }
  return { any: files.length > 0, onlySoftware: files.length > 0 && files.every((f) => /lvp_icd/.test(path.basename(f))), where };
}

/** Loads dawn.node and sets `navigator.gpu` and the WebGPU globals (once). */
async function loadDawn(): Promise<GpuLike> {
  if (gpu) return gpu;
  let mod: { create: (options: string[]) => GpuLike; globals: Record<string, unknown> };
  try {
    mod = (await import("webgpu")) as unknown as typeof mod;
  } catch (e) {
    throw new Error(`the optional dependency "webgpu" (Dawn for Node) is not installed or does not load here: ${firstLine(e)}`);
  }
  const g = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(mod.globals)) if (!(name in g)) g[name] = value;
  const created = mod.create([]);
  const nav = g.navigator as Record<string, unknown> | undefined;
  if (nav && typeof nav === "object") Object.defineProperty(nav, "gpu", { value: created, configurable: true, enumerable: true, writable: true });
  else g.navigator = { gpu: created };
  gpu = created;
  return created;
}

/**
 * Runs `f` (which calls into Dawn) while watching setImmediate for dawn.node's event-processing
 * callback (a native function; it calls wgpuInstanceProcessEvents and may be called again).
 */
async function captureProcessEvents<T>(f: () => Promise<T>): Promise<T> {
  if (processEvents) return f();
  const real = globalThis.setImmediate;
  const candidates: (() => void)[] = [];
  const spy = function (this: unknown, fn: (...a: unknown[]) => void, ...args: unknown[]) {
    if (typeof fn === "function" && /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn))) candidates.push(fn as () => void);
    return real(fn, ...args);
  } as unknown as typeof setImmediate;
  globalThis.setImmediate = Object.assign(spy, real);
  try {
    const out = await f();
    if (!processEvents && candidates.length > 0) processEvents = candidates[0];
    return out;
  } finally {
    globalThis.setImmediate = real;
  }
}

async function chooseAdapter(g: GpuLike, allowSoftware: boolean): Promise<{ adapter: GpuAdapterLike; info: WebGpuAdapterInfo }> {
  let software: { adapter: GpuAdapterLike; info: WebGpuAdapterInfo } | undefined;
  for (const powerPreference of ["high-performance", "low-power"]) {
    const adapter = await captureProcessEvents(() => g.requestAdapter({ powerPreference }));
    if (!adapter) continue;
    const info = describeAdapter(adapter);
    if (!info.software) return { adapter, info };
    software ??= { adapter, info };
  }
  if (software && allowSoftware) return software;
  if (software) {
    throw new Error(
      `only a software adapter is available (${adapterLabel(software.info)}); fernb never picks one by itself — FERNB_BACKEND=webgpu forces it`,
    );
  }
  throw new Error("no WebGPU adapter: Dawn found no Vulkan/Metal/D3D12 GPU");
}

/** Loads the tfjs package (after navigator.gpu exists) and returns its backend class. */
function loadTfjsWebGpu(): WebGpuBackendClass {
  let pkg: { WebGPUBackend: WebGpuBackendClass };
  try {
    // CommonJS build (tf-backend-webgpu.node.js), sharing @tensorflow/tfjs-core with @tensorflow/tfjs.
    const req = typeof require === "function" ? require : createRequire(path.join(process.cwd(), "fernb-webgpu-loader.js"));
    pkg = req("@tensorflow/tfjs-backend-webgpu");
  } catch (e) {
    throw new Error(`the optional dependency "@tensorflow/tfjs-backend-webgpu" is not installed: ${firstLine(e)}`);
  }
  patchReadSync(pkg.WebGPUBackend);
  return pkg.WebGPUBackend;
}

let patched = false;
/** Synchronous reads in Node (see the module comment). */
function patchReadSync(Backend: WebGpuBackendClass): void {
  if (patched) return;
  patched = true;
  const original = Backend.prototype.readSync;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  Backend.prototype.readSync = function (this: WebGpuBackendLike, dataId: object) {
    const data = this.tensorMap.get(dataId);
    const resource = data?.resource;
    if (!data || data.values != null || data.dtype === "string" || data.dtype === "complex64" || !resource || typeof resource.mapAsync !== "function") {
      return original.call(this, dataId);
    }
    if (!processEvents) throw new Error("WebGPU: synchronous reads (dataSync) need dawn.node's event callback, which was not found; use `await tensor.data()`");
    const usage = globalThis as unknown as { GPUBufferUsage: Record<string, number>; GPUMapMode: Record<string, number> };
    const staging = this.bufferManager.acquireBuffer(resource.size, usage.GPUBufferUsage.COPY_DST | usage.GPUBufferUsage.MAP_READ);
    this.ensureCommandEncoderReady();
    this.endComputePassEncoder();
    this.commandEncoder.copyBufferToBuffer(resource, 0, staging, 0, resource.size);
    this.submitQueue();
    let failure: unknown;
    staging.mapAsync(usage.GPUMapMode.READ).catch((e: unknown) => {
      failure = e;
    });
    const start = Date.now();
    for (let spins = 0; staging.mapState === "pending"; spins++) {
      processEvents();
      if (staging.mapState !== "pending") break;
      if (Date.now() - start > READ_SYNC_TIMEOUT_MS) throw new Error(`WebGPU: a synchronous read waited more than ${READ_SYNC_TIMEOUT_MS / 1000} s for the GPU`);
      // Let the GPU (or lavapipe's threads) work without burning this core: sleep up to 1 ms.
      if (spins > 20) Atomics.wait(sleeper, 0, 0, spins > 200 ? 1 : 0.05);
    }
    if (staging.mapState !== "mapped") {
      throw new Error(`WebGPU: reading a tensor back failed (${failure ? firstLine(failure) : `buffer ${staging.mapState}`})`);
    }
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    this.bufferManager.releaseBuffer(staging);
    const values = tf.util.convertBackendValuesAndArrayBuffer(bytes, data.dtype as tf.DataType);
    this.convertAndCacheOnCPU(dataId, values);
    return values;
  };
}

let registeredFactory: (() => Promise<tf.KernelBackend>) | undefined;

async function createBackend(Backend: WebGpuBackendClass, adapter: GpuAdapterLike): Promise<WebGpuBackendLike> {
  const limits = adapter.limits;
  const device = await captureProcessEvents(() =>
    adapter.requestDevice({
      requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
      requiredLimits: {
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      },
    }),
  );
  // dawn.node schedules its event processing with setImmediate while a promise is pending.
  if (!processEvents) await captureProcessEvents(() => device.queue.onSubmittedWorkDone());
  device.lost.then((l) => {
    if (l?.reason !== "destroyed") process.stderr.write(`fernb: the WebGPU device was lost: ${l?.message ?? l?.reason ?? "unknown reason"}\n`);
  });
  return new Backend(device, adapter.info);
}

async function doInit(options: WebGpuInitOptions): Promise<WebGpuInitResult> {
  const allowSoftware = options.allowSoftware === true;
  if (!chosen) {
    if (process.platform === "linux") {
      const drivers = vulkanDrivers();
      if (!drivers.any) throw new Error(`no Vulkan driver is installed (no ICD manifest in ${drivers.where})`);
      if (drivers.onlySoftware && !allowSoftware) {
        throw new Error("the only Vulkan driver is Mesa's software lavapipe; fernb never picks a software adapter by itself — FERNB_BACKEND=webgpu forces it");
      }
    }
    const g = await loadDawn();
    chosen = await chooseAdapter(g, allowSoftware);
  } else if (chosen.info.software && !allowSoftware) {
    throw new Error(`only a software adapter is available (${adapterLabel(chosen.info)}); fernb never picks one by itself — FERNB_BACKEND=webgpu forces it`);
  }
  const Backend = loadTfjsWebGpu();
  const { info } = chosen;
  // The package registered its own factory on import (any adapter); use the chosen one instead.
  // Registered once: re-registering would dispose a live backend and its tensors.
  if (!registeredFactory || tf.engine().registryFactory[BACKEND]?.factory !== registeredFactory) {
    if (tf.engine().registryFactory[BACKEND]) tf.removeBackend(BACKEND);
    registeredFactory = async () => (await createBackend(Backend, chosen!.adapter)) as unknown as tf.KernelBackend;
    tf.registerBackend(BACKEND, registeredFactory, PRIORITY);
  }
  if (!(await tf.setBackend(BACKEND))) throw new Error("the tfjs webgpu backend did not initialise");
  await tf.ready();
  // Training and Grad-CAM read values synchronously (dataSync); see patchReadSync.
  if (!processEvents) throw new Error(`this "webgpu" package (dawn.node) does not run its event processing through setImmediate, which fernb's synchronous reads need`);
  return {
    adapter: info,
    description: `WebGPU (Dawn) on ${adapterLabel(info)}${info.software ? " — a software adapter: runs on the CPU, slow (tests only)" : ""}`,
  };
}

/**
 * Loads Dawn, chooses the adapter (hardware only, unless `allowSoftware`), registers the tfjs
 * webgpu backend on it and makes it the active backend. Later calls reuse the same adapter.
 */
export function initWebGpuBackend(options: WebGpuInitOptions = {}): Promise<WebGpuInitResult> {
  // One at a time; a failed earlier try (e.g. a software adapter refused) does not decide this one.
  const run = initQueue.then(() => doInit(options), () => doInit(options));
  initQueue = run.catch(() => undefined);
  return run;
}

/** The adapter chosen by initWebGpuBackend, if it has run. */
export function webGpuAdapter(): WebGpuAdapterInfo | undefined {
  return chosen?.info;
}
