/**
 * The review grid's kernel side: the payload, the registry and the validation of renderer messages
 * (untrusted webview input), and the ledger lines the accepted actions append.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { DISPLAY } from "../../kernel/display";
import { loadFolderDataset } from "../../kernel/fer/dataset";
import { applyLedger, CurationLedger } from "../../kernel/fer/curation/ledger";
import { handleReviewCamMessage, handleReviewMessage, handleReviewRendererMessage, parseReviewRequest, review, REVIEW_MIME, type ReviewPayload } from "../../kernel/fer/curation/review";
import { createResNet18 } from "../../kernel/fer/resnet";
import * as tf from "@tensorflow/tfjs";
import { writeTinyFaceFolder } from "../helpers/tinyFaces";

function makeDataset(): Promise<string> {
  return writeTinyFaceFolder("fernb-review-", [["anger/a0.png", 10], ["anger/a1.png", 50], ["fear/f0.png", 130], ["happy/h0.png", 210]]);
}

const load = (root: string) => loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false });
const payloadOf = (grid: { [DISPLAY](): { mime: string; data: string | Uint8Array }[] }): ReviewPayload =>
  JSON.parse(grid[DISPLAY]().find((i) => i.mime === REVIEW_MIME)!.data as string);
const ledgerLines = (root: string) => readFileSync(path.join(root, ".fernb-ledger.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));

test("review payload: items, thumbnails, suspects first, predictions, ledger state", async () => {
  const root = await makeDataset();
  const ds = await load(root);
  const ledger = await CurationLedger.open(ds);
  await ledger.exclude("anger/a1.png");
  const probs = new Float32Array(ds.size * 7).fill(0.01);
  ds.paths.forEach((_, i) => (probs[i * 7 + 3] = 0.94));
  const fi = ds.paths.indexOf("fear/f0.png");
  const grid = await review(ds, { probs, suspects: [{ index: fi, given: 2, suggested: 3, selfConfidence: 0.01, margin: -0.9, score: 0.1 }] });
  const p = payloadOf(grid);
  assert.match(p.reviewId, /^review-/);
  assert.equal(p.dataset, path.basename(root));
  assert.equal(p.classes.length, 7);
  assert.equal(p.total, 4);
  assert.equal(p.items[0].path, "fear/f0.png");
  assert.deepEqual(p.items[0].issue, { kind: "label", score: 0.9, suggested: "happiness", detail: "labelled fear, likely happiness (p = 0.01)" });
  assert.equal(p.items[0].predictions![0].label, "happiness");
  assert.equal(p.items[0].predictions!.length, 3);
  assert.match(p.items[0].thumb, /^data:image\/png;base64,/);
  const meta = await sharp(Buffer.from(p.items[0].thumb.split(",")[1], "base64")).metadata();
  assert.deepEqual([meta.width, meta.height], [48, 48]);
  const a1 = p.items.find((i) => i.path === "anger/a1.png")!;
  assert.deepEqual(a1.state, { originalLabel: "anger", label: "anger", excluded: true });
  // Filters and the cap.
  const onlyAnger = payloadOf(await review(ds, { filter: { label: "anger" }, limit: 1 }));
  assert.deepEqual([onlyAnger.total, onlyAnger.items.length, onlyAnger.items[0].label], [2, 1, "anger"]);
  assert.equal(payloadOf(await review(ds, { suspects: [{ index: fi, given: 2, suggested: 3, selfConfidence: 0.01, margin: -0.9, score: 0.1 }], filter: { issue: "any" } })).items.length, 1);
});

test("renderer messages: validation, unknown review, path traversal and symlinks rejected", async () => {
  const root = await makeDataset();
  // A symlink inside the dataset pointing outside it.
  const outside = mkdtempSync(path.join(tmpdir(), "fernb-outside-"));
  writeFileSync(path.join(outside, "x.png"), readFileSync(path.join(root, "anger/a0.png")));
  symlinkSync(path.join(outside, "x.png"), path.join(root, "anger", "link.png"));
  const ds = await load(root);
  assert.ok(ds.paths.includes("anger/link.png"), "the loader follows the symlink");
  const { reviewId } = payloadOf(await review(ds));
  const ask = (m: object) => handleReviewMessage({ reviewId, requestId: 7, ...m });

  for (const bad of [null, "x", [], { reviewId }, { reviewId, action: "delete", path: "anger/a0.png" }, { reviewId: 5, action: "exclude", path: "a" }]) {
    const r = await handleReviewMessage(bad);
    assert.equal(r.ok, false, JSON.stringify(bad));
  }
  assert.throws(() => parseReviewRequest({ reviewId, action: "relabel", path: "anger/a0.png", label: "joy" }), /label must be one of/);
  assert.throws(() => parseReviewRequest({ reviewId, action: "exclude", path: "anger/a0.png", label: "fear" }), /only for relabel/);

  const unknown = await handleReviewMessage({ reviewId: "review-nope", action: "exclude", path: "anger/a0.png", requestId: "q1" });
  assert.equal(unknown.ok, false);
  assert.equal(unknown.requestId, "q1");
  assert.match((unknown as { error: string }).error, /run the review cell again/);

  // Each refused for its path, before the item allow-list is consulted: the reason says so.
  const plainRelative = /is not a plain relative path \(no "\.\.", "\." or empty parts\)/;
  const absolute = /absolute paths are not allowed/;
  const refusals: [string, RegExp][] = [
    ["../etc/passwd", plainRelative],
    ["anger/../../x.png", plainRelative],
    ["anger/../anger/a0.png", plainRelative], // would name a real item once normalised
    ["/etc/passwd", absolute],
    [path.join(root, "anger/a0.png"), absolute],
    ["C:\\x.png", absolute],
    ["anger\\..\\..\\x", plainRelative],
    ["anger/./a0.png", plainRelative],
    ["anger//a0.png", plainRelative],
  ];
  for (const [p, reason] of refusals) {
    const r = await ask({ action: "exclude", path: p });
    assert.equal(r.ok, false, p);
    assert.match((r as { error: string }).error, reason, p);
    assert.doesNotMatch((r as { error: string }).error, /not an image of this review/, p);
  }
  const notItem = await ask({ action: "exclude", path: "anger/zz.png" });
  assert.match((notItem as { error: string }).error, /not an image of this review/);
  const link = await ask({ action: "exclude", path: "anger/link.png" });
  assert.equal(link.ok, false);
  assert.match((link as { error: string }).error, /outside the dataset root/);
  // Nothing was written.
  assert.equal((await (await CurationLedger.open(ds)).read()).entries.length, 0);
});

test("renderer messages: relabel, exclude, restore and undo append ledger lines; the state reflects the replay", async () => {
  const root = await makeDataset();
  const ds = await load(root);
  const probs = new Float32Array(ds.size * 7).fill(0.01);
  ds.paths.forEach((_, i) => (probs[i * 7 + 4] = 0.94));
  const { reviewId } = payloadOf(await review(ds, { probs }));
  const ask = (m: object) => handleReviewMessage({ reviewId, ...m });

  const r1 = await ask({ action: "relabel", path: "fear/f0.png", label: "surprise", requestId: "a" });
  assert.equal(r1.ok, true, JSON.stringify(r1));
  if (!r1.ok) return;
  assert.equal(r1.requestId, "a");
  assert.deepEqual(r1.state, { originalLabel: "fear", label: "surprise", excluded: false, relabelled: "surprise" });
  assert.equal(r1.ledgerLine!.source, "manual");
  // Accepting the suggestion (the model's top prediction) is recorded as such.
  const r2 = await ask({ action: "relabel", path: "anger/a0.png", label: "sadness" });
  assert.equal(r2.ok && r2.ledgerLine!.source, "suggestion");
  const r3 = await ask({ action: "exclude", path: "anger/a1.png" });
  assert.deepEqual(r3.ok && r3.state, { originalLabel: "anger", label: "anger", excluded: true });
  const r4 = await ask({ action: "restore", path: "anger/a1.png" });
  assert.equal(r4.ok && r4.state.excluded, false);
  // Undo the last decision (the restore): excluded again.
  const u1 = await ask({ action: "undo" });
  assert.equal(u1.ok, true);
  assert.deepEqual(u1.ok && [u1.path, u1.state.excluded, u1.ledgerLine!.action, u1.ledgerLine!.undoes], ["anger/a1.png", true, "undo", r4.ok && r4.ledgerLine!.id]);
  // Undo by path, and by id.
  const u2 = await ask({ action: "undo", path: "fear/f0.png" });
  assert.deepEqual(u2.ok && u2.state, { originalLabel: "fear", label: "fear", excluded: false });
  const u3 = await ask({ action: "undo", decisionId: r3.ok ? r3.ledgerLine!.id : "" });
  assert.equal(u3.ok && u3.state.excluded, false);
  const lines = ledgerLines(root);
  assert.deepEqual(lines.map((l) => l.action), ["relabel", "relabel", "exclude", "restore", "undo", "undo", "undo"]);
  const applied = await applyLedger(ds);
  assert.deepEqual(applied.report.relabelled, [{ path: "anger/a0.png", from: "anger", to: "sadness" }]);
  assert.deepEqual(applied.report.excluded, []);
  // Nothing left to undo for that path; an unknown decision id is refused.
  assert.equal((await ask({ action: "undo", path: "fear/f0.png" })).ok, false);
  assert.equal((await ask({ action: "undo", decisionId: "nope-1" })).ok, false);
});

test("reviewing a curated view (the loader applied the ledger): raw labels in the ledger, excluded images stay in the open grid", async () => {
  const root = await makeDataset();
  const first = await load(root);
  const ledger = await CurationLedger.open(first);
  await ledger.relabel("anger/a0.png", "fear");
  await ledger.exclude("anger/a1.png");
  const ds = await load(root); // curated: a0 (fear), f0, h0
  assert.deepEqual(ds.paths, ["anger/a0.png", "fear/f0.png", "happy/h0.png"]);
  const probs = new Float32Array(ds.size * 7).fill(0.01);
  ds.paths.forEach((_, i) => (probs[i * 7 + 6] = 0.94));
  // Suspects and probs are indexed by the curated view (f0 is image 1 here, 2 in the raw data).
  const grid = payloadOf(await review(ds, { probs, suspects: [{ index: 1, given: 2, suggested: 6, selfConfidence: 0.01, margin: -0.9, score: 0.1 }] }));
  assert.equal(grid.total, 3);
  assert.deepEqual(grid.items.map((i) => i.path), ["fear/f0.png", "anger/a0.png", "happy/h0.png"]);
  const a0 = grid.items.find((i) => i.path === "anger/a0.png")!;
  assert.equal(a0.label, "anger", "the item's label is the folder label");
  assert.deepEqual(a0.state, { originalLabel: "anger", label: "fear", excluded: false, relabelled: "fear" }, "the relabel is shown once, not stale");
  const ask = (m: object) => handleReviewMessage({ reviewId: grid.reviewId, ...m });

  const ex = await ask({ action: "exclude", path: "anger/a0.png" });
  assert.equal(ex.ok, true, JSON.stringify(ex));
  assert.deepEqual(ex.ok && [ex.ledgerLine!.oldLabel, ex.state.label, ex.state.excluded], ["anger", "fear", true]);
  // Still an item of the open grid: it can be restored and relabelled.
  const back = await ask({ action: "restore", path: "anger/a0.png" });
  assert.deepEqual(back.ok && back.state, { originalLabel: "anger", label: "fear", excluded: false, relabelled: "fear" });
  const f0 = await ask({ action: "relabel", path: "fear/f0.png", label: "neutral" });
  assert.deepEqual(f0.ok && [f0.ledgerLine!.oldLabel, f0.ledgerLine!.source, f0.state.originalLabel, f0.state.label], ["fear", "suggestion", "fear", "neutral"]);
  const a0again = await ask({ action: "relabel", path: "anger/a0.png", label: "surprise" });
  assert.equal(a0again.ok && a0again.ledgerLine!.oldLabel, "anger");
  assert.deepEqual(ledgerLines(root).map((l) => l.oldLabel), ["anger", "anger", "anger", "anger", "fear", "anger"]);

  // The next load applies every decision: none is stale.
  const reloaded = await load(root);
  assert.equal(reloaded.curation!.report.stale.length, 0);
  assert.deepEqual(reloaded.paths.map((p, i) => `${p}:${reloaded.label(i)}`), ["anger/a0.png:surprise", "fear/f0.png:neutral", "happy/h0.png:happiness"]);
});

test("review with a model: checked options, the model's predictions, Grad-CAM heat maps at most 64 on a side", async () => {
  const root = await makeDataset();
  const ds = await load(root); // 8×8
  const model = createResNet18({ height: 8, width: 8, channels: 1, stem: "cifar", widths: [8, 8, 8, 8], seed: 5 });
  const normalization = { mean: 0.5, std: 0.25 };
  await assert.rejects(review(ds, { model }), /with a model, pass normalization too/);
  await assert.rejects(review(ds, { model: createResNet18({ height: 16, width: 16, channels: 1, stem: "cifar", widths: [8, 8, 8, 8] }), normalization }), /takes 16×16×1 images/);
  await assert.rejects(review(ds, { model, normalization, cam: { layer: "fc" } }), /cam\.layer fc/);

  const p = payloadOf(await review(ds, { model, normalization }));
  // The default Grad-CAM layer: the deepest block output with at least a 6×6 grid (8×8 at layer1 here).
  assert.deepEqual(p.cam, { method: "Grad-CAM", layer: "layer1_1_out" });
  // Predictions are the model's own.
  const i = ds.paths.indexOf("fear/f0.png");
  const x = tf.tensor4d(Float32Array.from(ds.image(i), (v) => (v / 255 - 0.5) / 0.25), [1, 8, 8, 1]);
  const probs = Array.from((model.predict(x) as tf.Tensor).dataSync());
  const top = probs.indexOf(Math.max(...probs));
  const item = p.items.find((it) => it.path === "fear/f0.png")!;
  assert.equal(item.predictions![0].p, Math.round(probs[top] * 1000) / 1000);
  // filter.predicted works from the model's predictions too.
  const byPred = payloadOf(await review(ds, { model, normalization, filter: { predicted: item.predictions![0].label } }));
  assert.ok(byPred.items.length >= 1 && byPred.items.every((it) => it.predictions![0].label === item.predictions![0].label));

  const cam = await handleReviewRendererMessage({ reviewId: p.reviewId, requestId: 1, action: "gradcam", path: "fear/f0.png" });
  assert.equal(cam.ok, true, JSON.stringify(cam).slice(0, 300));
  assert.ok(cam.ok && "cam" in cam, "a Grad-CAM reply");
  assert.deepEqual([cam.requestId, cam.width, cam.height, cam.cam.length, cam.cam[0].length], [1, 8, 8, 8, 8]);
  assert.equal(cam.predicted, item.predictions![0].label);
  assert.ok(cam.cam.flat().every((v) => v >= 0 && v <= 1));
  // A review without a model, and a non-item, are refused.
  const plain = payloadOf(await review(ds));
  const none = await handleReviewCamMessage({ reviewId: plain.reviewId, action: "gradcam", path: "fear/f0.png" });
  assert.match(!none.ok ? none.error : "", /has no model/);
  const notItem = await handleReviewCamMessage({ reviewId: p.reviewId, action: "gradcam", path: "fear/zz.png" });
  assert.match(!notItem.ok ? notItem.error : "", /not an image of this review/);
  // The ledger actions still go through the same entry point, and nothing was written by Grad-CAM.
  assert.equal((await CurationLedger.open(ds).then((l) => l.read())).entries.length, 0);
  const ex = await handleReviewRendererMessage({ reviewId: p.reviewId, action: "exclude", path: "fear/f0.png" });
  assert.equal(ex.ok, true);

  // Larger images: the heat map is box-filtered down to 64 on its longer side.
  const big = await loadFolderDataset(root, { height: 80, width: 80, cacheDir: false, memoryCache: false });
  const bigModel = createResNet18({ height: 80, width: 80, channels: 1, widths: [8, 8, 8, 8], seed: 5 });
  const bp = payloadOf(await review(big, { model: bigModel, normalization }));
  const bc = await handleReviewCamMessage({ reviewId: bp.reviewId, action: "gradcam", path: "anger/a0.png", class: "disgust" });
  assert.equal(bc.ok, true, JSON.stringify(bc).slice(0, 300));
  assert.deepEqual(bc.ok && [bc.class, bc.width, bc.height, bc.cam.length, bc.cam[63].length], ["disgust", 64, 64, 64, 64]);
  x.dispose();
  model.dispose();
  bigModel.dispose();
});
