/**
 * The curation ledger: every decision about an image (relabel, exclude, restore, undo) is appended
 * as one JSON line to a file beside the dataset (default `<dataset root>/.fernb-ledger.jsonl`; a
 * hidden file, so `loadFolderDataset` never loads it). History is never rewritten or erased: an undo
 * is a new line that cancels an earlier one. Image files are never moved, renamed or deleted; the
 * curated view is computed by replaying the ledger over a loaded FaceDataset (`applyLedger`), which
 * `loadFolderDataset` does by default: loading a dataset with a ledger gives its curated view.
 *
 * A curated view (`dataset.curation` set) is never curated twice: `applyLedger`, `review`,
 * `exportCurated`, `curationSummary` and `CurationLedger.open` given one work on the raw images
 * behind it (`dataset.curation.raw`, folder labels), with the ledger it was made from unless told
 * otherwise. So a decision taken on a curated view records the image's raw label as `oldLabel`
 * (what replay checks), and replaying always starts from the raw data with the ledger as it is now.
 *
 * Appends are atomic and durable: under an advisory lock file (`<ledger>.lock`, created with `wx`,
 * stale after `lockStaleMs`), the file is opened with O_APPEND, one complete line (+ "\n", < 4 KB)
 * is written with a single write call, fsync'ed and closed. Two notebooks appending at once never
 * interleave or tear lines. If the file ends in a torn line (a crash mid-write), the next append
 * starts on a fresh line, so only the torn fragment is lost (and reported), never a new decision.
 *
 * Replay rules (see `replayLedger`):
 *  - decisions are replayed in file (= append) order; an `undo` cancels the decision whose id it
 *    names (an undo of an undo re-applies the original); undone decisions have no effect;
 *  - per image: `relabel` sets the label (and includes the image), `exclude` removes it from the
 *    curated view, `restore` re-includes it (keeping the latest relabel); the latest wins;
 *  - a decision whose recorded file hash (or given label) differs from the image's current one is
 *    STALE: the file changed after the decision, so it is reported and NOT applied;
 *  - decisions about paths that are not in the dataset are reported as `missing`.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants as fsConstants, createReadStream } from "node:fs";
import { link, lstat, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { canonicalEmotion, EMOTIONS, type Emotion } from "../labels";
import { FaceDataset } from "../data/faceDataset";
import { DEFAULT_LEDGER_NAME, type CurationReport, type DecisionSource, type ImageDecisionState, type LedgerAction, type LedgerEntry, type LedgerReadReport } from "./report";
import { O_NOFOLLOW, safeWritePath } from "../safeWrite";

/**
 * The raw data behind a curated view (`dataset.curation.raw`: the images with their folder/CSV
 * labels, before any ledger), or the dataset itself when it is not a curated view.
 */
export function uncurated(dataset: FaceDataset): FaceDataset {
  return dataset.curation?.raw ?? dataset;
}

// The ledger's types and the report's sentences live in ./report.ts (the data set value carries a report).
export { DEFAULT_LEDGER_NAME, ledgerProblems, type CurationReport, type DecisionSource, type ImageDecisionState, type LedgerAction, type LedgerEntry, type LedgerLineProblem, type LedgerReadReport, type StaleDecision } from "./report";

export const LEDGER_VERSION = 1;
/** Lines longer than this are refused (single O_APPEND writes below a page are never torn by other writers). */
export const MAX_LINE_BYTES = 4000;

export interface LedgerOptions {
  /** Ledger file; default `<dataset root>/.fernb-ledger.jsonl` (CSV datasets: `<csv>.fernb-ledger.jsonl`). */
  file?: string;
  /** A lock older than this is considered left over by a crashed process and broken (default 10 s). */
  lockStaleMs?: number;
  /** Give up taking the lock after this long (default 15 s). */
  lockTimeoutMs?: number;
}

export interface DecisionOptions {
  source?: DecisionSource;
  note?: string;
}

/** What `append` needs; hash and oldLabel are looked up from the dataset/file when missing. */
export interface NewDecision extends DecisionOptions {
  path: string;
  action: LedgerAction;
  newLabel?: Emotion | string;
  oldLabel?: Emotion | string;
  hash?: string;
  undoes?: string;
  /** For tests and imports: the decision time (default now). */
  time?: Date | string;
}

