/**
 * Several sources in one data set (issue #17): loadSources (per-source counts, ledgers, display,
 * fingerprints), near copies across sources, evaluate per source (against hand counts) and the
 * cross-source table with stub models.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs";
import { FaceDataset, loadFolderDataset } from "../../kernel/fer/dataset";
import { crossSourceDuplicates, crossSourceEvaluation, loadSources } from "../../kernel/fer/sources";
import { evaluate } from "../../kernel/fer/evaluate";
import { basicMetrics } from "../../kernel/fer/metrics";
import { CurationLedger } from "../../kernel/fer/curation/ledger";
import { EMOTIONS, type Emotion } from "../../kernel/fer/labels";
import { DISPLAY } from "../../kernel/display";
import { initBackend } from "../../kernel/fer/backend";

before(async () => {
  await initBackend();
});

/** 8×8 grayscale noise from a seed: different seeds are far apart in pHash, the same seed is an identical image. */
function noise(seed: number): Buffer {
  const px = Buffer.alloc(64);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < 64; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    px[i] = s & 255;
  }
  return px;
}

async function writeSource(parent: string, name: string, files: [string, number][]): Promise<string> {
  const root = path.join(parent, name);
  for (const [rel, seed] of files) {
    mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    await sharp(noise(seed), { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(path.join(root, rel));
  }
  return root;
}

const OPTS = { height: 8, width: 8, channels: 1 as const, cacheDir: false as const, memoryCache: false };

async function threeSources() {
  const parent = mkdtempSync(path.join(tmpdir(), "fernb-sources-"));
  // a: 2 happiness, 1 sadness (a/happiness/h2.png is an identical copy of h1: a duplicate WITHIN a, not across)
  const a = await writeSource(parent, "a", [["happiness/h1.png", 1], ["happiness/h2.png", 1], ["sadness/s1.png", 2]]);
  // b: 1 happiness (the same picture as a/happiness/h1.png: a copy across sources), 2 anger
  const b = await writeSource(parent, "b", [["happiness/x.png", 1], ["anger/a1.png", 3], ["anger/a2.png", 4]]);
  // c: 1 neutral, 1 surprise, 1 fear; its ledger excludes fear/f.png
  const c = await writeSource(parent, "c", [["neutral/n.png", 5], ["surprise/u.png", 6], ["fear/f.png", 7]]);
  const ledger = await CurationLedger.open(c);
  await ledger.exclude("fear/f.png", { oldLabel: "fear" });
  return { parent, a, b, c };
}

test("loadSources: images per source and class, each folder's ledger replayed, paths under the common parent", async () => {
  const { parent, a, b, c } = await threeSources();
  const data = await loadSources([{ name: "fer2013", root: a }, { name: "web", root: b }, { name: "gen", root: c }], OPTS);
  assert.equal(data.size, 3 + 3 + 2); // c's fear image excluded by its ledger
  assert.deepEqual(data.sources, ["fer2013", "web", "gen"]);
  assert.equal(data.root, parent);
  assert.deepEqual(data.paths, ["a/happiness/h1.png", "a/happiness/h2.png", "a/sadness/s1.png", "b/anger/a1.png", "b/anger/a2.png", "b/happiness/x.png", "c/neutral/n.png", "c/surprise/u.png"]);
  assert.deepEqual(Array.from({ length: data.size }, (_, i) => data.sourceOf(i)), ["fer2013", "fer2013", "fer2013", "web", "web", "web", "gen", "gen"]);
  const counts = data.sourceCounts();
  assert.equal(counts.fer2013.happiness, 2);
  assert.equal(counts.fer2013.sadness, 1);
  assert.equal(counts.web.anger, 2);
  assert.equal(counts.web.happiness, 1);
  assert.equal(counts.gen.neutral, 1);
  assert.equal(counts.gen.surprise, 1);
  assert.equal(counts.gen.fear, 0);
  // Subsets and filters by source keep the sources.
  const web = data.fromSource("web");
  assert.equal(web.size, 3);
  assert.deepEqual([...web.sources], ["fer2013", "web", "gen"]);
  assert.ok(Array.from({ length: web.size }, (_, i) => web.sourceOf(i)).every((s) => s === "web"));
  assert.equal(data.fromSource("fer2013", "gen").size, 5);
  const sub = data.subset([7, 0]);
  assert.deepEqual([sub.sourceOf(0), sub.sourceOf(1)], ["gen", "fer2013"]);
  assert.throws(() => data.fromSource("nope"), /no source named "nope"; the sources are "fer2013", "web", "gen"/);
  // Display: the source × class table, each source's folder and ledger, and the copy across sources.
  const text = data.summary();
  assert.match(text, /3 sources, images per source and class:/);
  const row = (name: string) => text.split("\n").find((l) => l.trim().startsWith(name + " "))!.trim().split(/\s+/);
  // columns: anger disgust fear happiness sadness surprise neutral total
  assert.deepEqual(row("fer2013").slice(1), ["0", "0", "0", "2", "1", "0", "0", "3"]);
  assert.deepEqual(row("web").slice(1), ["2", "0", "0", "1", "0", "0", "0", "3"]);
  assert.deepEqual(row("gen").slice(1), ["0", "0", "0", "0", "0", "1", "1", "2"]);
  assert.deepEqual(row("total").slice(1), ["2", "0", "0", "3", "1", "1", "1", "8"]);
  assert.match(text, /gen: .*Curation ledger \.fernb-ledger\.jsonl applied: 0 relabelled, 1 excluded/);
  assert.match(text, /Near copies across sources: 2 pairs \(2 identical, 0 with different labels/);
  assert.match(text, /fer2013:a\/happiness\/h1\.png \(happiness\) ≈ web:b\/happiness\/x\.png \(happiness\) identical/);
  const items = data[DISPLAY]();
  const spec = JSON.parse(items.find((i) => i.mime !== "text/plain")!.data as string);
  assert.equal(spec.encoding.color.field, "source");
  assert.equal(spec.data.values.length, 3 * EMOTIONS.length);
  assert.equal(spec.data.values.find((v: { source: string; emotion: string }) => v.source === "web" && v.emotion === "anger").count, 2);
  // The duplicate pairs index the data set (h1 ≈ x and h2 ≈ x; h1 ≈ h2 is within one source); the subset keeps only pairs it holds both ends of.
  assert.deepEqual(data.sourceInfo!.duplicates!.pairs.map((p) => [p.a, p.b]), [[0, 5], [1, 5]]);
  assert.equal(data.fromSource("web", "gen").sourceInfo!.duplicates!.pairs.length, 0);
  assert.equal(data.subset([5, 0]).sourceInfo!.duplicates!.pairs.length, 1);
});

test("crossSourceDuplicates lists only near copies whose images come from different sources", async () => {
  const { a, b, c } = await threeSources();
  const data = await loadSources([{ name: "fer2013", root: a }, { name: "web", root: b }, { name: "gen", root: c }], { ...OPTS, duplicates: false });
  assert.equal(data.sourceInfo!.duplicates, undefined);
  assert.doesNotMatch(data.summary(), /copies across sources/);
  const d = crossSourceDuplicates(data);
  // Within fer2013, h1 ≈ h2 and across sources h1 ≈ x and h2 ≈ x: the within-source pair is left out.
  assert.equal(d.all.pairs.length, 3);
  assert.equal(d.pairs.length, 2);
  assert.ok(d.pairs.every((p) => p.sourceA === "fer2013" && p.sourceB === "web" && p.exact));
  assert.deepEqual(d.counts(), { "fer2013 × web": 2 });
  assert.match(d.summary(), /Near copies across sources: 2 pair\(s\), 2 identical/);
});

test("one source has the fingerprint of its folder loaded alone; several sources hash the sources too", async () => {
  const { a, b } = await threeSources();
  const alone = await loadFolderDataset(a, OPTS);
  const one = await loadSources([{ name: "fer2013", root: a }], OPTS);
  assert.equal(one.fingerprint(), alone.fingerprint());
  assert.deepEqual(one.paths, alone.paths);
  const two = await loadSources([{ name: "fer2013", root: a }, { name: "web", root: b }], OPTS);
  const plain = new FaceDataset({ root: two.root, height: 8, width: 8, channels: 1, images: two.images, labels: two.labels, paths: two.paths });
  assert.notEqual(two.fingerprint(), plain.fingerprint());
  const renamed = await loadSources([{ name: "fer", root: a }, { name: "web", root: b }], OPTS);
  assert.notEqual(two.fingerprint(), renamed.fingerprint());
  const again = await loadSources([{ name: "fer2013", root: a }, { name: "web", root: b }], OPTS);
  assert.equal(two.fingerprint(), again.fingerprint());
});

test("loadSources says clearly what is wrong with the sources", async () => {
  const { a, b } = await threeSources();
  await assert.rejects(loadSources([]), /a list of sources/);
  await assert.rejects(loadSources([{ name: "x", root: a }, { name: "x", root: b }]), /two sources are named "x"/);
  await assert.rejects(loadSources([{ name: "x", root: a }, { name: "y", root: a }]), /are the same folder/);
  await assert.rejects(loadSources([{ name: "web", root: path.join(a, "missing") }], OPTS), /^Error: source "web": /);
  await assert.rejects(loadSources([{ name: "x", root: a }], { ledger: "l.jsonl" } as never), /a ledger file is per source/);
});

// ---- evaluate per source, and the cross-source table ------------------------------------------------

/** An 8×8 image whose pixel `k` is bright: the stub model below predicts class k for it. */
function imageFor(predicted: number): Uint8Array {
  const px = new Uint8Array(64);
  px[predicted] = 255;
  return px;
}

/** A data set of sources from [source, true label, predicted class] rows. */
function dataOf(names: string[], rows: [string, Emotion, Emotion][]): FaceDataset {
  const images = new Uint8Array(rows.length * 64);
  rows.forEach(([, , p], i) => images.set(imageFor(EMOTIONS.indexOf(p)), i * 64));
  return new FaceDataset({
    root: "/virtual",
    height: 8,
    width: 8,
    channels: 1,
    images,
    labels: Int32Array.from(rows.map(([, l]) => EMOTIONS.indexOf(l))),
    paths: rows.map(([s, l], i) => `${s}/${l}/${i}.png`),
    sourceInfo: { names, roots: names.map((n) => `/virtual/${n}`), index: Int32Array.from(rows.map(([s]) => names.indexOf(s))) },
  });
}

/** Predicts the class of the bright pixel (pixel k → class k). */
function pixelModel(): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 7, activation: "softmax" })] });
  const kernel = new Float32Array(64 * 7);
  for (let k = 0; k < 7; k++) kernel[k * 7 + k] = 1;
  model.layers[1].setWeights([tf.tensor2d(kernel, [64, 7]), tf.zeros([7])]);
  return model;
}

