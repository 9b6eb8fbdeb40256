/** Files the CLI writes for the user (--out, --html). */
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import * as path from "node:path";
import { safeWritePath } from "../kernel/fer/safeWrite";

/**
 * Writes a file the user named (--out, --html) atomically: a temporary file beside it, then a
 * rename; the temporary file is removed when anything fails, so a failed write leaves nothing behind.
 * With `overwrite: false` a file already at `file` is kept and the write fails (EEXIST): the finished
 * temporary file is hard-linked into place, which never replaces anything, instead of renamed.
 * Every file the CLI writes goes through here.
 */
export function writeOutputFileSync(file: string, data: Uint8Array, options: { overwrite?: boolean } = {}): void {
  safeWritePath(file, path.dirname(path.resolve(file)), { what: "output file" }); // never through a symbolic link out of its folder
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", 0o644);
    let at = 0;
    while (at < data.length) at += writeSync(fd, data, at, data.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (options.overwrite === false) linkSync(tmp, file);
    else renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new Error(`could not write ${file}: ${(e as Error).message}`);
  }
  if (options.overwrite === false) rmSync(tmp, { force: true }); // the file now lives under its own name
}
