/**
 * The WebGPU rung's adapter rule: fernb never picks a software adapter by itself (Mesa
 * llvmpipe/lavapipe, SwiftShader, WARP, any fallback adapter); only FERNB_BACKEND=webgpu does.
 *
 * Run: npm run test:webgpu (which selects Mesa's lavapipe through VK_ICD_FILENAMES).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { BACKEND_LADDER, type BackendInfo } from "../../kernel/fer/backend";
import { isSoftwareAdapter } from "../../kernel/fer/backends/webgpu";

const run = promisify(execFile);
const ROOT = path.join(__dirname, "..", "..");

test("the ladder: tfjs-node-gpu → webgpu → tfjs-node → wasm → cpu", () => {
  assert.deepEqual([...BACKEND_LADDER], ["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"]);
});

test("isSoftwareAdapter: the rule on adapter.info", () => {
  const software = [
    { vendor: "mesa", architecture: "software", device: "llvmpipe-llvm-15-0-6-256-bits-", description: "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)", isFallbackAdapter: true },
    { vendor: "mesa", architecture: "", device: "llvmpipe (LLVM 15.0.6, 256 bits)", description: "" }, // older Dawn: no isFallbackAdapter
    { vendor: "google", architecture: "", device: "swiftshader-device-subzero", description: "SwiftShader Device (Subzero)" },
    { vendor: "microsoft", architecture: "", device: "", description: "Microsoft Basic Render Driver" },
    { vendor: "", architecture: "", device: "", description: "", isFallbackAdapter: true },
  ];
  const hardware = [
    { vendor: "nvidia", architecture: "hopper", device: "", description: "NVIDIA H100 80GB HBM3", isFallbackAdapter: false },
    { vendor: "apple", architecture: "metal-3", device: "", description: "Apple M2 Pro" },
    { vendor: "intel", architecture: "gen-12lp", device: "0x9a49", description: "Intel(R) Xe Graphics (TGL GT2)" },
    { vendor: "amd", architecture: "rdna-3", device: "", description: "AMD Radeon RX 7900 XTX (RADV NAVI31)" },
    { vendor: "mesa", architecture: "", device: "", description: "AMD Radeon 780M (radeonsi, gfx1103)" }, // Mesa, but hardware
  ];
  for (const i of software) assert.equal(isSoftwareAdapter(i), true, JSON.stringify(i));
  for (const i of hardware) assert.equal(isSoftwareAdapter(i), false, JSON.stringify(i));
  assert.equal(isSoftwareAdapter({ vendor: "nvidia" }, { isFallbackAdapter: true }), true, "adapter.isFallbackAdapter (older WebGPU)");
});

/** The ladder in a fresh process, without FERNB_BACKEND, with the Vulkan driver `icd`. */
async function autoLadder(icd: string): Promise<BackendInfo> {
  const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: icd };
  delete env.FERNB_BACKEND;
  const { stdout } = await run(process.execPath, ["--import", "tsx", path.join(__dirname, "ladder-child.ts")], { cwd: ROOT, env, timeout: 120_000 });
  return JSON.parse(stdout.trim().split("\n").pop()!) as BackendInfo;
}

const icd = process.env.VK_ICD_FILENAMES;
const skip = !icd || !/lvp_icd/.test(icd) ? "needs VK_ICD_FILENAMES = Mesa's lavapipe (npm run test:webgpu)" : false;

test("without FERNB_BACKEND, a lavapipe-only machine skips webgpu (before loading Dawn)", { skip }, async () => {
  const info = await autoLadder(icd!);
  assert.notEqual(info.choice, "webgpu");
  const webgpu = info.skipped.find((s) => s.choice === "webgpu");
  assert.match(webgpu?.reason ?? "", /software/);
});

test("without FERNB_BACKEND, a software adapter that Dawn reports is refused by its adapter.info", { skip }, async () => {
  // The same driver under a neutral name, so only Dawn's adapter info can tell it is software.
  const dir = await mkdtemp(path.join(os.tmpdir(), "fernb-icd-"));
  try {
    const renamed = path.join(dir, "gpu_icd.json");
    await copyFile(icd!, renamed);
    const info = await autoLadder(renamed);
    assert.notEqual(info.choice, "webgpu");
    const webgpu = info.skipped.find((s) => s.choice === "webgpu");
    assert.match(webgpu?.reason ?? "", /only a software adapter is available \(llvmpipe.*\(mesa, software/);
    assert.match(webgpu?.reason ?? "", /FERNB_BACKEND=webgpu/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
