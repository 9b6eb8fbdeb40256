/**
 * A ledger kept in memory and followed as it grows, so that an open review grid answers each click
 * with work proportional to that decision, not to the ledger's length (issue #15).
 *
 * `sync()` brings the index up to date with the file: when the file is unchanged (same device,
 * inode, size, modification and change times) nothing is read; when it only grew (same inode, and
 * the last bytes read are still where they were) only the new bytes are read and parsed; otherwise
 * (rewritten, truncated, replaced, deleted behind our back) it is read again from the start.
 * `decisionsAbout(path)` gives one image's decisions and every undo that bears on them, in file
 * order: replaying just those (ledger.ts `replayEntries`) gives the image's state exactly as a
 * replay of the whole ledger would, since an entry's fate depends only on the undos naming it.
 * The rules of reading (invalid lines skipped, first of duplicate ids wins) are ledger.ts's
 * `parseLedger`; the file is read through the same link check as `CurationLedger.read`.
 */
import { open } from "node:fs/promises";
import { dirname } from "node:path";
import { safeWritePath } from "../safeWrite";
import { parseLedger, type CurationLedger, type LedgerEntry } from "./ledger";

/** Bytes kept from just before the read position, to check the file still holds them (it only grew). */
const TAIL_CHECK_BYTES = 256;

interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface LedgerIndexWork {
  /** Ledger entries parsed so far (all of them on a full read, only the new ones otherwise). */
  entriesRead: number;
  /** Reads from the start of the file (the first one, and each time it changed other than by growing). */
  fullReads: number;
  /** Reads of only the bytes appended since the last read. */
  appendReads: number;
}

export class LedgerIndex {
  readonly ledger: CurationLedger;
  /** What the index has cost so far (for tests, and to see that a click does not re-read the ledger). */
  readonly work: LedgerIndexWork = { entriesRead: 0, fullReads: 0, appendReads: 0 };
  private position = new Map<string, number>();
  private byId = new Map<string, LedgerEntry>();
  private byPath = new Map<string, LedgerEntry[]>();
  private undosOf = new Map<string, LedgerEntry[]>();
  private count = 0;
  /** Bytes of the file parsed into the index, up to and including its last newline. */
  private consumed = 0;
  /** The last bytes before `consumed`, as read. */
  private tail = Buffer.alloc(0);
  private identity?: FileIdentity;

  constructor(ledger: CurationLedger) {
    this.ledger = ledger;
  }

  /** The entry with this id, as of the last `sync()`. */
  entry(id: string): LedgerEntry | undefined {
    return this.byId.get(id);
  }

  /** Valid entries known, as of the last `sync()`. */
  get size(): number {
    return this.count;
  }

  /** The decisions about `path` and the undos that (transitively) name them, in file order. */
  decisionsAbout(path: string): LedgerEntry[] {
    const seen = new Set<LedgerEntry>();
    const todo = [...(this.byPath.get(path) ?? [])];
    while (todo.length) {
      const e = todo.pop()!;
      if (seen.has(e)) continue;
      seen.add(e);
      for (const u of this.undosOf.get(e.id) ?? []) if (!seen.has(u)) todo.push(u);
    }
    return [...seen].sort((a, b) => this.position.get(a.id)! - this.position.get(b.id)!);
  }

  private reset(): void {
    this.position.clear();
    this.byId.clear();
    this.byPath.clear();
    this.undosOf.clear();
    this.count = 0;
    this.consumed = 0;
    this.tail = Buffer.alloc(0);
    this.identity = undefined;
  }

  private add(e: LedgerEntry): void {
    if (this.byId.has(e.id)) return; // a later line reusing an id is skipped, as parseLedger does
    this.byId.set(e.id, e);
    this.position.set(e.id, this.count++);
    const list = this.byPath.get(e.path);
    if (list) list.push(e);
    else this.byPath.set(e.path, [e]);
    if (e.action === "undo" && e.undoes) {
      const undos = this.undosOf.get(e.undoes);
      if (undos) undos.push(e);
      else this.undosOf.set(e.undoes, [e]);
    }
  }

  /** Brings the index up to date with the ledger file (see the header). */
  async sync(): Promise<void> {
    const file = safeWritePath(this.ledger.file, dirname(this.ledger.file), { what: "curation ledger", reading: true });
    let fh;
    try {
      fh = await open(file, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      if (this.identity || this.count) this.reset(); // deleted behind our back: an empty ledger
      return;
    }
    try {
      const st = await fh.stat({ bigint: true });
      const id = this.identity;
      const sameFile = id !== undefined && id.dev === st.dev && id.ino === st.ino;
      if (sameFile && id.size === st.size && id.mtimeNs === st.mtimeNs && id.ctimeNs === st.ctimeNs) return;
      const size = Number(st.size);
      let from = 0;
      if (sameFile && size >= this.consumed) {
        // Grown? Only if the bytes read last time still end where they ended.
        const check = Buffer.alloc(this.tail.length);
        if (check.length) await fh.read(check, 0, check.length, this.consumed - check.length);
        if (check.equals(this.tail)) from = this.consumed;
      }
      if (from === 0) {
        this.reset();
        this.work.fullReads++;
      } else this.work.appendReads++;
      const bytes = Buffer.alloc(size - from);
      let got = 0;
      while (got < bytes.length) {
        const { bytesRead } = await fh.read(bytes, got, bytes.length - got, from + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      const read = bytes.subarray(0, got);
      // `from` always follows a newline, so the text starts on a line (and on a character) boundary.
      const { entries } = parseLedger(read.toString("utf8"), this.ledger.file);
      this.work.entriesRead += entries.length;
      for (const e of entries) this.add(e);
      // Next time, start again at the last line begun but not ended (a valid line without its
      // newline is then read again and skipped as already known).
      const lastNewline = read.lastIndexOf(0x0a);
      if (lastNewline >= 0) {
        this.tail = Buffer.concat([this.tail, read.subarray(0, lastNewline + 1)]).subarray(-TAIL_CHECK_BYTES);
        this.tail = Buffer.from(this.tail);
        this.consumed = from + lastNewline + 1;
      }
      this.identity = { dev: st.dev, ino: st.ino, size: BigInt(from + got), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
    } finally {
      await fh.close();
    }
  }
}
