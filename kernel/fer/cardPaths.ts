/**
 * A model card travels with the model (in a repository, a release, an e-mail): it must not carry
 * the folders of the machine that trained it (home folders, user names, cache layouts). saveModel
 * and updateModelCard pass every card through `withoutMachinePaths`: any string that is an absolute
 * path (`/home/me/.cache/fernb/runs/x`, `~/runs/x`, `C:\Users\me\runs\x`, `file:///...`) is replaced by
 * its last component (`x`), which still tells a reader which run or folder it was.
 */
import * as path from "node:path";

const ABSOLUTE = /^(?:file:\/\/|~(?:[\\/]|$)|\/|[A-Za-z]:[\\/]|\\\\)/;

/** True when `value` looks like an absolute path of some machine (POSIX, Windows, home, file URL). */
export function isMachinePath(value: string): boolean {
  return ABSOLUTE.test(value.trim());
}

/** The last component of an absolute path, whatever its separators ("" for a root). */
function lastComponent(value: string): string {
  const trimmed = value.trim().replace(/^file:\/\//, "").replace(/[\\/]+$/, "");
  return path.win32.basename(trimmed);
}

/**
 * A deep copy of `value` in which every absolute path string is replaced by its last component;
 * a path that has none (e.g. "/") is dropped from its object.
 */
export function withoutMachinePaths<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return isMachinePath(v) ? lastComponent(v) || undefined : v;
    if (Array.isArray(v)) return v.map((x) => walk(x) ?? null);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const w = walk(x);
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

/** Every absolute path in `value` with where it is (`training.recipe.checkpointDir`). */
export function machinePathsIn(value: unknown, where = ""): { where: string; value: string }[] {
  if (typeof value === "string") return isMachinePath(value) ? [{ where, value }] : [];
  if (Array.isArray(value)) return value.flatMap((x, i) => machinePathsIn(x, `${where}[${i}]`));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, x]) => machinePathsIn(x, where ? `${where}.${k}` : k));
  return [];
}
