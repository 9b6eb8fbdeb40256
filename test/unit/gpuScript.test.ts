/**
 * bench/gpu.sh without a hardware GPU: it must stop early and say "no hardware Vulkan adapter",
 * with what is missing, instead of benchmarking a software adapter. The Vulkan driver it sees is
 * chosen with VK_ICD_FILENAMES, so these cases hold on any machine, GPU or not.
 * Run: node --import tsx --test test/unit/gpuScript.test.ts
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";

const root = path.resolve(__dirname, "../..");
const script = path.join(root, "bench", "gpu.sh");

function runGpuScript(env: Record<string, string>) {
  const base = { ...process.env };
  for (const k of ["VK_DRIVER_FILES", "VK_ADD_DRIVER_FILES", "FERNB_BACKEND"]) delete base[k];
  return spawnSync("bash", [script], { cwd: root, encoding: "utf8", env: { ...base, ...env }, timeout: 120_000 });
}

test("bench/gpu.sh without an NVIDIA Vulkan driver says so and exits 1", { skip: process.platform !== "linux" && "Linux only" }, () => {
  const r = runGpuScript({ VK_ICD_FILENAMES: "/nonexistent/nvidia_icd.json" });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /no hardware Vulkan adapter/);
  assert.match(r.stderr, /missing: no NVIDIA Vulkan driver \(ICD manifest/);
  assert.match(r.stderr, /\/nonexistent\/nvidia_icd\.json/);
  assert.equal(r.stdout.trim(), "", "no JSON line without a GPU");
});

const mesa = path.join(process.env.FERNB_CACHE ?? path.join(homedir(), ".cache", "fernb"), "mesa-25");
const lavapipe = path.join(mesa, "usr/share/vulkan/icd.d/lvp_icd.json");

test("bench/gpu.sh refuses a software adapter behind an NVIDIA-looking driver manifest", { skip: !existsSync(lavapipe) && "no Mesa lavapipe (bash test/webgpu/setup-mesa.sh)" }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "fernb-gpu-sh-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Mesa's CPU driver, in a manifest that mentions nvidia: the shell checks pass, Dawn's answer decides.
  const manifest = JSON.parse(readFileSync(lavapipe, "utf8")) as { ICD: Record<string, string> };
  manifest.ICD.comment = "not really nvidia";
  const icd = path.join(dir, "nvidia_icd.json");
  writeFileSync(icd, JSON.stringify(manifest));
  const r = runGpuScript({ VK_ICD_FILENAMES: icd, LD_LIBRARY_PATH: path.join(mesa, "usr/lib/x86_64-linux-gnu") });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /no hardware Vulkan adapter: Dawn says: only a software adapter is available \(llvmpipe/);
  assert.equal(r.stdout.trim(), "");
});
