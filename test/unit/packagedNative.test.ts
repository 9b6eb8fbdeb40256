/**
 * The native kernels as the linux-x64 .vsix ships them (scripts/package.mjs): built with
 * `build.mjs --static-blas`, OpenBLAS linked in, so the addon loads on a machine without OpenBLAS.
 * Checks that ldd lists no libopenblas (nor the Fortran runtime) and that the addon loads and
 * computes a convolution in a process whose library path points nowhere special.
 * Needs a C compiler, Node's headers and libopenblas-dev (its libopenblas.a); .ci/run installs them.
 * Run: node --import tsx --test test/unit/packagedNative.test.ts
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const root = path.resolve(__dirname, "../..");

test("the packaged native kernels link OpenBLAS statically and load without it", { skip: process.platform !== "linux" && "Linux only" }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "fernb-static-native-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, "fernb_native.node");
  const build = spawnSync(process.execPath, [path.join(root, "kernel/fer/backends/native/build.mjs"), "--strict", "--static-blas", `--out=${out}`], { cwd: root, encoding: "utf8" });
  assert.equal(build.status, 0, `the static build failed:\n${build.stdout}\n${build.stderr}`);
  assert.match(build.stdout, /linked statically from .*libopenblas\.a/);

  const libraries = execFileSync("ldd", [out], { encoding: "utf8" });
  assert.doesNotMatch(libraries, /libopenblas|libgfortran|libquadmath|not found/, `the addon still needs a shared library:\n${libraries}`);
  assert.match(libraries, /libc\.so/);
  assert.ok(statSync(out).size > 1e6, "OpenBLAS's code is inside the addon");

  // A 1×1 convolution, x[1,1,2,2] · w[1,1,2,3], by the addon in a fresh process.
  const script = `
    const a = require(${JSON.stringify(out)});
    const x = Float32Array.from([1, 2, 3, 4]), w = Float32Array.from([1, 0, 2, 0, 1, 3]), y = new Float32Array(6);
    a.conv2d(x, w, y, Int32Array.from([1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1, 2, 3]));
    console.log(JSON.stringify({ y: Array.from(y), config: a.config() }));`;
  const run = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, LD_LIBRARY_PATH: dir, LD_PRELOAD: "" } });
  assert.equal(run.status, 0, `the static addon did not load:\n${run.stderr}`);
  const { y, config } = JSON.parse(run.stdout) as { y: number[]; config: string };
  assert.deepEqual(y, [1, 2, 8, 3, 4, 18]);
  assert.match(config, /OpenBLAS/);
});
