import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { Rng } from "../../kernel/fer/rng";
import { EMOTIONS, loadFolderDataset } from "../../kernel/fer/index";
import { heldOutSplit } from "../../bench/faceSplit";
import { randomImage } from "./syntheticImages";
import { loadFer2013Split } from "../../scripts/fer2013Split";

const S = 48;

const png = (img: Uint8Array, file: string) => sharp(img, { raw: { width: S, height: S, channels: 1 } }).png().toFile(file);

test("the FER2013 split: held-out faces train only with heldOutInTraining, and near-copies of val never train", async () => {
  // A FER2013-like folder: 3,040 Training faces (3,000 go to the held-out slice), then val made of
  // copies of one training face, one held-out face and fresh faces; one training face copies a held-out one.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-split-"));
  try {
    const rng = new Rng(3);
    const n = 3040;
    const images: Uint8Array[] = [];
    for (const c of EMOTIONS) fs.mkdirSync(path.join(root, "train", c), { recursive: true });
    for (const c of EMOTIONS) fs.mkdirSync(path.join(root, "val", c), { recursive: true });
    const written = Array.from({ length: n }, (_, i) => path.join(EMOTIONS[i % EMOTIONS.length], `f${i}.png`));
    for (let i = 0; i < n; i++) images.push(randomImage(rng, S));
    await Promise.all(written.map((f, i) => png(images[i], path.join(root, "train", f))));
    // The split's indices are into the folder as loaded: find each loaded face's picture by path.
    const loaded = (await loadFolderDataset(path.join(root, "train"))).paths;
    const pictureOf = new Map(written.map((f, i) => [f.split(path.sep).join("/"), images[i]]));
    const split = heldOutSplit(n);
    const [restCopiedByVal, restCopyingHeldOut] = split.train;
    const [heldOutCopiedByVal, heldOutCopied] = split.heldOut;
    await png(pictureOf.get(loaded[heldOutCopied])!, path.join(root, "train", loaded[restCopyingHeldOut]));
    const valFaces = [pictureOf.get(loaded[restCopiedByVal])!, pictureOf.get(loaded[heldOutCopiedByVal])!, randomImage(rng, S), randomImage(rng, S), randomImage(rng, S)];
    await Promise.all(valFaces.map((img, k) => png(img, path.join(root, "val", EMOTIONS[k], `v${k}.png`))));

    const plain = await loadFer2013Split(root);
    assert.equal(plain.heldOutInTraining, false);
    assert.equal(plain.heldOut.size, 3000);
    assert.equal(plain.val.size, 5);
    const plainPaths = new Set(plain.train.paths);
    assert.equal(plain.train.size, n - 3000 - 2, "the copy of a val face and the copy of a held-out face are left out");
    assert.equal(plain.leftOut, 2);
    assert.ok(!plainPaths.has(loaded[restCopiedByVal]));
    assert.ok(!plainPaths.has(loaded[restCopyingHeldOut]));
    assert.ok(!plain.heldOut.paths.some((p) => plainPaths.has(p)), "no held-out face trains");

    const all = await loadFer2013Split(root, 48, { heldOutInTraining: true });
    assert.equal(all.heldOutInTraining, true);
    const allPaths = new Set(all.train.paths);
    assert.equal(all.train.size, n - 2, "only the two copies of val faces are left out");
    assert.equal(all.leftOut, 2);
    assert.ok(!allPaths.has(loaded[restCopiedByVal]) && !allPaths.has(loaded[heldOutCopiedByVal]), "near-copies of val never train");
    assert.ok(allPaths.has(loaded[restCopyingHeldOut]) && allPaths.has(loaded[heldOutCopied]), "a copy of a held-out face may train once held-out trains");
    assert.equal(all.heldOut.paths.filter((p) => allPaths.has(p)).length, 2999);
    // Labels travel with their faces.
    const k = all.train.paths.indexOf(loaded[heldOutCopied]);
    assert.equal(EMOTIONS[all.train.labels[k]], loaded[heldOutCopied].split("/")[0]);
    // At another input size: the very same faces, in the same order, with their labels.
    const big = await loadFer2013Split(root, 64, { heldOutInTraining: true });
    assert.equal(big.train.height, 64);
    assert.deepEqual(big.train.paths, all.train.paths);
    assert.deepEqual([...big.train.labels], [...all.train.labels]);
    assert.deepEqual(big.heldOut.paths, all.heldOut.paths);
    assert.deepEqual(big.val.paths, all.val.paths);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
