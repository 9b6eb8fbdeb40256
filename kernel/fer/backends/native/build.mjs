// Builds the native kernels addon (kernels.c → dist/native/fernb_native.node) with the
// system C compiler against Node's own headers and OpenBLAS (Debian: libopenblas-dev). No network,
// no node-gyp. It is optional: when something is missing, it says what and exits 0, and fernb's
// wasm kernels compute the convolutions instead (see ../wasmNative.ts).
// With oneDNN's headers too (Debian: libdnnl-dev, found as oneapi/dnnl/dnnl.h), the convolutions
// are oneDNN's (./dnnlconv.h, linked -ldnnl: 1.35–1.4× faster than im2col + SGEMM); without them
// the addon is the OpenBLAS one alone.
// Usage: node kernel/fer/backends/native/build.mjs [--strict] [--static-blas] [--no-dnnl] [--out=FILE]
//   --strict: exit 1 if it cannot build. --static-blas: link OpenBLAS's static library (libopenblas.a)
//   into the addon, so it loads where OpenBLAS is not installed (the packaged .vsix; see
//   scripts/package.mjs); it implies --no-dnnl, as Debian ships no static oneDNN (libdnnl.a).
//   --no-dnnl: leave oneDNN out. --out: where to write it (default dist/native/fernb_native.node).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../../..");
const source = path.join(here, "kernels.c");
const headers = ["im2col.h", "dnnlconv.h"].map((h) => path.join(here, h));
const outDir = path.join(root, "dist", "native");
const outArg = process.argv.find((a) => a.startsWith("--out="));
const out = outArg ? path.resolve(outArg.slice("--out=".length)) : path.join(outDir, "fernb_native.node");
const strict = process.argv.includes("--strict");
const staticBlas = process.argv.includes("--static-blas");
// oneDNN: its headers where the compiler looks by default; never into the static (packaged) build.
const dnnlInclude = staticBlas || process.argv.includes("--no-dnnl") || process.env.FERNB_DNNL === "0" ? undefined
  : ["/usr/include", "/usr/local/include"].find((d) => existsSync(path.join(d, "oneapi", "dnnl", "dnnl.h")));

function skip(why) {
  console.log(`native kernels not built: ${why}. Training uses the wasm kernels (about 3× slower).` +
    (process.env.FERNB_NATIVE === "0" ? "" : " Install the fast path with: bash kernel/fer/backends/native/setup.sh && npm run build"));
  process.exit(strict ? 1 : 0);
}

if (process.env.FERNB_NATIVE === "0") skip("FERNB_NATIVE=0");
if (process.platform !== "linux") skip(`only set up for Linux, not ${process.platform}`);
// Up to date: newer than its sources and this script, and with oneDNN exactly when it is installed.
const newer = (f) => statSync(out).mtimeMs >= statSync(f).mtimeMs;
if (!staticBlas && existsSync(out) && [source, ...headers, fileURLToPath(import.meta.url)].every(newer) &&
    readFileSync(out).includes("dnnl_primitive_execute") === Boolean(dnnlInclude)) process.exit(0);

const nodeInclude = [path.resolve(process.execPath, "../../include/node"), "/usr/include/node"].find((d) => existsSync(path.join(d, "node_api.h")));
if (!nodeInclude) skip("Node's headers (node_api.h) were not found next to the node binary");
const blasInclude = ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/aarch64-linux-gnu/openblas-pthread", "/usr/include/openblas", "/usr/include"]
  .find((d) => existsSync(path.join(d, "cblas.h")));
if (!blasInclude) skip("OpenBLAS headers (cblas.h) were not found: install libopenblas-dev");
const cc = process.env.CC ?? "cc";

// The static library sits beside the shared one (Debian: .../openblas-pthread/libopenblas.a).
const blasLibDirs = [blasInclude.replace("/include/", "/lib/"), "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"];
const blasArchive = blasLibDirs.map((d) => path.join(d, "libopenblas.a")).find((f) => existsSync(f));
if (staticBlas && !blasArchive) skip(`OpenBLAS's static library (libopenblas.a) was not found in ${blasLibDirs.join(", ")}`);
// Static: only the OpenBLAS objects the kernels use, its symbols kept private to the addon
// (--exclude-libs), debug symbols stripped (-s).
const blasLink = staticBlas ? ["-Wl,--gc-sections", "-Wl,--exclude-libs,ALL", "-s", blasArchive, "-lpthread"] : ["-lopenblas"];
// Debian's oneDNN runs on OpenMP (libgomp): -fopenmp for omp_set_num_threads.
const dnnlFlags = dnnlInclude ? ["-DFERNB_DNNL", "-fopenmp"] : [];
const dnnlLink = dnnlInclude ? ["-ldnnl"] : [];

mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
try {
  execFileSync(cc, [
    "-O3", "-fPIC", "-shared", "-Wall", "-Wextra",
    `-I${nodeInclude}`, `-I${blasInclude}`, "-DNODE_GYP_MODULE_NAME=fernb_native", ...dnnlFlags,
    source, "-o", tmp, ...dnnlLink, ...blasLink, "-lm",
  ], { stdio: ["ignore", "pipe", "pipe"] });
} catch (e) {
  const detail = String(e.stderr ?? e.message).trim().split("\n").slice(-3).join(" / ");
  skip(`${cc} failed (${detail})`);
}
renameSync(tmp, out);
console.log(`native kernels: built ${path.relative(root, out)} (${dnnlInclude ? "oneDNN convolutions, " : ""}OpenBLAS${staticBlas ? `, linked statically from ${blasArchive}` : ""})`);
