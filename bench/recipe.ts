/**
 * Compares training recipes quickly with PyTorch (bench/recipe.py) on the same faces fernb loads:
 * writes FER2013's training split as raw 48×48 bytes, minus 3,000 held-out faces (the same split
 * as bench/stems.ts) that score each recipe. Val is never used, so the choice does not tune on
 * what the project reports. Usage:
 *   FERNB_FER2013=../shared/data/fer2013 node --import tsx bench/recipe.ts "bal=none" "bal=loss" ...
 * A config with `aug=fernb` trains PyTorch on faces augmented by fernb's own augmenter (the
 * "standard" preset, one pass per epoch, written here), so the two trainers can be compared on
 * identical inputs; otherwise recipe.py augments with flips and pad-and-crop.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AUGMENT_PRESETS, createAugmenter, loadFolderDataset, Rng } from "../kernel/fer/index";

async function main(): Promise<void> {
  const root = process.env.FERNB_FER2013 ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const configs = process.argv.slice(2);
  if (configs.length === 0) throw new Error('Name at least one recipe, e.g. "bal=none" "bal=loss" "opt=adamw lr=0.001".');
  const all = await loadFolderDataset(path.join(root, "train"));
  if (all.height !== 48 || all.width !== 48 || all.channels !== 1) throw new Error("Expected 48×48 grayscale faces.");
  const order = new Rng(2024).shuffle(Array.from({ length: all.size }, (_, i) => i));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-recipe-"));
  const write = (name: string, indices: number[]) => {
    const x = Buffer.alloc(indices.length * 48 * 48);
    const y = Buffer.alloc(indices.length);
    indices.forEach((j, k) => {
      x.set(all.image(j), k * 48 * 48);
      y[k] = all.labels[j];
    });
    fs.writeFileSync(path.join(dir, `${name}.x`), x);
    fs.writeFileSync(path.join(dir, `${name}.y`), y);
  };
  write("heldout", order.slice(0, 3000));
  write("train", order.slice(3000));
  const augmentedEpochs = Math.max(0, ...configs.filter((c) => /\baug=fernb\b/.test(c)).map((c) => Math.ceil(Number(/\bepochs=([\d.]+)/.exec(c)?.[1] ?? 1))));
  if (augmentedEpochs > 0) {
    // Each epoch: every training face once, in order, through fernb's augmenter (recipe.py shuffles).
    const augment = createAugmenter(AUGMENT_PRESETS.standard);
    const rng = new Rng(7);
    const trainIndices = order.slice(3000);
    for (let e = 0; e < augmentedEpochs; e++) {
      const x = Buffer.alloc(trainIndices.length * 48 * 48);
      trainIndices.forEach((j, k) => {
        const out = augment.apply(all.image(j), 48, 48, 1, rng);
        for (let p = 0; p < out.length; p++) x[k * 2304 + p] = Math.round(Math.min(1, Math.max(0, out[p])) * 255);
      });
      fs.writeFileSync(path.join(dir, `train_fernb_aug_${e}.x`), x);
    }
  }
  try {
    for (const config of configs) {
      const out = execFileSync("/usr/bin/python3", [path.join(__dirname, "recipe.py"), dir, ...config.split(/\s+/).filter(Boolean)], { encoding: "utf8" });
      process.stdout.write(out);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
