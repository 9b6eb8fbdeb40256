// Builds the native kernels addon (kernels.c → dist/native/fernb_native.node) with the
// system C compiler against Node's own headers and OpenBLAS (Debian: libopenblas-dev). No network,
// no node-gyp. It is optional: when something is missing, it says what and exits 0, and fernb's
// wasm kernels compute the convolutions instead (see ../wasmNative.ts).
// Usage: node kernel/fer/backends/native/build.mjs [--strict]   (--strict: exit 1 if it cannot build)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../../..");
const source = path.join(here, "kernels.c");
const outDir = path.join(root, "dist", "native");
const out = path.join(outDir, "fernb_native.node");
const strict = process.argv.includes("--strict");

function skip(why) {
  console.log(`native kernels not built: ${why}. Training uses the wasm kernels (about 3× slower).` +
    (process.env.FERNB_NATIVE === "0" ? "" : " Install the fast path with: bash kernel/fer/backends/native/setup.sh && npm run build"));
  process.exit(strict ? 1 : 0);
}

if (process.env.FERNB_NATIVE === "0") skip("FERNB_NATIVE=0");
if (process.platform !== "linux") skip(`only set up for Linux, not ${process.platform}`);
if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs && statSync(out).mtimeMs >= statSync(fileURLToPath(import.meta.url)).mtimeMs) process.exit(0);

const nodeInclude = [path.resolve(process.execPath, "../../include/node"), "/usr/include/node"].find((d) => existsSync(path.join(d, "node_api.h")));
if (!nodeInclude) skip("Node's headers (node_api.h) were not found next to the node binary");
const blasInclude = ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/aarch64-linux-gnu/openblas-pthread", "/usr/include/openblas", "/usr/include"]
  .find((d) => existsSync(path.join(d, "cblas.h")));
if (!blasInclude) skip("OpenBLAS headers (cblas.h) were not found: install libopenblas-dev");
const cc = process.env.CC ?? "cc";

mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
try {
  execFileSync(cc, [
    "-O3", "-fPIC", "-shared", "-Wall", "-Wextra",
    `-I${nodeInclude}`, `-I${blasInclude}`, "-DNODE_GYP_MODULE_NAME=fernb_native",
    source, "-o", tmp, "-lopenblas", "-lm",
  ], { stdio: ["ignore", "pipe", "pipe"] });
} catch (e) {
  const detail = String(e.stderr ?? e.message).trim().split("\n").slice(-3).join(" / ");
  skip(`${cc} failed (${detail})`);
}
renameSync(tmp, out);
console.log(`native kernels: built ${path.relative(root, out)} (OpenBLAS)`);
