/**
 * The data of the shipped model's training protocol, in one place (scripts/train-fer2013.ts,
 * scripts/average-weights.ts): FER2013 Training split into 3,000 held-out faces (Rng(2024),
 * bench/faceSplit.ts heldOutSplit), used to select epochs and recipes, and the rest, less the faces
 * with an exact or near copy (findLeaks) in val or in the held-out slice; val (PublicTest) is only
 * ever evaluated, once, at the end.
 */
import * as path from "node:path";
import { evaluate, findLeaks, loadFolderDataset, loadModel, updateModelCard, type FaceDataset } from "../kernel/fer/index";
import { heldOutSplit } from "../bench/faceSplit";

export interface Fer2013Split {
  /** Training faces the model learns from. */
  train: FaceDataset;
  /** 3,000 Training faces held out for selection. */
  heldOut: FaceDataset;
  /** PublicTest: the honest figure. */
  val: FaceDataset;
  /** Training faces left out because a near-copy of them is in val or in the held-out slice. */
  leftOut: number;
}

/**
 * `size`: the faces' side in pixels as the model sees them (48, FER2013's own, or larger: upsampled
 * by sharp at load). The split and the near-copies are always found on the 48×48 faces, so every
 * size trains, selects and reports on the same faces.
 */
export async function loadFer2013Split(root: string, size = 48): Promise<Fer2013Split> {
  const all = await loadFolderDataset(path.join(root, "train"));
  const val = await loadFolderDataset(path.join(root, "val"));
  const split = heldOutSplit(all.size);
  const rest = all.subset(split.train);
  const drop = new Set<number>();
  for (const other of [val, all.subset(split.heldOut)]) for (const p of findLeaks(rest, other).pairs) drop.add((p.a.set === 0 ? p.a : p.b).index);
  const trainIndices = split.train.filter((_, k) => !drop.has(k));
  if (size === 48) return { train: all.subset(trainIndices), heldOut: all.subset(split.heldOut), val, leftOut: drop.size };
  const allAtSize = await loadFolderDataset(path.join(root, "train"), { height: size, width: size });
  const valAtSize = await loadFolderDataset(path.join(root, "val"), { height: size, width: size });
  for (const [a, b] of [[all, allAtSize], [val, valAtSize]] as const) {
    if (a.paths.length !== b.paths.length || a.paths.some((p, i) => p !== b.paths[i])) throw new Error(`${root}: the faces loaded at ${size}×${size} are not those loaded at 48×48 (did the folder change while loading?)`);
  }
  return { train: allAtSize.subset(trainIndices), heldOut: allAtSize.subset(split.heldOut), val: valAtSize, leftOut: drop.size };
}

/**
 * Evaluates the saved model file in `out` (float16, as shipped) once on val, single crop and TTA
 * apart, and on the held-out slice, and writes both into its card's metrics. Returns a summary.
 */
export async function recordMetrics(out: string, split: Pick<Fer2013Split, "val" | "heldOut">): Promise<{ valAccuracy: number; valMacroF1: number; tta: Record<string, number>; heldOutAccuracy: number }> {
  const { val, heldOut } = split;
  const saved = await loadModel(out);
  const norm = { mean: saved.card.input.mean, std: saved.card.input.std };
  const v = (await evaluate(saved.model, val, { normalization: norm, tta: ["flip", "tencrop"] })).toJSON() as Record<string, unknown>;
  const h = (await evaluate(saved.model, heldOut, { normalization: norm })).toJSON() as Record<string, unknown>;
  saved.model.dispose();
  await updateModelCard(out, (c) => ({
    ...c,
    metrics: {
      validation: {
        data: "fer2013/val",
        images: val.size,
        fingerprint: val.fingerprint(),
        usedForModelSelection: false,
        weights: saved.card.weights.dtype,
        singleCrop: { accuracy: v.accuracy, macroF1: v.macroF1, weightedF1: v.weightedF1, ece: v.ece },
        tta: v.tta,
        perClass: v.perClass,
      },
      heldOut: {
        data: "fer2013/train, 3,000 faces held out (Rng(2024))",
        images: heldOut.size,
        usedForModelSelection: true,
        singleCrop: { accuracy: h.accuracy, macroF1: h.macroF1 },
      },
    },
  }));
  const tta = Object.fromEntries(Object.entries((v.tta ?? {}) as Record<string, { accuracy: number }>).map(([k, x]) => [k, x.accuracy]));
  return { valAccuracy: v.accuracy as number, valMacroF1: v.macroF1 as number, tta, heldOutAccuracy: h.accuracy as number };
}
