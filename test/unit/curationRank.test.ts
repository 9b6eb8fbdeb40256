/**
 * rank.ts (label-error rankings) on synthetic probabilities and features with known flipped labels,
 * calibration.ts (what a suspicion means; too-weak models), findLabelIssues' default ranking, the
 * no-op relabel, and `fernb audit --json` naming its ranking on the sample data.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { findLabelIssues } from "../../kernel/fer/curation/confidentLearning";
import { CALIBRATION_EDGES, MEASURED_WRONG_SHARE, modelStrength, monotoneWrongShare, wrongShare } from "../../kernel/fer/curation/calibration";
import { CurationLedger } from "../../kernel/fer/curation/ledger";
import {
  DEFAULT_RANKING,
  labelQualityScores,
  nearestNeighbours,
  neighbourAgreement,
  precisionRecallAtK,
  rankLabelIssues,
  RANK_METHODS,
  rocAuc,
  suspicionScores,
} from "../../kernel/fer/curation/rank";
import { loadFolderDataset } from "../../kernel/fer/dataset";
import { DISPLAY } from "../../kernel/display";
import { handleReviewMessage, review, REVIEW_MIME, type ReviewPayload } from "../../kernel/fer/curation/review";
import { Rng } from "../../kernel/fer/rng";
import { writeTinyFaceFolder } from "../helpers/tinyFaces";

const repo = path.resolve(__dirname, "../..");

/**
 * n examples of K classes: features clustered around one centre per true class; probabilities of a
 * decent model (right ~85% of the time, softmax of noisy logits); `rate` of the labels flipped to
 * another class.
 */
function synthetic(n = 600, K = 4, dim = 16, rate = 0.1, seed = 7) {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const centres = Array.from({ length: K }, () => Array.from({ length: dim }, () => gauss() * 2));
  const truth = Int32Array.from({ length: n }, (_, i) => i % K);
  const labels = Int32Array.from(truth);
  const flipped = new Uint8Array(n);
  for (const i of rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.round(rate * n))) {
    labels[i] = (truth[i] + 1 + rng.int(K - 1)) % K;
    flipped[i] = 1;
  }
  const embeddings = new Float32Array(n * dim);
  const probs = new Float32Array(n * K);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) embeddings[i * dim + d] = centres[truth[i]][d] + gauss();
    const logits = Array.from({ length: K }, (_, c) => (c === truth[i] ? 2 : 0) + gauss() * 1.2);
    const m = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (probs[i * K + c] = v / s));
  }
  return { n, K, dim, truth, labels, flipped, embeddings, probs };
}

test("every ranking method finds synthetic flipped labels far better than chance", () => {
  const d = synthetic();
  const nf = d.flipped.reduce((a, b) => a + b, 0);
  for (const method of RANK_METHODS) {
    const order = rankLabelIssues(d.probs, d.labels, { method, embeddings: d.embeddings, k: 10 }).map((r) => r.index);
    assert.equal(new Set(order).size, d.n, `${method}: a permutation of all examples`);
    const { precision } = precisionRecallAtK(order, d.flipped, nf);
    const auc = rocAuc(order, d.flipped);
    // Chance would be precision 0.1 and AUC 0.5.
    assert.ok(precision >= 0.5, `${method}: precision at the number flipped ${precision.toFixed(3)}`);
    assert.ok(auc >= 0.85, `${method}: ROC AUC ${auc.toFixed(3)}`);
  }
  // The neighbours alone (no probabilities worth anything) still find them: uniform probabilities.
  const uniform = new Float32Array(d.n * d.K).fill(1 / d.K);
  const knn = rankLabelIssues(uniform, d.labels, { method: "knn", embeddings: d.embeddings, k: 10 }).map((r) => r.index);
  assert.ok(precisionRecallAtK(knn, d.flipped, nf).precision >= 0.7, "kNN disagreement uses the features");
  assert.ok(rocAuc(knn, d.flipped) >= 0.9);
});

