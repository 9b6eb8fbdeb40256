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
  /** Training faces left out because a near-copy of them is in val (or in the held-out slice, when it is not trained on). */
  leftOut: number;
  /** True when `train` includes the held-out slice (then nothing may be selected on it). */
  heldOutInTraining: boolean;
}

/**
 * `size`: the faces' side in pixels as the model sees them (48, FER2013's own, or larger: upsampled
 * by sharp at load). The split and the near-copies are always found on the 48×48 faces, so every
 * size trains, selects and reports on the same faces.
 */
export async function loadFer2013Split(root: string, size = 48, options: { heldOutInTraining?: boolean } = {}): Promise<Fer2013Split> {
  const trainDir = path.join(root, "train");
  const all = await loadFolderDataset(trainDir);
  const val = await loadFolderDataset(path.join(root, "val"));
  const split = heldOutSplit(all.size);
  const heldOut = all.subset(split.heldOut);
  const heldOutInTraining = options.heldOutInTraining === true;
  // With heldOutInTraining the held-out faces train too (a final fit of a recipe fixed in advance):
  // only near-copies of val faces are left out, so val stays a set the model never saw.
  const candidates = heldOutInTraining ? Array.from({ length: all.size }, (_, i) => i) : split.train;
  const rest = all.subset(candidates);
  const drop = new Set<number>();
  for (const other of heldOutInTraining ? [val] : [val, heldOut]) for (const p of findLeaks(rest, other).pairs) drop.add((p.a.set === 0 ? p.a : p.b).index);
  const train = all.subset(candidates.filter((_, k) => !drop.has(k)));
  if (size === 48) return { train, heldOut, val, leftOut: drop.size, heldOutInTraining };
  const [trainAtSize, heldOutAtSize] = await facesAtSize(trainDir, size, train, heldOut);
  const [valAtSize] = await facesAtSize(path.join(root, "val"), size, val);
  return { train: trainAtSize, heldOut: heldOutAtSize, val: valAtSize, leftOut: drop.size, heldOutInTraining };
}

/**
 * The faces of each of `data` (loaded from `dir`, or subsets of it) loaded again at size×size, in
 * the same order: how a model of another input size sees the very faces of a 48×48 split. The
 * folder is read once for all of them.
 */
export async function facesAtSize(dir: string, size: number, ...data: FaceDataset[]): Promise<FaceDataset[]> {
  const all = await loadFolderDataset(dir, { height: size, width: size });
  const indexOf = new Map(all.paths.map((p, i) => [p, i]));
  return data.map((d) => all.subset(d.paths.map((p) => {
    const i = indexOf.get(p);
    if (i === undefined) throw new Error(`${dir}: ${p} was not found when the faces were loaded again at ${size}×${size} (did the folder change?)`);
    return i;
  })));
}

/**
 * Evaluates the saved model file in `out` (float16, as shipped) once on val, single crop and TTA
 * apart, and on the held-out slice, and writes both into its card's metrics. Returns a summary.
 */
export async function recordMetrics(out: string, split: Pick<Fer2013Split, "val" | "heldOut"> & { heldOutInTraining?: boolean }): Promise<{ valAccuracy: number; valMacroF1: number; tta: Record<string, number>; heldOutAccuracy: number }> {
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
        data: split.heldOutInTraining ? "fer2013/train, the 3,000 faces of the held-out split (Rng(2024)), trained on by this model: a training figure" : "fer2013/train, 3,000 faces held out (Rng(2024))",
        images: heldOut.size,
        usedForModelSelection: !split.heldOutInTraining,
        trainedOn: split.heldOutInTraining === true,
        singleCrop: { accuracy: h.accuracy, macroF1: h.macroF1 },
      },
    },
  }));
  const tta = Object.fromEntries(Object.entries((v.tta ?? {}) as Record<string, { accuracy: number }>).map(([k, x]) => [k, x.accuracy]));
  return { valAccuracy: v.accuracy as number, valMacroF1: v.macroF1 as number, tta, heldOutAccuracy: h.accuracy as number };
}
