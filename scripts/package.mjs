// Builds one .vsix per platform, VS Code's convention for extensions with native code
// (`vsce package --target <t>`): each holds only what fernb loads on that platform.
//
//   node scripts/package.mjs [--target linux-x64|linux-arm64|darwin-x64|darwin-arm64|win32-x64|all]
//                            [--keep-stage] [--unpack DIR]
//   --unpack DIR: also unzip the (single) .vsix into DIR, as VS Code installs it (DIR/extension/ is the
//   installed extension; .ci/run runs the end-to-end tests on it)
//   (npm run package [-- --target <t>] builds first, then runs this; default target: linux-x64)
//
// For each target it stages a copy under dist/package/<target>/ and packs it into
// dist/fernb-<target>.vsix:
//   - dist/: the bundles (extension, language worker, kernel, CLI, renderers, fernb's declarations);
//     source maps left out;
//   - the tracked files users need: README, LICENSE, bin/, syntaxes/, notebooks/, models/;
//   - node_modules: only the packages fernb's bundles load and their dependencies, walked from the
//     runtime roots below. Left out: tslab's Jupyter side (zeromq and its build tools, rollup,
//     commander: fernb uses only tslab's converter and executor), the optional TensorFlow C library
//     packages (tfjs-node, tfjs-node-gpu: their install downloads libtensorflow, so they are never
//     in a package), TensorFlow.js's browser bundles (Node loads each package's `main`, *.node.js),
//     TypeScript's tsserver/tsc/typings installer and its translations (the kernel and the
//     language services use lib/typescript.js and the lib.*.d.ts files), Dawn and sharp binaries
//     of other platforms;
//   - linux-x64: the native kernels (dist/native/fernb_native.node) compiled with OpenBLAS linked
//     statically, so they load on a machine without OpenBLAS (checked with ldd here). Other
//     targets ship no addon (it cannot be compiled for them here): the backend line then says the
//     fast path is missing; linux-arm64 carries the addon's C source and build script.
// sharp's platform packages (@img/sharp-<t>, @img/sharp-libvips-<t>) that npm did not install here
// (only this machine's are) are fetched once with `npm pack` into node_modules/.fernb-package-cache/.
import { execFileSync } from "node:child_process";
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TARGETS = {
  "linux-x64": { dawn: "linux-x64", sharp: ["@img/sharp-linux-x64", "@img/sharp-libvips-linux-x64"], native: true },
  "linux-arm64": { dawn: "linux-arm64", sharp: ["@img/sharp-linux-arm64", "@img/sharp-libvips-linux-arm64"], native: false },
  "darwin-x64": { dawn: "darwin-universal", sharp: ["@img/sharp-darwin-x64", "@img/sharp-libvips-darwin-x64"], native: false },
  "darwin-arm64": { dawn: "darwin-universal", sharp: ["@img/sharp-darwin-arm64", "@img/sharp-libvips-darwin-arm64"], native: false },
  "win32-x64": { dawn: "win32-x64", sharp: ["@img/sharp-win32-x64"], native: false },
};
/**
 * Optional dependencies never shipped: the TensorFlow C library packages download libtensorflow
 * when installed, so a .vsix cannot carry them working (users who want them install them by hand).
 */
const NEVER_SHIPPED = ["@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"];
/** Dependencies fernb never loads, cut from the walk (package → dependencies to leave out). */
const CUT = {
  // tslab's Jupyter kernel and its bundler; fernb loads tslab/dist/converter and tslab/dist/executor.
  tslab: ["zeromq", "rollup", "@rollup/plugin-commonjs", "@rollup/plugin-node-resolve", "@rollup/plugin-replace", "commander"],
  // Polyfills for the browser bundles and the command line of its model converter; Node loads
  // dist/tf.node.js, which requires none of them.
  "@tensorflow/tfjs": ["core-js", "regenerator-runtime", "yargs", "argparse", "chalk"],
};

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const targetArg = args.includes("--target") ? args[args.indexOf("--target") + 1] : (args.find((a) => a.startsWith("--target="))?.slice(9) ?? "linux-x64");
const keepStage = args.includes("--keep-stage");
const unpackDir = args.includes("--unpack") ? path.resolve(args[args.indexOf("--unpack") + 1] ?? "") : undefined;
const targets = targetArg === "all" ? Object.keys(TARGETS) : [targetArg];
if (unpackDir && targets.length !== 1) fail("--unpack takes one target");
for (const t of targets) if (!TARGETS[t]) fail(`unknown target "${t}"; one of: ${Object.keys(TARGETS).join(", ")}, all`);
for (const f of ["dist/extension.js", "dist/languageWorker.js", "dist/kernel.js", "dist/cli.js", "dist/fernb-types/package.json"]) {
  if (!existsSync(path.join(root, f))) fail(`${f} is missing: run npm run build first (npm run package does)`);
}

