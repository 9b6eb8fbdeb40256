/**
 * `npm run bench`: ResNet-18 training and prediction speed on the best TensorFlow.js backend
 * available here, against the same model in PyTorch (CPU) with the same thread count, measured in
 * one run on the same machine. The last line printed is one JSON object:
 * {"backend", "train_img_s", "predict_img_s", "torch_train_img_s", "torch_predict_img_s",
 *  "train_ratio", "predict_ratio", ...}
 *
 * When a hardware WebGPU adapter exists (Dawn: Vulkan/Metal/D3D12), the same measurement on it is
 * added: "webgpu_train_img_s", "webgpu_predict_img_s", "webgpu_adapter" (a software adapter such
 * as Mesa's llvmpipe never counts; without a hardware adapter these fields are left out).
 *
 * `npm run bench -- --threads N` (or BENCH_THREADS=N) computes with N threads on both sides (default:
 * every core the machine has, as fernb does by default), so scaling can be shown where more cores
 * exist. Peak resident memory after the training steps at batch 64 is reported for both
 * ("peak_rss_mb", "torch_peak_rss_mb": each process's own high-water mark).
 *
 * Face detection speed (photos/s for 1, 2 and 4 megapixel photos, bench/faces.ts run once each in a
 * child process) is added as "faces_photos_per_s"; BENCH_FACES=0 leaves it out.
 *
 * Env: FERNB_BACKEND forces a backend; BENCH_STEPS (default 6) timed steps per measurement;
 * BENCH_STEM overrides the stem (imagenet | imagenet-nopool | stride2 | cifar); BENCH_ROUNDS (default 2) alternates
 * fernb and PyTorch that many times and keeps each one's best round (the machine is shared and noisy).
 * BENCH_TORCH=0 leaves PyTorch out (no torch_* fields nor ratios; bench/gpu.sh on a machine without it).
 */
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { tf, initBackend, createResNet18, DEFAULT_RESNET, type Stem } from "../kernel/fer/index";
import { createTrainingStep } from "../kernel/fer/train";
import { adapterLabel, initWebGpuBackend } from "../kernel/fer/backends/webgpu";