/** Always predicts `cls`, whatever the image. */
function constantModel(cls: Emotion): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 7, activation: "softmax" })] });
  const bias = new Float32Array(7);
  bias[EMOTIONS.indexOf(cls)] = 5;
  model.layers[1].setWeights([tf.zeros([64, 7]), tf.tensor1d(bias)]);
  return model;
}

const NORM = { mean: 0, std: 1 };

test("evaluate reports accuracy, macro-F1 and counts per source (hand counts)", async () => {
  const rows: [string, Emotion, Emotion][] = [
    // source a: 3 of 4 right
    ["a", "happiness", "happiness"],
    ["a", "happiness", "happiness"],
    ["a", "sadness", "sadness"],
    ["a", "sadness", "happiness"],
    // source b: 1 of 3 right
    ["b", "anger", "anger"],
    ["b", "anger", "fear"],
    ["b", "fear", "anger"],
  ];
  const data = dataOf(["a", "b"], rows);
  const model = pixelModel();
  const ev = await evaluate(model, data, { normalization: NORM, progress: false });
  model.dispose();
  assert.equal(ev.metrics.accuracy, 4 / 7);
  assert.deepEqual(ev.perSource.map((s) => [s.source, s.n, s.accuracy]), [["a", 4, 3 / 4], ["b", 3, 1 / 3]]);
  for (const [name, from, to] of [["a", 0, 4], ["b", 4, 7]] as const) {
    const part = rows.slice(from, to);
    const expected = basicMetrics(part.map(([, l]) => EMOTIONS.indexOf(l)), part.map(([, , p]) => EMOTIONS.indexOf(p)), 7).macroF1;
    assert.ok(Math.abs(ev.perSource.find((s) => s.source === name)!.macroF1 - expected) < 1e-12);
  }
  // source a: happiness p=2/3 r=1 → 0.8; sadness p=1 r=1/2 → 2/3 (the hand number behind basicMetrics)
  const aF1 = ev.perSource[0].metrics.perClass;
  assert.ok(Math.abs(aF1[EMOTIONS.indexOf("happiness")].f1 - 0.8) < 1e-6 && Math.abs(aF1[EMOTIONS.indexOf("sadness")].f1 - 2 / 3) < 1e-6);
  assert.deepEqual(ev.predictions.map((p) => p.source), ["a", "a", "a", "a", "b", "b", "b"]);
  const json = ev.toJSON() as { perSource: { source: string; n: number; accuracy: number; macroF1: number }[] };
  assert.deepEqual(json.perSource.map((s) => [s.source, s.n, s.accuracy]), [["a", 4, 0.75], ["b", 3, 1 / 3]]);
  assert.match(ev.summary(), /\na\s+75\.00%\s+\d\.\d{4}\s+4\n/);
  assert.match(ev.summary(), /\nb\s+33\.33%\s+\d\.\d{4}\s+3$/);
  // A data set of one folder: no perSource in the JSON (unchanged output for existing users).
  const plain = new FaceDataset({ root: "/virtual", height: 8, width: 8, channels: 1, images: data.images, labels: data.labels, paths: data.paths });
  const m2 = pixelModel();
  const ev2 = await evaluate(m2, plain, { normalization: NORM, progress: false });
  m2.dispose();
  assert.deepEqual(ev2.perSource, []);
  assert.equal("perSource" in ev2.toJSON(), false);
});