test("the loss ranking is the self-confidence order; scores follow their definitions", () => {
  const probs = new Float32Array([0.7, 0.2, 0.1, 0.1, 0.6, 0.3, 0.3, 0.3, 0.4]);
  const labels = new Int32Array([0, 0, 2]);
  const loss = suspicionScores(probs, labels, { method: "loss" });
  assert.deepEqual(Array.from(loss, (v) => +v.toFixed(6)), [-Math.log(0.7), -Math.log(0.1), -Math.log(0.4)].map((v) => +v.toFixed(6)));
  assert.deepEqual(rankLabelIssues(probs, labels, { method: "loss" }).map((r) => r.index), [1, 2, 0]);
  assert.deepEqual(Array.from(labelQualityScores(probs, labels, "normalized_margin"), (v) => +v.toFixed(6)), [0.75, 0.25, 0.55]);
  assert.equal(DEFAULT_RANKING.method, "loss");
  assert.throws(() => suspicionScores(probs, labels, { method: "knn" }), /needs the model's features/);
  assert.throws(() => suspicionScores(probs, labels, { method: "bogus" as never }), /unknown ranking method/);
  assert.throws(() => rankLabelIssues(probs, new Int32Array([0, 5, 0])), /class index/);
});

test("ties are broken by index, the same way every time", () => {
  const n = 9;
  const probs = new Float32Array(n * 3).fill(1 / 3);
  const labels = new Int32Array(n); // one label, uniform probabilities, identical features: every score ties
  const emb = new Float32Array(n * 2).fill(1);
  for (const method of RANK_METHODS) {
    const a = rankLabelIssues(probs, labels, { method, embeddings: emb, k: 3 }).map((r) => r.index);
    const b = rankLabelIssues(probs, labels, { method, embeddings: emb, k: 3 }).map((r) => r.index);
    assert.deepEqual(a, b, method);
    assert.deepEqual(a, [...a].sort((x, y) => x - y), `${method}: equal scores keep index order`);
  }
  // Nearest neighbours of identical features: the lowest indices, itself excluded.
  assert.deepEqual(Array.from(nearestNeighbours(emb, n, 2).subarray(0, 4)), [1, 2, 0, 2]);
  assert.deepEqual(Array.from(neighbourAgreement(new Float32Array([1, 0, 1, 0.1, 0, 1, 0.1, 1]), new Int32Array([0, 0, 1, 0]), 1)), [1, 1, 0, 0]);
});

test("near duplicates with different labels: the more suspicious image of the pair leads", () => {
  const probs = new Float32Array([0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.5, 0.5, 0.05, 0.95]);
  const labels = new Int32Array([0, 0, 0, 0, 0]); // example 4 is the most suspicious by loss
  // Pair (0, 1): labels 0 and 1 differ once 1 is relabelled; pair (2, 3): same label, no conflict.
  const l2 = new Int32Array([0, 1, 0, 0, 0]);
  const ranked = rankLabelIssues(probs, l2, { duplicates: [[0, 1], [2, 3]] });
  assert.equal(ranked[0].index, 1, "of the conflicting pair, the one the model doubts more (p_given 0.8 < 0.9)");
  assert.equal(ranked[0].duplicateConflict, true);
  assert.deepEqual(ranked.slice(1).map((r) => r.index), [4, 3, 2, 0], "then by loss; the partner keeps its place");
  assert.ok(ranked.slice(1).every((r) => !r.duplicateConflict));
  assert.deepEqual(rankLabelIssues(probs, labels, { duplicates: [[2, 3]] }).map((r) => r.index), [4, 1, 3, 2, 0], "same labels: no reordering");
  assert.throws(() => rankLabelIssues(probs, labels, { duplicates: [[0, 9]] }), /not a pair of example indices/);
});

test("precision/recall at k and ROC AUC on hand-made orders", () => {
  const isError = [1, 0, 1, 0, 0];
  assert.deepEqual(precisionRecallAtK([0, 2, 1, 3, 4], isError, 2), { precision: 1, recall: 1 });
  assert.deepEqual(precisionRecallAtK([1, 0, 3, 2, 4], isError, 2), { precision: 0.5, recall: 0.5 });
  assert.equal(rocAuc([0, 2, 1, 3, 4], isError), 1);
  assert.equal(rocAuc([1, 3, 4, 0, 2], isError), 0);
  assert.equal(rocAuc([0, 1, 2, 3, 4], isError), 5 / 6);
});

test("calibration: the measured table reads as a share of wrong labels, non-increasing in p_given", () => {
  assert.equal(MEASURED_WRONG_SHARE.length, CALIBRATION_EDGES.length - 1);
  assert.ok(MEASURED_WRONG_SHARE.some((v) => v > 0), "the table was measured (npm run bench:curation -- --write-calibration)");
  const table = monotoneWrongShare();
  for (let b = 1; b < table.length; b++) assert.ok(table[b] <= table[b - 1]);
  assert.deepEqual(monotoneWrongShare([0.5, 0.2, 0.3, 0.1]), [0.5, 0.25, 0.25, 0.1]);
  assert.ok(wrongShare(0.01) > wrongShare(0.3) && wrongShare(0.3) > wrongShare(0.95));
  assert.ok(wrongShare(0.95) < 0.05, "a face the model agrees with is rarely wrong");
  assert.equal(wrongShare(1), table[table.length - 1]);
});

test("modelStrength: a near-chance or nearly uniform model is called too weak, in words", () => {
  const d = synthetic(400, 4);
  const good = modelStrength(d.probs, d.labels);
  assert.equal(good.weak, false);
  assert.ok(good.accuracy > 0.6);
  const uniformish = new Float32Array(400 * 4).map((_, j) => (j % 4 === 0 ? 0.28 : 0.24));
  const u = modelStrength(uniformish, d.labels, ["a", "b", "c", "d"]);
  assert.equal(u.weak, true);
  assert.match(u.reason!, /nearly uniform/);
  // Confident but always answering class 0: accuracy = that class's share.
  const always0 = new Float32Array(400 * 4).map((_, j) => (j % 4 === 0 ? 0.9 : 0.1 / 3));
  const a = modelStrength(always0, d.labels, ["anger", "b", "c", "d"]);
  assert.equal(a.weak, true);
  assert.match(a.reason!, /too weak .* "\w+"/);
  // findLabelIssues passes it on to every suspect (the review grid then shows no number).
  const r = findLabelIssues(always0, d.labels);
  assert.equal(r.strength.weak, true);
  assert.ok(r.suspects.length > 0);
  assert.ok(r.suspects.every((s) => s.weakModel === modelStrength(always0, d.labels).reason));
});

test("findLabelIssues: the default ranking, named; suspects carry what their score means", () => {
  const d = synthetic();
  const r = findLabelIssues(d.probs, d.labels);
  assert.deepEqual(r.ranking, { method: "loss", rankBy: "self_confidence", duplicatesFirst: false });
  for (let j = 1; j < r.suspects.length; j++) assert.ok(r.suspects[j - 1].suspicion! >= r.suspects[j].suspicion!, "most suspicious first");
  assert.ok(r.suspects.every((s) => s.wrongShare === wrongShare(s.selfConfidence) && s.weakModel === undefined));
  // A conflicting near-duplicate pair: its more suspicious image is a suspect and leads.
  const calm = d.flipped.findIndex((f, i) => !f && d.labels[i] === 0 && d.probs[i * d.K] > 0.8);
  const other = d.flipped.findIndex((f, i) => !f && d.labels[i] === 1 && d.probs[i * d.K + 1] > 0.8);
  const withDup = findLabelIssues(d.probs, d.labels, { duplicates: [[calm, other]] });
  assert.equal(withDup.ranking.duplicatesFirst, true);
  assert.equal(withDup.suspects[0].duplicateConflict, true);
  assert.ok([calm, other].includes(withDup.suspects[0].index));
  // The old order by score is still there.
  const old = findLabelIssues(d.probs, d.labels, { rank: "score", rankBy: "normalized_margin" });
  assert.equal(old.ranking.method, "score");
  for (let j = 1; j < old.suspects.length; j++) assert.ok(old.suspects[j - 1].score <= old.suspects[j].score);
  const knn = findLabelIssues(d.probs, d.labels, { rank: "loss+knn", embeddings: d.embeddings });
  assert.deepEqual(knn.ranking, { method: "loss+knn", rankBy: "self_confidence", k: 15, beta: 0.25, duplicatesFirst: false });
});

test("relabelling an image to the label it already has is not a decision: nothing is written", async () => {
  const root = await writeTinyFaceFolder("fernb-rank-noop-", [["anger/a0.png", 10], ["fear/f0.png", 130]]);
  const ds = await loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false });
  const ledger = await CurationLedger.open(ds);
  assert.equal(await ledger.relabel("anger/a0.png", "anger"), null);
  assert.equal(await ledger.relabel("anger/a0.png", "angry"), null, "an alias of the same label");
  assert.equal(existsSync(ledger.file), false, "no ledger file created");
  const first = await ledger.relabel("anger/a0.png", "fear");
  assert.equal(first?.newLabel, "fear");
  assert.equal(await ledger.relabel("anger/a0.png", "fear"), null, "already fear after the ledger's decision");
  assert.equal(readFileSync(ledger.file, "utf8").trim().split("\n").length, 1);
  const back = await ledger.relabel("anger/a0.png", "anger");
  assert.equal(back?.newLabel, "anger", "back to the folder's label is a decision");
  await ledger.undo(back!);
  assert.equal(await ledger.relabel("anger/a0.png", "fear"), null, "the undo brought fear back");
  assert.equal(readFileSync(ledger.file, "utf8").trim().split("\n").length, 3);
  await assert.rejects(ledger.relabel("anger/a0.png", "joyful-ish"), /newLabel/);
});