const BATCH = 64;
const STEPS = Number(process.env.BENCH_STEPS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const stem = (process.env.BENCH_STEM as Stem | undefined) ?? DEFAULT_RESNET.stem;

/** `--threads N` or BENCH_THREADS: validated before any work; fernb's wasm + native kernels read FERNB_WASM_THREADS. */
function requestedThreads(): number | undefined {
  const i = process.argv.indexOf("--threads");
  const raw = i >= 0 ? process.argv[i + 1] : process.env.BENCH_THREADS;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--threads wants a whole number from 1 to 64, not "${raw ?? ""}".`);
  return n;
}

/** This process's peak resident memory in MB (its high-water mark so far). */
function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function measureFernb(): Promise<{ train: number; predict: number; peakRssMb: number }> {
  const { height, width, channels } = DEFAULT_RESNET;
  const model = createResNet18({ stem });
  const { step } = createTrainingStep(model, { optimizer: "sgd", labelSmoothing: 0.1, classBalance: "none" });
  const x = tf.randomNormal([BATCH, height, width, channels], 0, 1, "float32", 1) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 7), "int32");
  for (let i = 0; i < 2; i++) await step(x, y, 0.01);
  let t = performance.now();
  for (let i = 0; i < STEPS; i++) await step(x, y, 0.01);
  const train = (BATCH * STEPS) / ((performance.now() - t) / 1000);
  const peak = peakRssMb();
  const predictOnce = async () => {
    const p = model.predict(x, { batchSize: BATCH }) as tf.Tensor;
    await p.data();
    p.dispose();
  };
  for (let i = 0; i < 2; i++) await predictOnce();
  t = performance.now();
  for (let i = 0; i < STEPS; i++) await predictOnce();
  const predict = (BATCH * STEPS) / ((performance.now() - t) / 1000);
  tf.dispose([x, y]);
  model.dispose();
  return { train, predict, peakRssMb: peak };
}

function ensureTorch(): string {
  const python = "/usr/bin/python3";
  try {
    execFileSync(python, ["-c", "import torch"], { stdio: "ignore" });
  } catch {
    log("PyTorch is missing: installing Debian's python3-torch (apt-get) ...");
    execFileSync("bash", ["-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch"], { stdio: "inherit" });
  }
  return python;
}

function measureTorch(python: string, threads: number): { train: number; predict: number; version: string; peakRssMb: number } {
  const { height, width, channels } = DEFAULT_RESNET;
  const out = execFileSync(python, [
    path.join(__dirname, "torch_resnet18.py"), "--threads", String(threads), "--batch", String(BATCH), "--height", String(height), "--width", String(width),
    "--channels", String(channels), "--stem", stem, "--train-steps", String(STEPS), "--predict-steps", String(STEPS),
  ], { encoding: "utf8" });
  const r = JSON.parse(out.trim().split("\n").pop()!);
  return { train: r.train_img_s, predict: r.predict_img_s, version: r.torch, peakRssMb: r.peak_rss_mb };
}

/**
 * fernb on a hardware WebGPU adapter, best of ROUNDS; `already` when the ladder picked it. Skipped
 * quietly (undefined) when there is none: the software adapter never counts.
 */
async function measureWebGpu(already?: { train: number; predict: number; adapter: string }): Promise<{ train: number; predict: number; adapter: string } | undefined> {
  if (already) return already;
  let adapter: string;
  try {
    const r = await initWebGpuBackend({ allowSoftware: false });
    adapter = adapterLabel(r.adapter);
  } catch (e) {
    log(`webgpu: not measured (${String((e as Error)?.message ?? e).split("\n")[0]})`);
    return undefined;
  }
  let best = { train: 0, predict: 0 };
  for (let round = 1; round <= ROUNDS; round++) {
    const f = await measureFernb();
    log(`webgpu round ${round} on ${adapter}: train ${f.train.toFixed(1)} predict ${f.predict.toFixed(1)} img/s`);
    best = { train: Math.max(best.train, f.train), predict: Math.max(best.predict, f.predict) };
  }
  return { ...best, adapter };
}

/** Face detection speed from bench/faces.ts (its last line), or undefined when skipped or failed. */
function measureFaces(): Record<string, unknown> | undefined {
  if (process.env.BENCH_FACES === "0") return undefined;
  try {
    const out = execFileSync(process.execPath, ["--import", "tsx", path.join(__dirname, "faces.ts")], {
      encoding: "utf8",
      env: { ...process.env, FERNB_BENCH_REPEAT: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = out.trim().split("\n");
    for (const line of lines.slice(0, -1)) log(`faces ${line}`);
    return JSON.parse(lines[lines.length - 1]);
  } catch (e) {
    log(`face detection: not measured (${String((e as Error)?.message ?? e).split("\n")[0]})`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const wanted = requestedThreads();
  if (wanted !== undefined) process.env.FERNB_WASM_THREADS = String(wanted);
  const backend = await initBackend();
  const threads = backend.threads ?? (backend.choice === "cpu" ? 1 : os.cpus().length);
  log(`backend ${backend.choice}: ${backend.description}; stem ${stem}; batch ${BATCH}; ${STEPS} timed steps; ${ROUNDS} round(s); PyTorch with ${threads} thread(s)`);
  const withTorch = process.env.BENCH_TORCH !== "0";
  const python = withTorch ? ensureTorch() : "";
  let best = { train: 0, predict: 0, torchTrain: 0, torchPredict: 0, torchVersion: "", peakRssMb: 0, torchPeakRssMb: 0 };
  for (let round = 1; round <= ROUNDS; round++) {
    const f = await measureFernb();
    const t = withTorch ? measureTorch(python, threads) : { train: NaN, predict: NaN, version: "", peakRssMb: NaN };
    log(`round ${round}: fernb train ${f.train.toFixed(1)} predict ${f.predict.toFixed(1)} img/s` + (withTorch ? ` · PyTorch ${t.version} train ${t.train.toFixed(1)} predict ${t.predict.toFixed(1)} img/s` : ""));
    best = {
      train: Math.max(best.train, f.train),
      predict: Math.max(best.predict, f.predict),
      torchTrain: Math.max(best.torchTrain, t.train),
      torchPredict: Math.max(best.torchPredict, t.predict),
      torchVersion: t.version,
      peakRssMb: Math.max(best.peakRssMb, f.peakRssMb),
      torchPeakRssMb: Math.max(best.torchPeakRssMb, t.peakRssMb ?? 0),
    };
  }
  const round2 = (v: number) => Math.round(v * 100) / 100;
  const faces = measureFaces();
  const webgpu = await measureWebGpu(backend.choice === "webgpu" && backend.adapter && !backend.adapter.software ? { train: best.train, predict: best.predict, adapter: backend.description } : undefined);
  console.log(JSON.stringify({
    backend: backend.choice,
    backend_description: backend.description,
    stem,
    batch: BATCH,
    threads,
    train_img_s: round2(best.train),
    predict_img_s: round2(best.predict),
    ...(withTorch ? {
      torch_train_img_s: round2(best.torchTrain),
      torch_predict_img_s: round2(best.torchPredict),
      train_ratio: round2(best.train / best.torchTrain),
      predict_ratio: round2(best.predict / best.torchPredict),
    } : {}),
    peak_rss_mb: Math.round(best.peakRssMb),
    ...(withTorch ? { torch_peak_rss_mb: Math.round(best.torchPeakRssMb) } : {}),
    ...(webgpu ? { webgpu_train_img_s: round2(webgpu.train), webgpu_predict_img_s: round2(webgpu.predict), webgpu_adapter: webgpu.adapter } : {}),
    ...(faces ?? {}),
    ...(withTorch ? { torch_version: best.torchVersion } : {}),
    cpu: os.cpus()[0]?.model,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