// ---- hashing ------------------------------------------------------------------------------------

/** sha256 (hex) of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * True for the path of a CSV row (`fer2013.csv#line12`: no folder, `#line<N>` at the end), false for
 * an image file of a folder dataset (always `<class folder>/<file>`), whatever characters its name
 * holds: a file named `a#1.png` is a file.
 */
export function isCsvRowPath(path: string): boolean {
  return !path.includes("/") && /#line\d+$/.test(path);
}

/** The hash a ledger records for the image at `path` of a dataset rooted at `root`. */
async function hashOfImage(root: string, path: string, pixels?: Uint8Array): Promise<string | undefined> {
  if (isCsvRowPath(path)) {
    // A row of a CSV file: no file of its own; identify it by its decoded pixels.
    return pixels ? "pixels-sha256:" + createHash("sha256").update(pixels).digest("hex") : undefined;
  }
  try {
    return await sha256File(join(root, ...path.split("/")));
  } catch {
    return undefined;
  }
}

/** A relative posix path inside root, from an absolute or relative (any separator) path. */
export function normalizeLedgerPath(root: string, path: string): string {
  if (typeof path !== "string" || path.trim() === "") throw new TypeError("path must be a non-empty string");
  let rel = path;
  if (isAbsolute(path)) {
    rel = relative(resolve(root), path);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new Error(`${path} is not inside the dataset root ${root}`);
  }
  rel = rel.split(sep).join("/").replace(/\\/g, "/").replace(/^\.\//, "");
  if (rel.split("/").some((part) => part === "..")) throw new Error(`path ${path} leaves the dataset root`);
  return rel;
}

function emotionOrThrow(value: Emotion | string | undefined, what: string): Emotion {
  const e = typeof value === "string" ? canonicalEmotion(value) : undefined;
  if (!e) throw new RangeError(`${what} must be one of ${EMOTIONS.join(", ")}, got ${JSON.stringify(value)}`);
  return e;
}

function newId(): string {
  return `${Date.now().toString(36)}-${process.pid.toString(36)}-${randomBytes(6).toString("hex")}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the ledger ---------------------------------------------------------------------------------

/** The default ledger file of a dataset (root folder, or CSV file). */
export async function defaultLedgerFile(root: string): Promise<string> {
  const info = await stat(root).catch(() => undefined);
  return info && info.isFile() ? `${root}${DEFAULT_LEDGER_NAME}` : join(root, DEFAULT_LEDGER_NAME);
}

export class CurationLedger {
  /** The dataset root (folder of class folders, or the CSV file) the paths are relative to. */
  readonly root: string;
  /** The JSON Lines file. */
  readonly file: string;
  readonly lockFile: string;
  /** The folder the ledger belongs to (the dataset's folder for its default ledger): appends never leave it. */
  private readonly folder: string;
  private readonly lockStaleMs: number;
  private readonly lockTimeoutMs: number;
  private readonly dataset?: FaceDataset;

  private constructor(root: string, file: string, options: LedgerOptions, dataset?: FaceDataset) {
    this.root = resolve(root);
    this.file = resolve(file);
    this.lockFile = this.file + ".lock";
    this.folder = dirname(this.file);
    this.lockStaleMs = options.lockStaleMs ?? 10_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 15_000;
    this.dataset = dataset;
  }

  /**
   * The ledger of a dataset (or of a dataset root path): `options.file`, else for a curated view the
   * ledger it was made from, else the default ledger. Nothing is written until the first decision.
   * For a curated view, labels are looked up in its raw data (see `uncurated`).
   */
  static async open(dataset: FaceDataset | string, options: LedgerOptions = {}): Promise<CurationLedger> {
    const sources = typeof dataset === "string" ? undefined : dataset.sourceInfo;
    if (sources && sources.names.length > 1) {
      // Each source keeps its own ledger (replayed by loadSources); one ledger over several folders would never be replayed.
      throw new Error(`this data set holds ${sources.names.length} sources (${sources.names.join(", ")}): curate each source on its own, loaded with loadFolderDataset(${JSON.stringify(sources.roots[0])}) and so on; loadSources replays each source's ledger`);
    }
    const root = typeof dataset === "string" ? resolve(dataset) : dataset.root;
    const file = options.file ? resolve(options.file) : typeof dataset !== "string" && dataset.curation ? dataset.curation.ledgerFile : await defaultLedgerFile(root);
    return new CurationLedger(root, file, options, typeof dataset === "string" ? undefined : uncurated(dataset));
  }

  /** The image's index in the dataset this ledger was opened with, if any. */
  private indexOf(path: string): number | undefined {
    const d = this.dataset;
    if (!d) return undefined;
    const i = d.paths.indexOf(path);
    return i < 0 ? undefined : i;
  }

  private async complete(decision: NewDecision): Promise<LedgerEntry> {
    const actions: LedgerAction[] = ["relabel", "exclude", "restore", "undo"];
    if (!actions.includes(decision.action)) throw new RangeError(`action must be one of ${actions.join(", ")}, got ${JSON.stringify(decision.action)}`);
    const source = decision.source ?? "manual";
    if (source !== "manual" && source !== "suggestion") throw new RangeError(`source must be "manual" or "suggestion", got ${JSON.stringify(source)}`);
    const path = normalizeLedgerPath(this.root, decision.path);
    const index = this.indexOf(path);
    const oldLabel =
      decision.oldLabel !== undefined
        ? emotionOrThrow(decision.oldLabel, "oldLabel")
        : index !== undefined
          ? this.dataset!.label(index)
          : (() => {
              throw new Error(`oldLabel is needed for ${path}: open the ledger with the dataset (CurationLedger.open(dataset)) or pass oldLabel`);
            })();
    const hash = decision.hash ?? (await hashOfImage(this.root, path, index !== undefined ? this.dataset!.image(index) : undefined));
    if (!hash) throw new Error(`Cannot hash ${path}: no such file under ${this.root}`);
    const entry: LedgerEntry = {
      v: LEDGER_VERSION,
      time: decision.time ? new Date(decision.time).toISOString() : new Date().toISOString(),
      path,
      hash,
      oldLabel,
      action: decision.action,
      source,
      id: newId(),
    };
    if (decision.action === "relabel") entry.newLabel = emotionOrThrow(decision.newLabel, "newLabel");
    else if (decision.newLabel !== undefined) throw new Error(`newLabel is only for relabel, not ${decision.action}`);
    if (decision.action === "undo") {
      if (typeof decision.undoes !== "string" || !decision.undoes) throw new Error("undo needs the id of the decision it cancels (undoes)");
      entry.undoes = decision.undoes;
    } else if (decision.undoes !== undefined) throw new Error(`undoes is only for undo, not ${decision.action}`);
    if (decision.note !== undefined) entry.note = String(decision.note);
    return entry;
  }

  /** Appends one decision (atomic, fsync'ed, under the lock) and returns the line written. */
  async append(decision: NewDecision): Promise<LedgerEntry> {
    const entry = await this.complete(decision);
    const line = JSON.stringify(entry) + "\n";
    const bytes = Buffer.from(line, "utf8");
    if (bytes.length > MAX_LINE_BYTES) throw new RangeError(`ledger line of ${bytes.length} bytes is too long (max ${MAX_LINE_BYTES}); shorten the note`);
    await this.withLock(async () => {
      let created = false;
      let prefix = "";
      // Never through a symbolic (or hard) link that leads out of the ledger's folder: a dataset
      // could ship its ledger as a link to any file of the user's.
      const target = safeWritePath(this.file, this.folder, { what: "curation ledger", singleLink: true });
      // If the file ends in a torn line (a crash mid-write), start on a fresh line.
      try {
        const info = await stat(target);
        if (info.size > 0) {
          const fh = await open(target, "r");
          try {
            const last = Buffer.alloc(1);
            await fh.read(last, 0, 1, info.size - 1);
            if (last[0] !== 0x0a) prefix = "\n";
          } finally {
            await fh.close();
          }
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        created = true;
      }
      const out = prefix ? Buffer.concat([Buffer.from(prefix), bytes]) : bytes;
      const fh = await open(target, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | O_NOFOLLOW, 0o666);
      try {
        const { bytesWritten } = await fh.write(out, 0, out.length);
        if (bytesWritten !== out.length) throw new Error(`short write to ${this.file}: ${bytesWritten} of ${out.length} bytes`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (created) await syncDir(dirname(this.file));
    });
    return entry;
  }

  /**
   * Relabels an image. Relabelling it to the label it has now (its label in the data set after this
   * ledger's decisions about it) is not a decision: nothing is written and the result is null.
   */
  async relabel(path: string, newLabel: Emotion | string, options: DecisionOptions & { oldLabel?: Emotion | string; hash?: string } = {}): Promise<LedgerEntry | null> {
    const label = emotionOrThrow(newLabel, "newLabel");
    const rel = normalizeLedgerPath(this.root, path);
    const index = this.indexOf(rel);
    const oldLabel = options.oldLabel !== undefined ? emotionOrThrow(options.oldLabel, "oldLabel") : index !== undefined ? this.dataset!.label(index) : undefined;
    if (oldLabel !== undefined) {
      const hash = options.hash ?? (await hashOfImage(this.root, rel, index !== undefined ? this.dataset!.image(index) : undefined));
      if (hash && (await this.currentLabel(rel, oldLabel, hash)) === label) return null;
      return this.append({ ...options, hash: options.hash ?? hash, path, action: "relabel", newLabel: label });
    }
    return this.append({ ...options, path, action: "relabel", newLabel: label });
  }

  /** The label of `path` after this ledger's decisions that apply to it (same image, same original label, not undone). */
  private async currentLabel(path: string, originalLabel: Emotion, hash: string): Promise<Emotion> {
    const { entries } = await this.read();
    const cancelled = cancelledEntries(entries);
    let label = originalLabel;
    for (const e of entries) {
      if (e.action !== "relabel" || cancelled.has(e.id) || e.path !== path || e.hash !== hash || e.oldLabel !== originalLabel) continue;
      label = e.newLabel!;
    }
    return label;
  }

  exclude(path: string, options: DecisionOptions & { oldLabel?: Emotion | string; hash?: string } = {}): Promise<LedgerEntry> {
    return this.append({ ...options, path, action: "exclude" });
  }

  restore(path: string, options: DecisionOptions & { oldLabel?: Emotion | string; hash?: string } = {}): Promise<LedgerEntry> {
    return this.append({ ...options, path, action: "restore" });
  }

  /** Cancels an earlier decision (by id, or the entry itself). The undo line copies its path/hash/label. */
  async undo(decision: string | LedgerEntry, options: DecisionOptions = {}): Promise<LedgerEntry> {
    let target: LedgerEntry | undefined = typeof decision === "string" ? undefined : decision;
    if (!target) {
      const { entries } = await this.read();
      target = entries.find((e) => e.id === decision);
      if (!target) throw new Error(`No decision with id ${JSON.stringify(decision)} in ${this.file}`);
    }
    return this.append({ ...options, path: target.path, action: "undo", undoes: target.id, oldLabel: target.oldLabel, hash: target.hash });
  }

  /** All valid entries, in file order, and what was wrong with the rest. */
  async read(): Promise<{ entries: LedgerEntry[]; report: LedgerReadReport }> {
    let bytes: Buffer;
    let exists = true;
    try {
      // A ledger that is a link out of its folder is not read either: its decisions would come from,
      // and its problems quote, a file that is not the data set's.
      bytes = await readFile(safeWritePath(this.file, this.folder, { what: "curation ledger", reading: true }));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      bytes = Buffer.alloc(0);
      exists = false;
    }
    const parsed = parseLedger(bytes.toString("utf8"), this.file);
    parsed.report.exists = exists;
    parsed.report.sha256 = createHash("sha256").update(bytes).digest("hex");
    parsed.report.bytes = bytes.length;
    return parsed;
  }

  // ---- lock ----

  private async withLock<T>(work: () => Promise<T>): Promise<T> {
    const token = `${process.pid} ${newId()}\n`;
    const start = Date.now();
    let delay = 2;
    for (;;) {
      try {
        const fh = await open(this.lockFile, "wx");
        try {
          await fh.write(token);
        } finally {
          await fh.close();
        }
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      await this.breakStaleLock();
      if (Date.now() - start > this.lockTimeoutMs) {
        throw new Error(`Could not lock ${this.file} within ${this.lockTimeoutMs} ms: ${this.lockFile} is held by another process (delete it if no fernb kernel is running)`);
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(50, delay * 2);
    }
    try {
      return await work();
    } finally {
      // Remove the lock only if it is still ours (a stale-lock breaker may have replaced it).
      try {
        if ((await readFile(this.lockFile, "utf8")) === token) await unlink(this.lockFile);
      } catch {
        // already gone
      }
    }
  }

  /** Breaks a lock older than lockStaleMs: rename it away (atomic, one winner), then delete it. */
  private async breakStaleLock(): Promise<void> {
    let info;
    try {
      info = await lstat(this.lockFile);
    } catch {
      return;
    }
    if (Date.now() - info.mtimeMs < this.lockStaleMs) return;
    const aside = `${this.lockFile}.stale-${newId()}`;
    try {
      await rename(this.lockFile, aside);
    } catch {
      return; // someone else broke it
    }
    try {
      const moved = await lstat(aside);
      if (moved.ino !== info.ino) {
        // We moved a fresh lock that replaced the stale one between lstat and rename: put it back.
        await link(aside, this.lockFile).catch(() => undefined);
      }
    } finally {
      await unlink(aside).catch(() => undefined);
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, fsConstants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // not supported on every platform/file system
  }
}

// ---- parsing --------------------------------------------------------------------------------------

const cut = (s: string) => (s.length > 200 ? s.slice(0, 200) + "…" : s);

/** Why a parsed JSON value is not a valid v1 entry (undefined if it is). */
function entryProblem(o: Record<string, unknown>): string | undefined {
  const str = (k: string) => typeof o[k] === "string" && (o[k] as string).length > 0;
  if (!str("id")) return "missing id";
  if (!str("time") || Number.isNaN(Date.parse(o.time as string))) return "missing or invalid time";
  if (!str("path")) return "missing path";
  if (!str("hash")) return "missing hash";
  if (!EMOTIONS.includes(o.oldLabel as Emotion)) return `oldLabel ${JSON.stringify(o.oldLabel)} is not an emotion`;
  if (!["relabel", "exclude", "restore", "undo"].includes(o.action as string)) return `unknown action ${JSON.stringify(o.action)}`;
  if (o.source !== "manual" && o.source !== "suggestion") return `unknown source ${JSON.stringify(o.source)}`;
  if (o.action === "relabel" && !EMOTIONS.includes(o.newLabel as Emotion)) return `relabel with newLabel ${JSON.stringify(o.newLabel)}, not an emotion`;
  if (o.action === "undo" && !str("undoes")) return "undo without the id it undoes";
  if (o.note !== undefined && typeof o.note !== "string") return "note is not a string";
  return undefined;
}

/** Parses ledger text (JSON Lines). Never throws on content; every skipped line is reported. */
export function parseLedger(text: string, file = "<ledger>"): { entries: LedgerEntry[]; report: LedgerReadReport } {
  const report: LedgerReadReport = { file, exists: true, sha256: "", bytes: 0, lines: 0, entries: 0, invalidLines: [], unknownVersions: [], duplicateIds: [] };
  const entries: LedgerEntry[] = [];
  const ids = new Set<string>();
  const lines = text.split("\n");
  const endsWithNewline = text.endsWith("\n");
  // With a trailing newline the last split element is "" (not a line).
  const count = endsWithNewline ? lines.length - 1 : lines.length;
  let lastNonEmpty = -1;
  for (let i = count - 1; i >= 0; i--) {
    if (lines[i].trim() !== "") {
      lastNonEmpty = i;
      break;
    }
  }
  for (let i = 0; i < count; i++) {
    const raw = lines[i].replace(/\r$/, "");
    if (raw.trim() === "") continue;
    report.lines++;
    const lineNo = i + 1;
    const isLast = i === lastNonEmpty;
    const torn = isLast && !endsWithNewline && i === count - 1;
    let value: unknown;
    let problem: string | undefined;
    try {
      value = JSON.parse(raw);
      if (typeof value !== "object" || value === null || Array.isArray(value)) problem = "not a JSON object";
    } catch (e) {
      problem = `invalid JSON (${(e as Error).message})`;
    }
    if (problem === undefined) {
      const o = value as Record<string, unknown>;
      if (o.v !== LEDGER_VERSION) {
        report.unknownVersions.push({ line: lineNo, text: cut(raw), reason: `ledger version ${JSON.stringify(o.v)} is not supported (this fernb reads v${LEDGER_VERSION})` });
        continue;
      }
      problem = entryProblem(o);
    }
    if (problem !== undefined) {
      // An incomplete last line is what a crash mid-write leaves: reported separately, ignored.
      if (isLast && (torn || problem.startsWith("invalid JSON"))) report.tornLastLine = { line: lineNo, text: cut(raw) };
      else report.invalidLines.push({ line: lineNo, text: cut(raw), reason: problem });
      continue;
    }
    // Valid but without its newline: the content is complete (only the newline was lost); accepted.
    if (torn) report.missingFinalNewline = true;
    const entry = value as LedgerEntry;
    if (ids.has(entry.id)) {
      report.duplicateIds.push({ line: lineNo, text: cut(raw), reason: `id ${entry.id} was used by an earlier line` });
      continue;
    }
    ids.add(entry.id);
    entries.push(entry);
  }
  report.entries = entries.length;
  return { entries, report };
}

// ---- replay -------------------------------------------------------------------------------------

export interface AppliedLedger {
  /** The curated view: relabelled labels, excluded images removed; `dataset.curation` describes it. */
  dataset: FaceDataset;
  /** `originalIndex[i]` is the index in `source` of curated image i. */
  originalIndex: Int32Array;
  report: CurationReport;
  /** The dataset the ledger was replayed over: the input, or the raw data behind a curated input. */
  source: FaceDataset;
}

/**
 * Undo resolution, newest first: an undo that is not itself undone cancels its target. Returns the
 * ids of the cancelled entries; `dangling` is told of each undo whose target is not an earlier entry.
 */
function cancelledEntries(entries: readonly LedgerEntry[], dangling?: (undo: LedgerEntry) => void): Set<string> {
  const position = new Map(entries.map((e, i) => [e.id, i] as const));
  const cancelled = new Set<string>();
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.action !== "undo") continue;
    const target = position.get(e.undoes!);
    if (target === undefined || target >= i) {
      dangling?.(e);
      continue;
    }
    if (!cancelled.has(e.id)) cancelled.add(e.undoes!);
  }
  return cancelled;
}

/**
 * The decisions that take effect, given the current hash of each path (`hashOf`, called lazily and
 * only for paths in the ledger) and each path's index in the dataset.
 */
async function replay(entries: LedgerEntry[], dataset: FaceDataset, ledgerFile: string, read: LedgerReadReport): Promise<CurationReport> {
  const report: CurationReport = {
    ledgerFile,
    ledgerSha256: read.sha256,
    read,
    entries: entries.length,
    undone: [],
    danglingUndos: [],
    stale: [],
    missing: [],
    reviewed: 0,
    relabelled: [],
    excluded: [],
    states: [],
  };
  const cancelled = cancelledEntries(entries, (e) => report.danglingUndos.push({ id: e.id, undoes: e.undoes! }));
  for (const e of entries) if (e.action !== "undo" && cancelled.has(e.id)) report.undone.push(e.id);

  const indexOfPath = new Map<string, number>();
  dataset.paths.forEach((p, i) => {
    if (!indexOfPath.has(p)) indexOfPath.set(p, i);
  });
  const hashes = new Map<string, Promise<string | undefined>>();
  const currentHash = (path: string, index: number) => {
    let h = hashes.get(path);
    if (!h) {
      h = hashOfImage(dataset.root, path, dataset.image(index));
      hashes.set(path, h);
    }
    return h;
  };
  const states = new Map<number, ImageDecisionState>();
  for (const e of entries) {
    if (e.action === "undo" || cancelled.has(e.id)) continue;
    const index = indexOfPath.get(e.path);
    if (index === undefined) {
      report.missing.push({ id: e.id, path: e.path, action: e.action });
      continue;
    }
    const label = dataset.label(index);
    const hash = await currentHash(e.path, index);
    if (hash !== e.hash || label !== e.oldLabel) {
      report.stale.push({
        id: e.id,
        path: e.path,
        action: e.action,
        time: e.time,
        reason: hash === undefined ? "file unreadable" : hash !== e.hash ? "file changed" : "label changed",
        ledgerHash: e.hash,
        currentHash: hash,
        ledgerLabel: e.oldLabel,
        currentLabel: label,
      });
      continue;
    }
    let s = states.get(index);
    if (!s) {
      s = { path: e.path, index, originalLabel: label, label, excluded: false, decisions: [] };
      states.set(index, s);
    }
    s.decisions.push(e);
    if (e.action === "relabel") {
      s.label = e.newLabel!;
      s.excluded = false;
    } else if (e.action === "exclude") s.excluded = true;
    else if (e.action === "restore") s.excluded = false;
  }
  report.states = [...states.values()].sort((a, b) => a.index - b.index);
  report.reviewed = report.states.length;
  for (const s of report.states) {
    if (s.excluded) report.excluded.push({ path: s.path, label: s.label });
    else if (s.label !== s.originalLabel) report.relabelled.push({ path: s.path, from: s.originalLabel, to: s.label });
  }
  return report;
}

/**
 * The decision state of each of `dataset`'s images after `entries`, entries already read (e.g. one
 * image's decisions and the undos about them, in file order: see curation/ledgerIndex.ts). The same
 * rules as `applyLedger`; images without a decision that applies have no state.
 */
export async function replayEntries(entries: LedgerEntry[], dataset: FaceDataset, ledgerFile = "<ledger>"): Promise<ImageDecisionState[]> {
  const read: LedgerReadReport = { file: ledgerFile, exists: true, sha256: "", bytes: 0, lines: entries.length, entries: entries.length, invalidLines: [], unknownVersions: [], duplicateIds: [] };
  return (await replay(entries, uncurated(dataset), ledgerFile, read)).states;
}

async function ledgerFor(dataset: FaceDataset, ledger: CurationLedger | string | undefined): Promise<CurationLedger> {
  // Duck-typed rather than instanceof: a notebook may hold a ledger from another copy of this module.
  if (ledger && typeof ledger === "object" && typeof (ledger as CurationLedger).read === "function") return ledger;
  return CurationLedger.open(dataset, { file: typeof ledger === "string" ? ledger : undefined });
}

/**
 * Replays the ledger over `dataset`: the curated view (relabelled labels, excluded images removed;
 * pixels shared with the input when nothing is excluded) and a report of what was applied, undone,
 * stale (not applied) or missing, and which ledger lines were invalid. Files are only read.
 * `ledger`: a CurationLedger, a ledger file path, or undefined for the dataset's default ledger.
 *
 * Given a curated view (e.g. what `loadFolderDataset` returns for a dataset with a ledger), the
 * ledger (default: the one the view was made from) is replayed over the raw data behind it
 * (`dataset.curation.raw`), never over the curated labels: nothing is applied twice, and the result
 * reflects the ledger as it is now (an image excluded then restored comes back). `originalIndex`
 * and `source` then refer to that raw data. The curated view's fingerprint equals the raw data's
 * when the ledger changes no label and excludes nothing.
 */
export async function applyLedger(dataset: FaceDataset, ledger?: CurationLedger | string): Promise<AppliedLedger> {
  const l = await ledgerFor(dataset, ledger);
  dataset = uncurated(dataset);
  const { entries, report: read } = await l.read();
  const report = await replay(entries, dataset, l.file, read);
  const excluded = new Set<number>();
  const labels = new Int32Array(dataset.labels);
  for (const s of report.states) {
    if (s.excluded) excluded.add(s.index);
    labels[s.index] = EMOTIONS.indexOf(s.label);
  }
  const keep = new Int32Array(dataset.size - excluded.size);
  let k = 0;
  for (let i = 0; i < dataset.size; i++) if (!excluded.has(i)) keep[k++] = i;
  const curation = { ledgerFile: l.file, ledgerSha256: read.sha256, raw: dataset, originalIndex: keep, report };
  const loadStats = { ...dataset.loadStats };
  let curated: FaceDataset;
  if (excluded.size === 0 && labels.every((v, i) => v === dataset.labels[i])) {
    curated = dataset.withCuration(curation, loadStats); // nothing changes: shared data, same fingerprint
  } else if (excluded.size === 0) {
    curated = new FaceDataset({ root: dataset.root, height: dataset.height, width: dataset.width, channels: dataset.channels, images: dataset.images, labels, paths: dataset.paths, report: dataset.report, loadStats, curation });
  } else {
    const sub = dataset.subset(keep);
    curated = new FaceDataset({ root: dataset.root, height: dataset.height, width: dataset.width, channels: dataset.channels, images: sub.images, labels: Int32Array.from(keep, (i) => labels[i]), paths: sub.paths, report: dataset.report, loadStats, curation });
  }
  return { dataset: curated, originalIndex: keep, report, source: dataset };
}