test("crossSourceEvaluation: rows trained on, columns evaluated on, with a stub fit (majority class)", async () => {
  // Training: a is mostly happiness, b mostly sadness, c mostly neutral; all together: happiness.
  const trainRows: [string, Emotion, Emotion][] = [
    ...Array.from({ length: 4 }, (): [string, Emotion, Emotion] => ["a", "happiness", "happiness"]),
    ["a", "sadness", "sadness"],
    ...Array.from({ length: 3 }, (): [string, Emotion, Emotion] => ["b", "sadness", "sadness"]),
    ...Array.from({ length: 2 }, (): [string, Emotion, Emotion] => ["c", "neutral", "neutral"]),
  ];
  const train = dataOf(["a", "b", "c"], trainRows);
  // Test: a 3 happiness + 1 sadness; b 2 happiness + 3 sadness; c 2 neutral.
  const testRows: [string, Emotion, Emotion][] = [
    ["a", "happiness", "anger"], ["a", "happiness", "anger"], ["a", "happiness", "anger"], ["a", "sadness", "anger"],
    ["b", "happiness", "anger"], ["b", "happiness", "anger"], ["b", "sadness", "anger"], ["b", "sadness", "anger"], ["b", "sadness", "anger"],
    ["c", "neutral", "anger"], ["c", "neutral", "anger"],
  ];
  const test_ = dataOf(["a", "b", "c"], testRows);
  const seen: [string, number][] = [];
  const fit = (data: FaceDataset, trainedOn: string) => {
    seen.push([trainedOn, data.size]);
    const counts = data.classCounts();
    const majority = EMOTIONS.reduce((best, e) => (counts[e] > counts[best] ? e : best), EMOTIONS[0]);
    return { model: constantModel(majority), normalization: NORM };
  };
  const table = await crossSourceEvaluation({ train, test: test_, fit, leaveOneOut: true, evaluation: { progress: false } });
  assert.deepEqual(seen, [["a", 5], ["b", 3], ["c", 2], ["all", 10], ["all − a", 5], ["all − b", 7], ["all − c", 8]]);
  assert.deepEqual(table.rows, ["a", "b", "c", "all", "all − a", "all − b", "all − c"]);
  assert.deepEqual(table.columns, ["a", "b", "c", "all"]);
  assert.deepEqual(table.testSizes, [4, 5, 2, 11]);
  assert.deepEqual(table.trainSizes, [5, 3, 2, 10, 5, 7, 8]);
  // happiness: a 3/4, b 2/5, c 0/2, all 5/11; sadness: 1/4, 3/5, 0, 4/11; neutral: 0, 0, 1, 2/11
  const happiness = [3 / 4, 2 / 5, 0, 5 / 11];
  const sadness = [1 / 4, 3 / 5, 0, 4 / 11];
  const neutral = [0, 0, 1, 2 / 11];
  // all − a: b+c → sadness 3 vs neutral 2; all − b: happiness; all − c: happiness
  const expected = [happiness, sadness, neutral, happiness, sadness, happiness, happiness];
  table.accuracy.forEach((row, r) => row.forEach((v, c) => assert.ok(Math.abs(v - expected[r][c]) < 1e-9, `${table.rows[r]} on ${table.columns[c]}: ${v} vs ${expected[r][c]}`)));
  const md = table.summary();
  assert.match(md, /\| trained on ↓ \/ test → \| a \(n=4\) \| b \(n=5\) \| c \(n=2\) \| all \(n=11\) \|/);
  assert.match(md, /\| a \(n=5\) \| 75\.0% \([\d.]+\) \| 40\.0% \([\d.]+\) \| 0\.0% \([\d.]+\) \| 45\.5% \([\d.]+\) \|/);
  const html = table[DISPLAY]().find((i) => i.mime === "text/html")!.data as string;
  assert.equal((html.match(/<tr>/g) ?? []).length, 1 + 7);
  assert.match(html, /all − a/);
  assert.deepEqual((table.toJSON() as { accuracy: number[][] }).accuracy[2], neutral);
});

