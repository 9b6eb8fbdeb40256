import { test } from "node:test";
import assert from "node:assert/strict";
import { FaceDataset } from "../../kernel/fer/dataset";
import { DISPLAY } from "../../kernel/display";
import { Rng } from "../../kernel/fer/rng";
import { randomImage as randomImageOfSize } from "./syntheticImages";
import { findDuplicates, findLeaks, hammingDistance, perceptualHash } from "../../kernel/fer/curation/duplicates";
import { pixelStats, rankUnusable } from "../../kernel/fer/curation/unusable";

const S = 32;
const randomImage = (rng: Rng) => randomImageOfSize(rng, S);

/** The same picture, slightly changed: brighter, a little contrast, fresh noise (re-encoding). */
function nearCopy(img: Uint8Array, rng: Rng): Uint8Array {
  return img.map((v) => Math.max(0, Math.min(255, Math.round(v * 0.95 + 14 + rng.uniform(-3, 3)))));
}

function dataset(images: Uint8Array[], labels: number[], name: string): FaceDataset {
  const buf = new Uint8Array(images.length * S * S);
  images.forEach((im, i) => buf.set(im, i * S * S));
  return new FaceDataset({ root: `/virtual/${name}`, height: S, width: S, channels: 1, images: buf, labels: Int32Array.from(labels), paths: images.map((_, i) => `${name}/img${i}.png`) });
}

test("pHash: near copies are close, different images far", () => {
  const rng = new Rng(5);
  const a = randomImage(rng);
  const b = randomImage(rng);
  const ha = perceptualHash(a, S, S, 1);
  assert.equal(hammingDistance(ha, perceptualHash(a, S, S, 1)), 0);
  assert.ok(hammingDistance(ha, perceptualHash(nearCopy(a, rng), S, S, 1)) <= 4);
  assert.ok(hammingDistance(ha, perceptualHash(b, S, S, 1)) > 12);
  // RGB input is hashed as gray.
  const rgb = new Uint8Array(S * S * 3).map((_, i) => a[Math.floor(i / 3)]);
  assert.deepEqual(perceptualHash(rgb, S, S, 3), ha);
});

test("duplicates: planted exact and near duplicates are found, conflicting labels flagged, nothing else", () => {
  const rng = new Rng(11);
  const images = Array.from({ length: 200 }, () => randomImage(rng));
  const labels = images.map((_, i) => i % 7);
  images.push(images[3].slice()); // 200: exact copy of 3, same label
  labels.push(labels[3]);
  images.push(nearCopy(images[10], rng)); // 201: near copy of 10, another label: conflict
  labels.push((labels[10] + 2) % 7);
  images.push(images[20].slice()); // 202 and 203: a group of three identical images of 20
  labels.push(labels[20]);
  images.push(images[20].slice());
  labels.push((labels[20] + 1) % 7);
  const ds = dataset(images, labels, "train");
  const r = findDuplicates(ds, { threshold: 4 });
  const key = (p: { a: { index: number }; b: { index: number } }) => `${p.a.index}-${p.b.index}`;
  assert.deepEqual(r.pairs.map(key).sort(), ["10-201", "20-202", "20-203", "202-203", "3-200"].sort());
  const exact = r.pairs.find((p) => key(p) === "3-200")!;
  assert.deepEqual([exact.exact, exact.conflict, exact.distance], [true, false, 0]);
  const near = r.pairs.find((p) => key(p) === "10-201")!;
  assert.equal(near.exact, false);
  assert.equal(near.conflict, true);
  assert.ok(near.distance > 0 && near.distance <= 4);
  assert.equal(r.groups.length, 3);
  const triple = r.groups.find((g) => g.members.length === 3)!;
  assert.deepEqual(triple.members.map((m) => m.index), [20, 202, 203]);
  assert.deepEqual([triple.exact, triple.conflict], [true, true]);
  assert.deepEqual(r.conflictingGroups.map((g) => g.members.map((m) => m.path)).sort(), [["train/img10.png", "train/img201.png"], ["train/img20.png", "train/img202.png", "train/img203.png"]]);
  assert.ok(r.stats.comparisons < (204 * 203) / 2 / 4, `multi-index hashing compares few pairs (${r.stats.comparisons})`);
  // Exact only (threshold 0): the near copy is not reported.
  assert.deepEqual(findDuplicates(ds, { threshold: 0 }).pairs.map(key).sort(), ["20-202", "20-203", "202-203", "3-200"].sort());
  const items = r[DISPLAY]();
  assert.match(items.find((i) => i.mime === "text/plain")!.data as string, /5 pair\(s\).*4 identical, 1 near.*2 with conflicting labels/s);
  assert.match(items.find((i) => i.mime === "text/html")!.data as string, /data:image\/png;base64/);
});

