// Bundles the three parts of fernb:
//   extension host  extension/extension.ts   → dist/extension.js   (cjs, `vscode` external)
//                   extension/language/worker.ts → dist/languageWorker.js (its language services' thread)
//   kernel process  kernel/main.ts           → dist/kernel.js      (node, npm packages external)
//   webview         extension/renderers/*.ts → dist/renderers/*.js (browser ESM, self-contained)
//   native addon    kernel/fer/backends/native/kernels.c → dist/native/ (optional, see its build.mjs)
// Usage: node esbuild.mjs [--watch] [--minify]
import * as esbuild from "esbuild";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";

const watch = process.argv.includes("--watch");
const minify = process.argv.includes("--minify");

const renderers = readdirSync("extension/renderers")
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.startsWith("_"))
  .map((f) => `extension/renderers/${f}`);

/** @type {esbuild.BuildOptions[]} */
const builds = [
  {
    // The language services' thread (extension/language/worker.ts) is a second entry point. TypeScript
    // (tslab's, the kernel's version) stays external: it finds its lib.*.d.ts files next to itself.
    entryPoints: { extension: "extension/extension.ts", languageWorker: "extension/language/worker.ts" },
    outdir: "dist",
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["vscode", "@tslab/typescript-for-tslab"],
    sourcemap: true,
  },
  {
    entryPoints: { kernel: "kernel/main.ts", cli: "cli/main.ts" },
    outdir: "dist",
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // tslab, TensorFlow.js and sharp load native code and data files from their own folders.
    packages: "external",
    sourcemap: true,
  },
  {
    entryPoints: renderers,
    outdir: "dist/renderers",
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: false,
    define: { "process.env.NODE_ENV": '"production"' },
  },
].map((b) => ({ ...b, minify: b.minify || minify, logLevel: "warning" }));

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
  console.log("esbuild: watching…");
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  // The optional native kernels addon (OpenBLAS); it explains itself and never fails the build.
  execFileSync(process.execPath, ["kernel/fer/backends/native/build.mjs"], { stdio: "inherit" });
  // Declarations of the FER library, so `import ... from "fernb"` in cells is type-checked (rebuilt
  // from scratch, so a moved or deleted module leaves no stale declaration behind). Built beside the
  // old ones and swapped in by two renames: a kernel, an editor or a test reading them meanwhile
  // never finds them missing (the check takes a while; "Cannot find module 'fernb'" otherwise).
  const typesDir = "dist/fernb-types";
  const fresh = `${typesDir}.new-${process.pid}`;
  const stale = `${typesDir}.old-${process.pid}`;
  try {
    rmSync(fresh, { recursive: true, force: true });
    execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.types.json", "--outDir", fresh], { stdio: "inherit" });
    mkdirSync(fresh, { recursive: true });
    writeFileSync(`${fresh}/package.json`, JSON.stringify({ name: "fernb", types: "kernel/fer/index.d.ts" }, null, 2) + "\n");
    if (existsSync(typesDir)) renameSync(typesDir, stale);
    try {
      renameSync(fresh, typesDir);
    } catch {
      // Another build swapped its own in between: this one replaces it.
      rmSync(typesDir, { recursive: true, force: true });
      renameSync(fresh, typesDir);
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(stale, { recursive: true, force: true });
  }
  console.log(`esbuild: built extension, kernel, ${renderers.length} renderer(s) and the fernb declarations into dist/`);
}
