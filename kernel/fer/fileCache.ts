/**
 * fernb's on-disk cache of decoded pixels ("pixel packs").
 *
 * One pack holds the decoded pixels of one dataset folder at one image spec, keyed by the SHA-1 of
 * each source file's bytes, so renamed or moved files still hit and edited files miss. It also
 * remembers which file contents failed to decode (and why), so corrupt files are not re-decoded.
 *
 * Layout (little-endian):
 *   "FERNBPX1" | u32 headerLength | header JSON | count × (20-byte SHA-1 | entrySize pixel bytes) | SHA-256 of all of the above
 *
 * A pack that is missing, truncated, corrupt (checksum mismatch) or for another key/spec is ignored
 * (and later overwritten). Writes go to a unique temporary file that is renamed into place, so a
 * reader never sees a half-written pack, and two processes writing at once leave one whole pack.
 */
import { createHash, randomBytes } from "node:crypto";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";

const MAGIC = Buffer.from("FERNBPX1", "latin1");
const HASH_BYTES = 20;
const CHECKSUM_BYTES = 32;

/**
 * The default cache folder: `$FERNB_CACHE_DIR` if set, else `<OS cache dir>/fernb-cache`
 * (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
 * Windows), else `<os.tmpdir()>/fernb-cache`. Never inside a dataset folder.
 */
export function defaultCacheDir(): string {
  if (process.env.FERNB_CACHE_DIR) return process.env.FERNB_CACHE_DIR;
  let base: string | undefined;
  try {
    const home = homedir();
    if (process.platform === "win32") base = process.env.LOCALAPPDATA || (home ? join(home, "AppData", "Local") : undefined);
    else if (process.platform === "darwin") base = home ? join(home, "Library", "Caches") : undefined;
    else base = process.env.XDG_CACHE_HOME || (home ? join(home, ".cache") : undefined);
  } catch {
    base = undefined;
  }
  return join(base || tmpdir(), "fernb-cache");
}

/** SHA-1 of a file's bytes, as the cache key of its pixels (hex). */
export function contentHash(bytes: Uint8Array): string {
  return createHash("sha1").update(bytes).digest("hex");
}

export interface PackHeader {
  /** Everything the pixels depend on besides the file bytes: decoder version, spec, ... */
  key: string;
  entrySize: number;
}

export interface PixelPack {
  /** content hash (hex) → pixels (a view into the pack file's buffer). */
  entries: Map<string, Uint8Array>;
  /** content hash (hex) → why it could not be decoded. */
  failures: Map<string, string>;
}

/** Why `readPack` ignored a pack file, when it did (for diagnostics and tests). */
export type PackReadResult = { pack: PixelPack } | { pack: undefined; reason: string };

/** Reads a pack; never throws — a missing or bad pack comes back as `{ pack: undefined, reason }`. */
export async function readPack(file: string, expected: PackHeader): Promise<PackReadResult> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    return { pack: undefined, reason: (e as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : `unreadable: ${(e as Error).message}` };
  }
  try {
    if (buf.length < MAGIC.length + 4 + CHECKSUM_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return { pack: undefined, reason: "not a pack file" };
    const body = buf.subarray(0, buf.length - CHECKSUM_BYTES);
    const checksum = createHash("sha256").update(body).digest();
    if (!checksum.equals(buf.subarray(buf.length - CHECKSUM_BYTES))) return { pack: undefined, reason: "checksum mismatch (truncated or corrupt)" };
    const headerLength = buf.readUInt32LE(MAGIC.length);
    const headerStart = MAGIC.length + 4;
    const header = JSON.parse(buf.toString("utf8", headerStart, headerStart + headerLength)) as PackHeader & { count: number; failures: Record<string, string> };
    if (header.key !== expected.key || header.entrySize !== expected.entrySize) return { pack: undefined, reason: "different key" };
    const recordSize = HASH_BYTES + header.entrySize;
    let offset = headerStart + headerLength;
    if (body.length - offset !== header.count * recordSize) return { pack: undefined, reason: "size mismatch" };
    const entries = new Map<string, Uint8Array>();
    for (let i = 0; i < header.count; i++, offset += recordSize) {
      const hash = buf.toString("hex", offset, offset + HASH_BYTES);
      entries.set(hash, new Uint8Array(buf.buffer, buf.byteOffset + offset + HASH_BYTES, header.entrySize));
    }
    return { pack: { entries, failures: new Map(Object.entries(header.failures ?? {})) } };
  } catch (e) {
    return { pack: undefined, reason: `corrupt: ${(e as Error).message}` };
  }
}

/** Writes a pack atomically (temporary file + rename). Throws on I/O errors; callers decide. */
export async function writePack(file: string, header: PackHeader, pack: PixelPack): Promise<void> {
  const dir = file.slice(0, Math.max(file.lastIndexOf("/"), file.lastIndexOf("\\")));
  if (dir) await mkdir(dir, { recursive: true });
  const headerJson = Buffer.from(JSON.stringify({ ...header, count: pack.entries.size, failures: Object.fromEntries(pack.failures) }), "utf8");
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(headerJson.length, MAGIC.length);
  const recordSize = HASH_BYTES + header.entrySize;
  const records = Buffer.allocUnsafe(pack.entries.size * recordSize);
  let offset = 0;
  for (const [hash, pixels] of pack.entries) {
    if (pixels.length !== header.entrySize) throw new RangeError(`pack entry ${hash} has ${pixels.length} bytes, expected ${header.entrySize}`);
    records.write(hash, offset, HASH_BYTES, "hex");
    records.set(pixels, offset + HASH_BYTES);
    offset += recordSize;
  }
  const checksum = createHash("sha256").update(prefix).update(headerJson).update(records).digest();
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(tmp, "wx"); // created here, never through an existing link
  try {
    for (const part of [prefix, headerJson, records, checksum]) {
      let written = 0;
      while (written < part.length) written += (await handle.write(part, written, part.length - written)).bytesWritten;
    }
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
