/** Files the CLI writes for the user (--out, --html). */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import * as path from "node:path";
import { safeWritePath } from "../kernel/fer/safeWrite";

/**
 * Writes a file the user named (--out, --html) atomically: a temporary file beside it, then a
 * rename; the temporary file is removed when anything fails, so a failed write leaves nothing behind.
 * Every file the CLI writes goes through here.
 */
export function writeOutputFileSync(file: string, data: Uint8Array): void {
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
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new Error(`could not write ${file}: ${(e as Error).message}`);
  }
}
