/**
 * The ledger's vocabulary: what one line of a curation ledger is, what reading and replaying one
 * found (the report a curated view carries as `dataset.curation.report`), and that report's
 * problems in words. Types and pure functions only, importing nothing of fernb but the emotion
 * names, so the data set value (data/faceDataset.ts) can carry and show a report without importing
 * the ledger, which imports it (ledger.ts re-exports all of this).
 */
import type { Emotion } from "../labels";

/** The ledger beside a folder data set: `<root>/.fernb-ledger.jsonl` (hidden, so it is never loaded as data). */
export const DEFAULT_LEDGER_NAME = ".fernb-ledger.jsonl";

export type LedgerAction = "relabel" | "exclude" | "restore" | "undo";
export type DecisionSource = "manual" | "suggestion";

/** One line of the ledger. */
export interface LedgerEntry {
  v: 1;
  /** ISO 8601 time of the decision. */
  time: string;
  /** Relative to the dataset root, posix separators (`anger/img1.png`; CSV rows: `fer2013.csv#line12`). */
  path: string;
  /** sha256 (hex) of the image file's bytes when decided; CSV rows: `pixels-sha256:<hex>` of the decoded pixels. */
  hash: string;
  /** The image's label in the dataset (its folder / CSV label) when decided. */
  oldLabel: Emotion;
  action: LedgerAction;
  /** relabel only. */
  newLabel?: Emotion;
  source: DecisionSource;
  note?: string;
  /** Unique id of this decision. */
  id: string;
  /** undo only: the id of the decision it cancels. */
  undoes?: string;
}

export interface LedgerLineProblem {
  /** 1-based line number in the ledger file. */
  line: number;
  /** The line (cut to 200 characters). */
  text: string;
  reason: string;
}

export interface LedgerReadReport {
  file: string;
  /** False when the ledger file does not exist yet (an empty ledger). */
  exists: boolean;
  /** sha256 (hex) of the ledger bytes that were read. */
  sha256: string;
  bytes: number;
  /** Non-empty lines seen. */
  lines: number;
  /** Valid entries returned. */
  entries: number;
  /** Lines that are not valid ledger entries (skipped, never silently). */
  invalidLines: LedgerLineProblem[];
  /** Lines of a ledger version this code does not know (skipped). */
  unknownVersions: LedgerLineProblem[];
  /** Entries whose id was already used by an earlier line (the later one is skipped). */
  duplicateIds: LedgerLineProblem[];
  /** The last line, when it is incomplete (no newline and/or not valid JSON: a crash mid-write); ignored. */
  tornLastLine?: { line: number; text: string };
  /** The last line is a valid entry without its newline (accepted; the next append starts a new line). */
  missingFinalNewline?: boolean;
}

// ---- what a replay found -------------------------------------------------------------------------

export interface StaleDecision {
  id: string;
  path: string;
  action: LedgerAction;
  time: string;
  reason: "file changed" | "label changed" | "file unreadable";
  ledgerHash: string;
  currentHash?: string;
  ledgerLabel: Emotion;
  currentLabel: Emotion;
}

export interface ImageDecisionState {
  path: string;
  /** Index in the original dataset. */
  index: number;
  originalLabel: Emotion;
  label: Emotion;
  excluded: boolean;
  /** Effective (applied) decisions, in order. */
  decisions: LedgerEntry[];
}

export interface CurationReport {
  ledgerFile: string;
  ledgerSha256: string;
  read: LedgerReadReport;
  /** Valid entries in the ledger. */
  entries: number;
  /** Decisions cancelled by an effective undo. */
  undone: string[];
  /** Undo lines whose target id is unknown (or later in the file): ignored. */
  danglingUndos: { id: string; undoes: string }[];
  /** Decisions not applied because the image changed since (reported, not applied). */
  stale: StaleDecision[];
  /** Decisions about paths not in the dataset (deleted, renamed, or skipped at load). */
  missing: { id: string; path: string; action: LedgerAction }[];
  /** Images with at least one applied decision. */
  reviewed: number;
  relabelled: { path: string; from: Emotion; to: Emotion }[];
  excluded: { path: string; label: Emotion }[];
  /** Final state of every image with an applied decision, by original index. */
  states: ImageDecisionState[];
}

/**
 * A ledger replay's problems as sentences a user can act on, one per kind of problem; at most `limit`
 * examples (paths, line numbers) are named in each. Used by the dataset's curation line and by
 * `curationSummary`, so both say the same thing in the same words.
 */
export function ledgerProblems(r: CurationReport, limit = 3): string[] {
  const plural = (n: number, one: string, many = one + "s") => `${n} ${n === 1 ? one : many}`;
  const some = <T>(items: T[], show: (item: T) => string) => items.slice(0, limit).map(show).join(", ") + (items.length > limit ? `, ... (${items.length - limit} more)` : "");
  const read = r.read;
  const problems: string[] = [];
  if (read.tornLastLine) problems.push(`ledger line ${read.tornLastLine.line}, the last one, is incomplete (a write was interrupted) and was ignored; the decisions before it were applied`);
  if (r.stale.length) {
    const changed = r.stale.filter((s) => s.reason === "file changed").length;
    const why = changed === r.stale.length ? "the image file changed after the decision" : "the image changed (file content, or its folder/label) after the decision";
    problems.push(`${plural(r.stale.length, "decision")} NOT applied because ${why}: ${some(r.stale, (s) => `${s.action} of ${s.path} (${s.reason})`)} — review ${r.stale.length === 1 ? "it" : "them"} again`);
  }
  if (r.missing.length) problems.push(`${plural(r.missing.length, "decision")} about files not in the dataset (deleted, renamed or unreadable) ignored: ${some(r.missing, (m) => m.path)}`);
  for (const p of read.invalidLines.slice(0, limit)) problems.push(`ledger line ${p.line} skipped: ${p.reason}`);
  if (read.invalidLines.length > limit) problems.push(`... and ${read.invalidLines.length - limit} more invalid ledger lines`);
  if (read.unknownVersions.length) problems.push(`${plural(read.unknownVersions.length, "ledger line")} of a newer ledger version skipped (line ${some(read.unknownVersions, (p) => String(p.line))}): update fernb to apply ${read.unknownVersions.length === 1 ? "it" : "them"}`);
  if (read.duplicateIds.length) problems.push(`${plural(read.duplicateIds.length, "ledger line")} reusing an earlier decision's id skipped (line ${some(read.duplicateIds, (p) => String(p.line))})`);
  if (r.danglingUndos.length) problems.push(`${plural(r.danglingUndos.length, "undo")} of a decision that is not in the ledger ignored: ${some(r.danglingUndos, (u) => `${u.id} undoes ${u.undoes}`)}`);
  return problems;
}
