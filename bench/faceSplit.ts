/**
 * The benchmark split of FER2013's training folder, shared by bench/recipe.ts and bench/parity.ts:
 * 3,000 held-out faces (Rng(2024), as bench/stems.ts) and the rest for training, written as raw
 * 48×48 bytes for bench/recipe.py, plus `augmentedEpochs` passes of the training faces through
 * fernb's "standard" augmenter (Rng(7)), so PyTorch and fernb can train on identical inputs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { AUGMENT_PRESETS, createAugmenter, loadFolderDataset, Rng, type FaceDataset } from "../kernel/fer/index";

export const FACE_BYTES = 48 * 48;

export interface FaceSplit {
  all: FaceDataset;
  heldOut: number[];
  train: number[];
  /** One buffer per epoch: the training faces, in `train`'s order, as fernb's augmenter made them. */
  augmented: Buffer[];
}

/**
 * The benchmark split of a folder of `size` faces (FER2013 Training): 3,000 held-out faces drawn by
 * Rng(2024), the rest for training, as indices into the folder, in the shuffled order.
 */
export function heldOutSplit(size: number): { heldOut: number[]; train: number[] } {
  const order = new Rng(2024).shuffle(Array.from({ length: size }, (_, i) => i));
  return { heldOut: order.slice(0, 3000), train: order.slice(3000) };
}

export async function loadFaceSplit(root: string, augmentedEpochs: number): Promise<FaceSplit> {
  const all = await loadFolderDataset(path.join(root, "train"));
  if (all.height !== 48 || all.width !== 48 || all.channels !== 1) throw new Error("Expected 48×48 grayscale faces.");
  const { heldOut, train } = heldOutSplit(all.size);
  const augmented: Buffer[] = [];
  // Each epoch: every training face once, in order, through fernb's augmenter (the trainers shuffle).
  const augment = createAugmenter(AUGMENT_PRESETS.standard);
  const rng = new Rng(7);
  for (let e = 0; e < augmentedEpochs; e++) {
    const x = Buffer.alloc(train.length * FACE_BYTES);
    train.forEach((j, k) => {
      const out = augment.apply(all.image(j), 48, 48, 1, rng);
      for (let p = 0; p < out.length; p++) x[k * FACE_BYTES + p] = Math.round(Math.min(1, Math.max(0, out[p])) * 255);
    });
    augmented.push(x);
  }
  return { all, heldOut, train, augmented };
}

/** Writes the split for bench/recipe.py: heldout.x/.y, train.x/.y, train_fernb_aug_<epoch>.x. */
export function writeFaceSplit(split: FaceSplit, dir: string): void {
  const write = (name: string, indices: number[]) => {
    const x = Buffer.alloc(indices.length * FACE_BYTES);
    const y = Buffer.alloc(indices.length);
    indices.forEach((j, k) => {
      x.set(split.all.image(j), k * FACE_BYTES);
      y[k] = split.all.labels[j];
    });
    fs.writeFileSync(path.join(dir, `${name}.x`), x);
    fs.writeFileSync(path.join(dir, `${name}.y`), y);
  };
  write("heldout", split.heldOut);
  write("train", split.train);
  split.augmented.forEach((x, e) => fs.writeFileSync(path.join(dir, `train_fernb_aug_${e}.x`), x));
}