test("review grid: a suspicion shows as the benchmark's share of wrong labels; a weak model says so; a same-label relabel writes nothing", async () => {
  const root = await writeTinyFaceFolder("fernb-rank-review-", [["anger/a0.png", 10], ["fear/f0.png", 130], ["happy/h0.png", 210]]);
  const ds = await loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false });
  const payloadOf = (grid: { [DISPLAY](): { mime: string; data: string | Uint8Array }[] }): ReviewPayload => JSON.parse(grid[DISPLAY]().find((i) => i.mime === REVIEW_MIME)!.data as string);
  const fi = ds.paths.indexOf("fear/f0.png");
  const suspect = { index: fi, given: 2, suggested: 3, selfConfidence: 0.01, margin: -0.9, score: 0.01 };
  const calibrated = payloadOf(await review(ds, { suspects: [{ ...suspect, wrongShare: wrongShare(0.01) }] }));
  const issue = calibrated.items.find((i) => i.path === "fear/f0.png")!.issue!;
  assert.ok(Math.abs(issue.score - wrongShare(0.01)) < 0.002, `score ${issue.score} is the share of wrong labels, not 1 - p (0.99)`);
  assert.match(issue.detail!, new RegExp(`about ${Math.round(100 * wrongShare(0.01))}% of faces scored like this had a wrong label`));
  const weak = payloadOf(await review(ds, { suspects: [{ ...suspect, wrongShare: 0.6, weakModel: "The model is too weak for its suspicions to mean much." }] }));
  const wi = weak.items.find((i) => i.path === "fear/f0.png")!.issue!;
  assert.equal(wi.score, 0);
  assert.match(wi.detail!, /too weak/);

  const ask = (m: object) => handleReviewMessage({ reviewId: calibrated.reviewId, ...m });
  const same = await ask({ action: "relabel", path: "fear/f0.png", label: "fear" });
  assert.equal(same.ok, true, JSON.stringify(same));
  assert.equal(same.ok && same.ledgerLine, null);
  assert.deepEqual(same.ok && same.state, { originalLabel: "fear", label: "fear", excluded: false });
  assert.equal(existsSync(path.join(root, ".fernb-ledger.jsonl")), false, "nothing written");
  const moved = await ask({ action: "relabel", path: "fear/f0.png", label: "happiness" });
  assert.equal(moved.ok && moved.ledgerLine?.newLabel, "happiness");
  const again = await ask({ action: "relabel", path: "fear/f0.png", label: "happiness" });
  assert.equal(again.ok && again.ledgerLine, null);
  // Undo takes back the real decision, not the no-op.
  const undo = await ask({ action: "undo" });
  assert.equal(undo.ok && undo.state.label, "fear");
  assert.equal(readFileSync(path.join(root, ".fernb-ledger.jsonl"), "utf8").trim().split("\n").length, 2);
});

