/**
 * Writes never follow a symbolic link out of the folder they belong to: the curation ledger stays in
 * its dataset, a curated export in its output folder, a model in its model folder, `--out` beside
 * itself. `safeWritePath(file, within)` checks a path before it is written and says, in words,
 * which file would have led where; every writer in fernb goes through it.
 *
 * A file (or folder) is refused when:
 *  - it is a symbolic link whose target is outside `within` (or missing, or a link loop: writing
 *    would create or follow something nobody can see from the folder);
 *  - its parent folder leads, through a symbolic link, outside `within`;
 *  - `singleLink` is asked (files appended to in place, like the ledger) and the file has other
 *    hard links, which could be the same file seen from anywhere.
 * A link whose target stays inside `within` is allowed, and its real path returned, so the caller
 * opens that (with O_NOFOLLOW where it can) and no link is followed at write time.
 */
import { constants, lstatSync, realpathSync } from "node:fs";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

export class UnsafeWriteError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = "UnsafeWriteError";
  }
}

/** `O_NOFOLLOW` where the platform has it (0 elsewhere). */
export const O_NOFOLLOW: number = constants.O_NOFOLLOW ?? 0;

/** True when `child` is `parent` or inside it (both absolute, already resolved). */
export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + sep) && !isAbsolute(rel));
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** The real path of `p`, or of its nearest existing ancestor joined with the parts that do not exist yet. */
export function realPathOrPlanned(p: string): string {
  const abs = resolve(p);
  const missing: string[] = [];
  let at = abs;
  for (;;) {
    try {
      return join(realpathSync(at), ...missing.reverse());
    } catch (e) {
      const c = code(e);
      if (c !== "ENOENT" && c !== "ENOTDIR") throw e;
      const up = dirname(at);
      if (up === at) return abs;
      missing.push(basename(at));
      at = up;
    }
  }
}

export interface SafeWriteOptions {
  /** What the file is, for messages ("ledger", "model file", ...). Default "file". */
  what?: string;
  /** Refuse a file that has other hard links (for files appended to or rewritten in place). */
  singleLink?: boolean;
  /** The check is for reading a file fernb would also write (the ledger): the message says "read". */
  reading?: boolean;
}

/**
 * Checks that writing `file`, which belongs in folder `within` (default: the file's own folder),
 * follows no symbolic link out of `within`, and returns the real path to write (the same file, its
 * links resolved). Throws `UnsafeWriteError` naming the file and why; nothing is written here.
 */
export function safeWritePath(file: string, within: string = dirname(resolve(file)), options: SafeWriteOptions = {}): string {
  const what = options.what ?? "file";
  const abs = resolve(file);
  const refuse = (why: string) =>
    new UnsafeWriteError(
      options.reading
        ? `Refusing to read the ${what} ${abs}: ${why}. fernb never reads or writes its files through a link that leads outside ${resolve(within)}.`
        : `Refusing to write the ${what} ${abs}: ${why}. fernb never writes through a link that leads outside ${resolve(within)}; nothing was written.`,
      abs,
    );
  const real = (p: string) => {
    try {
      return realPathOrPlanned(p);
    } catch (e) {
      if (code(e) === "ELOOP") throw refuse(`${p} is a symbolic link loop`);
      throw e;
    }
  };
  const realWithin = real(within);
  const realParent = real(dirname(abs));
  if (!isInside(realParent, realWithin)) throw refuse(`its folder leads, through a symbolic link, to ${realParent}`);
  const target = join(realParent, basename(abs));
  let info;
  try {
    info = lstatSync(target);
  } catch (e) {
    if (code(e) === "ENOENT") return target;
    throw e;
  }
  if (info.isSymbolicLink()) {
    let real: string;
    try {
      real = realpathSync(target);
    } catch (e) {
      const c = code(e);
      if (c === "ELOOP") throw refuse("it is a symbolic link loop");
      if (c === "ENOENT" || c === "ENOTDIR") throw refuse("it is a symbolic link to a file that does not exist (writing would create it wherever the link points)");
      throw e;
    }
    if (!isInside(real, realWithin)) throw refuse(`it is a symbolic link to ${real}`);
    if (options.singleLink && lstatSync(real).nlink > 1) throw refuse(`its target ${real} has ${lstatSync(real).nlink} hard links, so it may be a file outside the folder`);
    return real;
  }
  if (options.singleLink && info.isFile() && info.nlink > 1) throw refuse(`it has ${info.nlink} hard links, so it may be a file outside the folder`);
  return target;
}

/**
 * Writes `file` whole or not at all: a fresh temporary file beside it (created exclusively, so no
 * link is followed), synced, then renamed over `file`. `file` is checked first with safeWritePath
 * against `within`. On any failure the temporary file is removed and `file` is left as it was.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, within: string = dirname(resolve(file)), options: SafeWriteOptions = {}): Promise<void> {
  const target = safeWritePath(file, within, options);
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, "wx");
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, target);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/**
 * Appends `text` to `file` (created if missing) without following a link: checked with
 * safeWritePath against `within` (single hard link), opened with O_NOFOLLOW where the platform has it.
 */
export async function appendFileSafe(file: string, text: string, within: string = dirname(resolve(file)), options: SafeWriteOptions = {}): Promise<void> {
  const target = safeWritePath(file, within, { ...options, singleLink: true });
  const handle = await open(target, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | O_NOFOLLOW, 0o666);
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}