const readJson = (f) => JSON.parse(readFileSync(f, "utf8"));
const pkg = readJson(path.join(root, "package.json"));
/** What fernb's bundles require (dist/*.js externals: the dependencies) and the optional WebGPU rung. */
const RUNTIME_ROOTS = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})].filter((n) => !NEVER_SHIPPED.includes(n));

/** The folder of `name` as Node resolves it from `fromDir` (nested node_modules first). */
function resolvePackage(name, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (existsSync(path.join(candidate, "package.json"))) return candidate;
    if (dir === root || path.dirname(dir) === dir) return undefined;
  }
}

/** Fetches a platform package npm did not install here (sharp's, for other targets) with npm pack. */
function fetchPlatformPackage(name, version) {
  const cache = path.join(root, "node_modules", ".fernb-package-cache");
  const dir = path.join(cache, `${name.replace("/", "__")}@${version}`, "package");
  if (existsSync(path.join(dir, "package.json"))) return dir;
  mkdirSync(path.dirname(dir), { recursive: true });
  console.log(`package: fetching ${name}@${version} (npm pack)`);
  let tgz;
  try {
    tgz = execFileSync("npm", ["pack", `${name}@${version}`, "--silent", "--pack-destination", path.dirname(dir)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").pop();
  } catch (e) {
    fail(`could not fetch ${name}@${version} for this target with npm pack (no network?): ${String(e.stderr ?? e.message).trim().split("\n").pop()}`);
  }
  execFileSync("tar", ["-xzf", path.join(path.dirname(dir), tgz), "-C", path.dirname(dir)]);
  rmSync(path.join(path.dirname(dir), tgz), { force: true });
  return dir;
}

/** The packages to ship for `target`: Map of relative node_modules path → source folder. */
function walkPackages(target) {
  const spec = TARGETS[target];
  const out = new Map(); // "node_modules/a/node_modules/b" → source dir
  const trimmedJson = new Map(); // relative path → package.json with cut dependencies removed
  const visit = (name, fromDir) => {
    const dir = resolvePackage(name, fromDir);
    if (!dir) return false;
    const rel = path.relative(root, dir);
    if (out.has(rel)) return true;
    out.set(rel, dir);
    const json = readJson(path.join(dir, "package.json"));
    const cut = CUT[name] ?? [];
    for (const dep of Object.keys(json.dependencies ?? {})) {
      if (cut.includes(dep)) continue;
      if (!visit(dep, dir)) fail(`${name} needs ${dep}, which is not installed (run npm ci)`);
    }
    for (const dep of Object.keys(json.optionalDependencies ?? {})) {
      if (name === "sharp") continue; // its platform packages are chosen per target below
      visit(dep, dir);
    }
    if (cut.length || name === "sharp") {
      const trimmed = { ...json, dependencies: { ...json.dependencies } };
      for (const dep of cut) delete trimmed.dependencies[dep];
      if (name === "sharp") trimmed.optionalDependencies = Object.fromEntries(spec.sharp.map((p) => [p, json.optionalDependencies[p]]));
      delete trimmed.devDependencies;
      trimmedJson.set(rel, trimmed);
    }
    return true;
  };
  for (const name of RUNTIME_ROOTS) if (!visit(name, root)) fail(`${name} is not installed: run npm ci`);
  const sharpJson = readJson(path.join(root, "node_modules", "sharp", "package.json"));
  for (const p of spec.sharp) {
    const version = sharpJson.optionalDependencies[p];
    const here = resolvePackage(p, root);
    const dir = here && readJson(path.join(here, "package.json")).version === version ? here : fetchPlatformPackage(p, version);
    out.set(path.join("node_modules", p), dir);
    for (const dep of Object.keys(readJson(path.join(dir, "package.json")).optionalDependencies ?? {})) {
      if (!spec.sharp.includes(dep)) fail(`${p} needs ${dep}, which this script does not know`);
    }
  }
  return { packages: out, trimmedJson };
}

/** Whether a file of package `name` (path inside the package, /-separated) goes into the package. */
function keepFile(name, file, target, packageJson) {
  if (/\.map$/.test(file) || /(^|\/)(test|tests|__tests__|\.github)\//.test(file)) return false;
  if (/\.md$/i.test(file) && !/^licen[sc]e/i.test(path.basename(file))) return false;
  if (name.startsWith("@tensorflow/")) {
    // Node loads `main` (dist/*.node.js); types for cells come from the .d.ts files; the wasm
    // backend's binaries and Emscripten glue (dist/*.wasm, wasm-out/) are loaded by fernb.
    if (file === String(packageJson.main ?? "").replace(/^\.\//, "") || file.endsWith(".d.ts") || file.endsWith(".wasm") || file.startsWith("wasm-out/")) return true;
    return !/\.(js|mjs|html|tsbuildinfo)$/.test(file) && !file.startsWith("dist/miniprogram/") && !file.startsWith("scripts/");
  }
  if (name === "@tslab/typescript-for-tslab") {
    if (!file.startsWith("lib/")) return file === "package.json" || /^licen[sc]e/i.test(file) || file === "ThirdPartyNoticeText.txt";
    const base = file.slice(4);
    return base === "typescript.js" || base === "typescript.d.ts" || /^lib\..*\.d\.ts$/.test(base);
  }
  if (name === "webgpu") return !file.startsWith("dist/") || file.startsWith(`dist/${TARGETS[target].dawn}/`);
  return true;
}

function listFiles(dir, base = "") {
  const out = [];
  for (const e of readdirSync(path.join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name !== "node_modules" && e.name !== ".git") out.push(...listFiles(dir, rel));
    } else if (e.isFile()) out.push(rel);
  }
  return out;
}

function copyInto(stage, relTarget, source) {
  const dest = path.join(stage, relTarget);
  mkdirSync(path.dirname(dest), { recursive: true });
  copyFileSync(source, dest);
}

function dirSize(dir) {
  let bytes = 0, files = 0;
  for (const f of listFilesDeep(dir)) {
    bytes += statSync(f).size;
    files++;
  }
  return { bytes, files };
}
function listFilesDeep(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFilesDeep(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;

/** Shared libraries a Linux ELF file needs (ldd), by name. */
function linkedLibraries(file) {
  const text = execFileSync("ldd", [file], { encoding: "utf8" });
  return text.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

function stageTarget(target) {
  const spec = TARGETS[target];
  const stage = path.join(root, "dist", "package", target);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });

  // The extension's own files: the bundles, and the tracked files users need.
  for (const f of listFiles(path.join(root, "dist"))) {
    if (f.endsWith(".map") || f.endsWith(".vsix") || f.startsWith("package/") || f.startsWith("native/")) continue;
    copyInto(stage, path.join("dist", f), path.join(root, "dist", f));
  }
  const tracked = execFileSync("git", ["ls-files", "README.md", "LICENSE", "bin", "syntaxes", "notebooks", "models", "kernel/fer/backends/native"], { cwd: root, encoding: "utf8" })
    .split("\n").filter(Boolean)
    .filter((f) => existsSync(path.join(root, f)))
    // The addon's sources, Linux only: where none is shipped (linux-arm64), `node
    // kernel/fer/backends/native/build.mjs` in the installed extension builds it against the system's OpenBLAS.
    .filter((f) => target.startsWith("linux-") || !f.startsWith("kernel/"))
    .filter((f) => !/\.(executed\.fernb|report\.html)$/.test(f));
  for (const f of tracked) copyInto(stage, f, path.join(root, f));

  // The native kernels, OpenBLAS linked in.
  if (spec.native) {
    const addon = path.join(stage, "dist", "native", "fernb_native.node");
    try {
      execFileSync(process.execPath, [path.join(root, "kernel/fer/backends/native/build.mjs"), "--strict", "--static-blas", `--out=${addon}`], { cwd: root, stdio: "inherit" });
    } catch {
      fail("the native kernels did not build with OpenBLAS linked statically (see above); install libopenblas-dev: bash kernel/fer/backends/native/setup.sh");
    }
    const system = /^(linux-vdso\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libgcc_s\.so|\/lib.*\/ld-linux)/;
    const extra = linkedLibraries(addon).filter((l) => !system.test(l));
    if (extra.length) fail(`the packaged native kernels would need ${extra.join(", ")}, which a user's machine may lack`);
  }

  // node_modules.
  const { packages, trimmedJson } = walkPackages(target);
  for (const [rel, dir] of packages) {
    const json = readJson(path.join(dir, "package.json"));
    for (const f of listFiles(dir)) {
      if (!keepFile(json.name, f, target, json)) continue;
      if (f === "package.json" && trimmedJson.has(rel)) {
        mkdirSync(path.join(stage, rel), { recursive: true });
        writeFileSync(path.join(stage, rel, "package.json"), JSON.stringify(trimmedJson.get(rel), null, 2) + "\n");
      } else copyInto(stage, path.join(rel, f), path.join(dir, f));
    }
  }

  // package.json: the same manifest, dependencies as shipped (vsce checks them with npm list).
  const rootNames = new Set(RUNTIME_ROOTS);
  const manifest = { ...pkg };
  delete manifest.devDependencies;
  delete manifest.scripts;
  manifest.dependencies = Object.fromEntries(Object.entries({ ...pkg.dependencies, ...pkg.optionalDependencies }).filter(([n]) => rootNames.has(n)));
  delete manifest.optionalDependencies;
  writeFileSync(path.join(stage, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  writeFileSync(path.join(stage, ".vscodeignore"), "# staged by scripts/package.mjs: everything here ships\n");
  return stage;
}

for (const target of targets) {
  const stage = stageTarget(target);
  const out = path.join(root, "dist", `fernb-${target}.vsix`);
  rmSync(out, { force: true });
  const vsce = path.join(root, "node_modules", "@vscode", "vsce", "vsce");
  execFileSync(process.execPath, [vsce, "package", "--target", target, "--no-rewrite-relative-links", "--allow-missing-repository", "--out", out], { cwd: stage, stdio: ["ignore", "inherit", "inherit"] });
  const { bytes, files } = dirSize(stage);
  console.log(`package: ${path.relative(root, out)}: ${mb(statSync(out).size)} (${mb(bytes)} unpacked, ${files} files)`);
  if (!keepStage) rmSync(stage, { recursive: true, force: true });
}

/** Unzips a .vsix into `dir` (with yauzl, which vsce itself uses; no unzip program needed). */
async function unpack(vsix, dir) {
  const yauzl = createRequire(path.join(root, "node_modules", "@vscode", "vsce", "package.json"))("yauzl");
  mkdirSync(dir, { recursive: true });
  const zip = await new Promise((res, rej) => yauzl.open(vsix, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z))));
  await new Promise((res, rej) => {
    zip.on("error", rej);
    zip.on("end", res);
    zip.on("entry", (entry) => {
      const dest = path.resolve(dir, entry.fileName);
      if (!dest.startsWith(dir + path.sep)) return rej(new Error(`${vsix}: entry outside the folder: ${entry.fileName}`));
      if (entry.fileName.endsWith("/")) return zip.readEntry();
      mkdirSync(path.dirname(dest), { recursive: true });
      zip.openReadStream(entry, (e, stream) => {
        if (e) return rej(e);
        const out = createWriteStream(dest);
        out.on("error", rej);
        out.on("finish", () => zip.readEntry());
        stream.pipe(out);
      });
    });
    zip.readEntry();
  });
}

if (unpackDir) {
  await unpack(path.join(root, "dist", `fernb-${targets[0]}.vsix`), unpackDir);
  console.log(`package: unpacked into ${unpackDir}`);
}