function fernb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const work = mkdtempSync(path.join(tmpdir(), "fernb-rank-cli-"));
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repo, "bin/fernb.js"), ...args], { cwd: repo, env: { ...process.env, FERNB_CACHE_DIR: path.join(work, "cache") }, timeout: 300_000, maxBuffer: 32 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("fernb audit --json names its ranking and parameters (sample faces, shipped model)", async () => {
  const data = path.join(repo, "notebooks/data/sample/val");
  const model = path.join(repo, "models/fer2013-resnet18");
  const r = await fernb(["audit", "--data", data, "--model", model, "--json", "--limit", "20"]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(json.ranking.method, DEFAULT_RANKING.method);
  assert.equal(json.ranking.tta, DEFAULT_RANKING.tta);
  assert.equal(json.ranking.duplicatesFirst, DEFAULT_RANKING.duplicatesFirst);
  assert.equal(json.ranking.isDefault, true);
  assert.match(json.ranking.chosenBy, /bench:curation/);
  assert.equal(json.model.weak, false, "the shipped model is not near chance on FER2013 faces");
  assert.equal(json.suspects.length, 20);
  for (const s of json.suspects) assert.ok(s.wrongShare > 0 && s.wrongShare < 1, JSON.stringify(s));
  const plain = await fernb(["audit", "--data", data, "--model", model, "--json", "--limit", "20", "--rank", "plain-loss"]);
  assert.equal(plain.code, 0, plain.stderr);
  const pj = JSON.parse(plain.stdout.trim().split("\n").pop()!);
  assert.deepEqual([pj.ranking.method, pj.ranking.tta, pj.ranking.duplicatesFirst, pj.ranking.isDefault], ["plain-loss", "none", false, false]);
  const scores = pj.suspects.map((s: { score: number }) => s.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => a - b), "the plain loss ranking: least confident first");
  // Cross-validated on 14 tiny faces for one epoch: the JSON says whether the model is too weak, and
  // then gives no benchmark share (null) and a warning in words.
  const tiny = await writeTinyFaceFolder("fernb-rank-audit-", ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"].flatMap((c, k) => [[`${c}/a.png`, 20 * k], [`${c}/b.png`, 20 * k + 7]] as [string, number][]));
  const cv = await fernb(["audit", "--data", tiny, "--folds", "2", "--epochs", "1", "--json"]);
  assert.equal(cv.code, 0, cv.stderr);
  const cj = JSON.parse(cv.stdout.trim().split("\n").pop()!);
  assert.deepEqual([cj.ranking.method, cj.ranking.tta, cj.ranking.duplicatesFirst], ["loss", "none", true]);
  assert.equal(typeof cj.model.weak, "boolean");
  if (cj.model.weak) {
    assert.match(cv.stderr, /warning: The model is too (weak|unsure) for its suspicions to mean much/);
    assert.ok(cj.suspects.every((s: { wrongShare: number | null }) => s.wrongShare === null));
  } else assert.ok(cj.suspects.every((s: { wrongShare: number | null }) => typeof s.wrongShare === "number"));
  const bad = await fernb(["audit", "--data", data, "--rank", "knn"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--rank knn needs a model's features: use it with --model/);
  const badRank = await fernb(["audit", "--data", data, "--model", model, "--rank", "magic"]);
  assert.equal(badRank.code, 2);
  assert.match(badRank.stderr, /--rank must be one of loss, /);
});