test("crossSourceEvaluation: a source missing from the test data is a blank column; bad fits are explained", async () => {
  const train = dataOf(["a", "b"], [["a", "happiness", "happiness"], ["b", "sadness", "sadness"]]);
  const testA = dataOf(["a", "b"], [["a", "happiness", "anger"]]);
  const table = await crossSourceEvaluation({ train, test: testA, fit: () => constantModel("happiness"), normalization: NORM, evaluation: { progress: false } });
  assert.deepEqual(table.testSizes, [1, 0, 1]);
  assert.ok(Number.isNaN(table.accuracy[0][1]));
  assert.equal(table.accuracy[0][0], 1);
  assert.match(table.summary(), /–/);
  await assert.rejects(crossSourceEvaluation({ train, test: testA, fit: () => constantModel("happiness"), evaluation: { progress: false } }), /without its normalization/);
  const plain = new FaceDataset({ root: "/v", height: 8, width: 8, channels: 1, images: new Uint8Array(64), labels: Int32Array.of(0), paths: ["x.png"] });
  await assert.rejects(crossSourceEvaluation({ train: plain, test: plain, fit: () => constantModel("happiness"), normalization: NORM }), /needs train and test data of several sources/);
});

test("a data set of several sources is curated source by source: one ledger over all is refused", async () => {
  const { a, b } = await threeSources();
  const data = await loadSources([{ name: "fer2013", root: a }, { name: "web", root: b }], OPTS);
  await assert.rejects(CurationLedger.open(data), /holds 2 sources \(fer2013, web\): curate each source on its own, loaded with loadFolderDataset/);
  await assert.rejects(CurationLedger.open(data.fromSource("web")), /curate each source on its own/);
  // One source: the folder's own ledger, as for loadFolderDataset.
  const one = await loadSources([{ name: "fer2013", root: a }], OPTS);
  assert.equal((await CurationLedger.open(one)).root, path.resolve(a));
});
