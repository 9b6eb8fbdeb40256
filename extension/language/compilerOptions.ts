/**
 * The compiler options of the kernel's type check (tslab's converter, node_modules/tslab/dist/
 * converter.js, createConverter), so the editor reports what running the cell reports. Options that
 * only shape tslab's emit (outDir, rootDir, noImplicitUseStrict, disableTopLevelAwait: tslab allows
 * top-level await by dropping TS1308 at the top level; here each cell is an ES module, where
 * TypeScript allows it itself) are left out.
 */
import * as ts from "@tslab/typescript-for-tslab";
import * as fs from "node:fs";
import * as path from "node:path";

/** tslab's target for the Node.js that runs the kernel (it picks ES2022 from Node 18 on; fernb needs Node 20). */
const TARGET = ts.ScriptTarget.ES2022;
const LIB = ["lib.es2022.d.ts"];

/**
 * `@types` folders the kernel's check sees: node_modules/@types in the notebook's folder and above
 * (TypeScript's default), and, where none of them has Node's types, fernb's own (`fallbackTypesRoot`).
 */
export function typeRootsFor(notebookDir: string, fallbackTypesRoot: string | undefined): string[] {
  const roots: string[] = [];
  for (let dir = path.resolve(notebookDir); ; dir = path.dirname(dir)) {
    const root = path.join(dir, "node_modules", "@types");
    if (isDirectory(root)) roots.push(root);
    if (path.dirname(dir) === dir) break;
  }
  const hasNode = roots.some((r) => fs.existsSync(path.join(r, "node", "package.json")));
  if (!hasNode && fallbackTypesRoot && !roots.includes(fallbackTypesRoot)) roots.push(fallbackTypesRoot);
  return roots;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function kernelCompilerOptions(typeRoots: string[]): ts.CompilerOptions {
  return {
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    target: TARGET,
    lib: LIB,
    declaration: true,
    newLine: ts.NewLineKind.LineFeed,
    experimentalDecorators: true,
    resolveJsonModule: true,
    jsx: ts.JsxEmit.React,
    typeRoots,
    allowJs: true,
    checkJs: true,
    skipLibCheck: true,
  };
}
