/**
 * A decision's reply costs work proportional to that decision, not to the ledger's length (issue
 * #15): an open review keeps its ledger in memory and reads only what each decision appends; the
 * ledger is read again from the start only when it changed behind the review's back. The states the
 * replies carry are checked against a replay of the whole ledger (applyLedger).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { DISPLAY } from "../../kernel/display";
import { loadFolderDataset } from "../../kernel/fer/dataset";
import { applyLedger, CurationLedger, sha256File } from "../../kernel/fer/curation/ledger";
import { handleReviewMessage, review, REVIEW_MIME, reviewLedgerWork, type ReviewPayload, type ReviewReply } from "../../kernel/fer/curation/review";
import { writeTinyFaceFolder } from "../helpers/tinyFaces";

const FILES: [string, number][] = [["anger/a0.png", 10], ["anger/a1.png", 50], ["fear/f0.png", 130], ["happy/h0.png", 210]];
const OLD_ENTRIES = 4000;

const load = (root: string) => loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false });
const payloadOf = (grid: { [DISPLAY](): { mime: string; data: string | Uint8Array }[] }): ReviewPayload =>
  JSON.parse(grid[DISPLAY]().find((i) => i.mime === REVIEW_MIME)!.data as string);

/** A ledger of `OLD_ENTRIES` lines: mostly about images no longer there, some about fear/f0.png. */
async function longLedger(root: string): Promise<string> {
  const f0 = await sha256File(path.join(root, "fear", "f0.png"));
  const lines: string[] = [];
  for (let i = 0; i < OLD_ENTRIES; i++) {
    const about = i % 100 === 0 ? { path: "fear/f0.png", hash: f0, oldLabel: "fear", newLabel: i % 200 === 0 ? "surprise" : "sadness" } : { path: `anger/gone${i}.png`, hash: "0".repeat(64), oldLabel: "anger", newLabel: "happiness" };
    lines.push(JSON.stringify({ v: 1, time: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(), ...about, action: "relabel", source: "manual", id: `old-${i}` }));
  }
  const file = path.join(root, ".fernb-ledger.jsonl");
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/** The state each path has after a replay of the whole ledger (what the replies must agree with). */
async function replayedStates(root: string): Promise<Map<string, { label: string; excluded: boolean }>> {
  const { report } = await applyLedger(await load(root));
  return new Map(report.states.map((s) => [s.path, { label: s.label, excluded: s.excluded }]));
}

function stateOf(reply: ReviewReply): { label: string; excluded: boolean } {
  assert.equal(reply.ok, true, JSON.stringify(reply));
  if (!reply.ok) throw new Error("unreachable");
  return { label: reply.state.label, excluded: reply.state.excluded };
}

test("each decision reads only the ledger lines it appends, whatever the ledger's length; replies agree with a full replay", async () => {
  const root = await writeTinyFaceFolder("fernb-review-work-", FILES);
  await longLedger(root);
  const ds = await load(root);
  const ledger = await CurationLedger.open(ds);
  let fullLedgerReads = 0;
  const read = ledger.read.bind(ledger);
  ledger.read = () => {
    fullLedgerReads++;
    return read();
  };
  const { reviewId, items } = payloadOf(await review(ds, { ledger }));
  // The old decisions are in the grid's states (one full read when the review is built).
  assert.equal(items.find((i) => i.path === "fear/f0.png")!.state.label, "sadness");
  const built = reviewLedgerWork(reviewId)!;
  assert.deepEqual([built.entriesRead, built.fullReads], [OLD_ENTRIES, 1]);
  fullLedgerReads = 0;

  const ask = (m: object) => handleReviewMessage({ reviewId, ...m });
  const N = 40;
  const paths = FILES.map(([p]) => p);
  const labels = ["surprise", "sadness", "happiness", "neutral"];
  let appended = 0;
  for (let k = 0; k < N; k++) {
    const p = paths[k % paths.length];
    const before = reviewLedgerWork(reviewId)!;
    const action = k % 5 === 4 ? { action: "undo" } : k % 3 === 0 ? { action: "exclude", path: p } : k % 3 === 1 ? { action: "restore", path: p } : { action: "relabel", path: p, label: labels[k % labels.length] };
    const reply = await ask(action);
    stateOf(reply);
    const wrote = reply.ok && reply.ledgerLine ? 1 : 0;
    appended += wrote;
    const after = reviewLedgerWork(reviewId)!;
    // Per decision: no re-read from the start, and at most the one line it appended was parsed.
    assert.equal(after.fullReads, before.fullReads, `decision ${k} re-read the whole ledger`);
    assert.ok(after.entriesRead - before.entriesRead <= wrote, `decision ${k} parsed ${after.entriesRead - before.entriesRead} entries`);
  }
  assert.equal(fullLedgerReads, 0, "CurationLedger.read (the whole file) was called while answering decisions");
  const work = reviewLedgerWork(reviewId)!;
  assert.deepEqual([work.fullReads, work.entriesRead], [1, OLD_ENTRIES + appended]);

  // The states the replies give agree with a replay of the whole ledger.
  const replayed = await replayedStates(root);
  for (const p of paths) {
    const now = stateOf(await ask({ action: "relabel", path: p, label: replayed.get(p)?.label ?? ds.label(ds.paths.indexOf(p)) }));
    assert.deepEqual(now, replayed.get(p) ?? { label: ds.label(ds.paths.indexOf(p)), excluded: false }, p);
  }
});

test("a ledger changed behind the review's back: appended lines are read on their own, a rewritten ledger from the start", async () => {
  const root = await writeTinyFaceFolder("fernb-review-work-", FILES);
  const file = await longLedger(root);
  const ds = await load(root);
  const { reviewId } = payloadOf(await review(ds));
  const ask = (m: object) => handleReviewMessage({ reviewId, ...m });

  // Another writer (a notebook cell) excludes happy/h0.png and relabels a1: the review sees both.
  const other = await CurationLedger.open(ds);
  await other.exclude("happy/h0.png");
  await other.relabel("anger/a1.png", "disgust");
  const before = reviewLedgerWork(reviewId)!;
  assert.deepEqual(stateOf(await ask({ action: "relabel", path: "happy/h0.png", label: "neutral" })), { label: "neutral", excluded: false });
  assert.deepEqual(stateOf(await ask({ action: "exclude", path: "anger/a1.png" })), { label: "disgust", excluded: true });
  let after = reviewLedgerWork(reviewId)!;
  assert.equal(after.fullReads, before.fullReads);
  assert.equal(after.entriesRead - before.entriesRead, 4); // the two lines of the other writer, and ours

  // The ledger rewritten: only its first 100 lines kept (fear/f0.png's first decision, to surprise).
  const kept = readFileSync(file, "utf8").split("\n").slice(0, 100).join("\n") + "\n";
  writeFileSync(file, kept);
  assert.deepEqual(stateOf(await ask({ action: "exclude", path: "fear/f0.png" })), { label: "surprise", excluded: true });
  after = reviewLedgerWork(reviewId)!;
  assert.equal(after.fullReads, before.fullReads + 1);
  // The decision just written made h0 and a1 forget theirs (they were in the lines dropped).
  const replayed = await replayedStates(root);
  assert.equal(replayed.get("happy/h0.png"), undefined);
  assert.deepEqual(stateOf(await ask({ action: "restore", path: "anger/a1.png" })), { label: "anger", excluded: false });

  // A torn line (a crash mid-write) then an append: the torn line is skipped, as a full replay does.
  appendFileSync(file, '{"v":1,"time":"2025-');
  assert.deepEqual(stateOf(await ask({ action: "exclude", path: "anger/a0.png" })), { label: "anger", excluded: true });
  const states = await replayedStates(root);
  assert.deepEqual(states.get("anger/a0.png"), { label: "anger", excluded: true });
  assert.deepEqual(states.get("fear/f0.png"), { label: "surprise", excluded: true });
  assert.equal(reviewLedgerWork(reviewId)!.fullReads, before.fullReads + 1);

  // The ledger deleted: an empty ledger from then on (no stale state).
  writeFileSync(file, "");
  assert.deepEqual(stateOf(await ask({ action: "restore", path: "fear/f0.png" })), { label: "fear", excluded: false });
});
