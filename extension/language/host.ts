/**
 * The LanguageServiceHost behind a notebook's language service: the cells' virtual files and the
 * prelude (the kernel's `display` and `kernel` globals) in memory, everything else from disk, with
 * `<any folder>/node_modules/fernb` served from fernb's own declarations (dist/fernb-types), as the
 * kernel mounts them (kernel/executor.ts mountTypes): `import … from "fernb"` is typed wherever the
 * notebook is and whatever its folder holds, and the declarations' own imports (@tensorflow/tfjs, …) resolve from
 * fernb's installation through their real path.
 */
import * as ts from "@tslab/typescript-for-tslab";
import { createMount } from "../../kernel/typesMount";

export interface VirtualFiles {
  /** The root files, in order. */
  names(): string[];
  get(fileName: string): { text: string; version: number } | undefined;
}

export function createHost(options: {
  currentDirectory: string;
  compilerOptions: ts.CompilerOptions;
  files: VirtualFiles;
  mounts: Record<string, string>;
}): ts.LanguageServiceHost {
  const { files } = options;
  const map = createMount(options.mounts);
  const snapshots = new Map<string, { version: number; snapshot: ts.IScriptSnapshot }>();
  const diskSnapshots = new Map<string, ts.IScriptSnapshot>();
  // As tslab does: the notebook's folder has a node_modules even when it has none on disk, so the
  // mounted packages (fernb) resolve from a notebook anywhere.
  const ownNodeModules = `${options.currentDirectory.replace(/\\/g, "/").replace(/\/$/, "")}/node_modules`;
  const isVirtualDir = (dir: string): boolean => {
    const prefix = dir.replace(/\\/g, "/").replace(/\/$/, "") + "/";
    return files.names().some((f) => f.startsWith(prefix));
  };
  return {
    getCompilationSettings: () => options.compilerOptions,
    getScriptFileNames: () => files.names(),
    getScriptVersion: (fileName) => String(files.get(fileName)?.version ?? 0),
    getScriptSnapshot: (fileName) => {
      const virtual = files.get(fileName);
      if (virtual) {
        const cached = snapshots.get(fileName);
        if (cached && cached.version === virtual.version) return cached.snapshot;
        const snapshot = ts.ScriptSnapshot.fromString(virtual.text);
        snapshots.set(fileName, { version: virtual.version, snapshot });
        return snapshot;
      }
      // TypeScript asks for every file's snapshot each time it builds a program (each keystroke):
      // files on disk are read once.
      // A file that is missing now may appear (a package being installed, a build): not remembered.
      let onDisk = diskSnapshots.get(fileName);
      if (onDisk === undefined) {
        const text = ts.sys.readFile(map(fileName));
        if (text === undefined) return undefined;
        onDisk = ts.ScriptSnapshot.fromString(text);
        diskSnapshots.set(fileName, onDisk);
      }
      return onDisk;
    },
    getCurrentDirectory: () => options.currentDirectory,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: (p) => files.get(p) !== undefined || ts.sys.fileExists(map(p)),
    readFile: (p, encoding) => files.get(p)?.text ?? ts.sys.readFile(map(p), encoding),
    readDirectory: (p, extensions, exclude, include, depth) => ts.sys.readDirectory(map(p), extensions, exclude, include, depth),
    directoryExists: (p) => isVirtualDir(p) || p.replace(/\\/g, "/") === ownNodeModules || ts.sys.directoryExists(map(p)),
    getDirectories: (p) => ts.sys.getDirectories(map(p)),
    realpath: (p) => (files.get(p) ? p : ts.sys.realpath ? ts.sys.realpath(map(p)) : map(p)),
    useCaseSensitiveFileNames: () => ts.sys.useCaseSensitiveFileNames,
    getNewLine: () => "\n",
  };
}