test("leaks: validation images duplicating training images are found across the split, not within", () => {
  const rng = new Rng(21);
  const trainImages = Array.from({ length: 120 }, () => randomImage(rng));
  const valImages = Array.from({ length: 40 }, () => randomImage(rng));
  valImages[5] = nearCopy(trainImages[17], rng); // leak with the same label
  valImages[9] = trainImages[30].slice(); // exact leak under another label
  valImages[12] = valImages[13].slice(); // a duplicate within validation: not a leak
  const train = dataset(trainImages, trainImages.map((_, i) => i % 7), "train");
  const valLabels = valImages.map((_, i) => i % 7);
  valLabels[5] = 17 % 7;
  valLabels[9] = (30 % 7 + 3) % 7;
  const val = dataset(valImages, valLabels, "val");
  const r = findLeaks(train, val);
  assert.deepEqual(r.pairs.map((p) => [p.a.setName, p.a.index, p.b.setName, p.b.index, p.exact, p.conflict]).sort(), [
    ["train", 17, "validation", 5, false, false],
    ["train", 30, "validation", 9, true, true],
  ]);
  assert.deepEqual(r.leakedImages().map((x) => x.path), ["val/img5.png", "val/img9.png"]);
  assert.ok(r.groups.every((g) => g.crossSet));
  assert.match(r.summary(), /2 validation image\(s\) leaked/);
  // The within-validation duplicate is found by findDuplicates(val).
  assert.deepEqual(findDuplicates(val).pairs.map((p) => [p.a.index, p.b.index]), [[12, 13]]);
  assert.throws(() => findLeaks(train, val, { threshold: 99 }), /threshold/);
});

test("unusable images: blank, black, over-exposed and flat images rank first, with reasons", () => {
  const rng = new Rng(2);
  const images = Array.from({ length: 60 }, () => randomImage(rng));
  images[7] = new Uint8Array(S * S).fill(128); // blank gray
  images[19] = new Uint8Array(S * S); // all black
  images[33] = new Uint8Array(S * S).map((_, i) => ((i * 7) % 11 === 0 ? 0 : 255)); // white page with a little black text
  images[41] = new Uint8Array(S * S).map(() => 100 + rng.int(4)); // nearly flat noise
  const ds = dataset(images, images.map((_, i) => i % 7), "faces");
  const ranked = rankUnusable(ds);
  assert.deepEqual(new Set(ranked.slice(0, 4).map((c) => c.index)), new Set([7, 19, 33, 41]));
  assert.ok(ranked[4].score < 0.5, `the first normal image scores ${ranked[4].score}`);
  const black = ranked.find((c) => c.index === 19)!;
  assert.ok(black.reasons.some((r) => r.startsWith("near-constant")) && black.reasons.some((r) => r.startsWith("too dark")));
  assert.ok(ranked.find((c) => c.index === 33)!.reasons.some((r) => /clipped/.test(r)));
  assert.equal(ranked[0].path?.startsWith("faces/"), true);
  // Model uncertainty raises an otherwise normal image.
  const probs = new Float32Array(60 * 7).fill(0.01);
  for (let i = 0; i < 60; i++) probs[i * 7 + (i % 7)] = 0.94;
  probs.fill(1 / 7, 50 * 7, 51 * 7); // image 50: the model has no idea
  const withModel = rankUnusable(ds, { probs, limit: 5 });
  assert.equal(withModel.length, 5);
  assert.ok(withModel.some((c) => c.index === 50), withModel.map((c) => c.index).join(","));
  assert.ok(withModel.find((c) => c.index === 50)!.reasons.some((r) => /model unsure/.test(r)));
  const st = pixelStats(images[19], S, S, 1);
  assert.deepEqual([st.mean, st.std, st.entropy, st.clipped], [0, 0, 0, 1]);
});
