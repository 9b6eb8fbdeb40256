/**
 * Weight averaging (SWA) of one training run's per-epoch weights: the mean of every weight over the
 * given snapshots (checkpoint or model folders of one architecture), then batch-norm statistics
 * recomputed for the averaged weights on Training batches (an exact running mean over the batches,
 * not the moving average the snapshots carry). Scored on the held-out slice against the run's own
 * saved model, so the choice between them is made on held-out faces, never on val.
 *
 *   node --import tsx scripts/average-weights.ts --data ../shared/data/fer2013 --run /tmp/fer-next \
 *     --out /tmp/fer-next-swa /tmp/snapshots/e57 /tmp/snapshots/e58 …
 *
 * --run: the model folder scripts/train-fer2013.ts saved (its card is the new card's basis).
 * --epochs-of <checkpoint folder> [--from N]: the snapshots are the epochs that run kept
 * (`epochs/e<N>`, train-fer2013 keeps them), from epoch N on (default 1), instead of listing them.
 * --windows 4,8,16: average the last 4, the last 8 and the last 16 snapshots (default: all of them)
 * and keep the one with the best held-out macro-F1.
 * --held-out-only: score the windows on held-out and stop (nothing saved, val not touched).
 * --bn-batches: Training batches of 64 for the batch-norm statistics (default 150).
 * The kept average is saved (float16) to --out with its card, val evaluated once on the saved file,
 * whether or not it beat the run's own model on held-out (the line before says).
 */
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { evaluate, initBackend, loadModel, Rng, saveModel, type FaceDataset } from "../kernel/fer/index";
import { batchTensor } from "../kernel/fer/modelInput";
import { parseArgs } from "../cli/args";
import { keptEpochDirs } from "../kernel/fer/training/checkpoint";
import { loadFer2013Split, recordMetrics } from "./fer2013Split";

interface BatchNormLayer {
  momentum: number;
}

type Scores = { accuracy: number; macroF1: number };

/** The mean of every weight (trainable and the batch-norm statistics) over the snapshots, into a model. */
async function averageOf(snapshots: readonly string[], architecture: string): Promise<tf.LayersModel> {
  const load = async (dir: string) => {
    const { model } = await loadModel(dir);
    if (model.name !== architecture) throw new Error(`${dir} is a ${model.name}, the run a ${architecture}`);
    return model;
  };
  const first = await load(snapshots[0]);
  const sums = first.getWeights().map((w) => tf.clone(w));
  for (const dir of snapshots.slice(1)) {
    const model = await load(dir);
    model.getWeights().forEach((w, i) => {
      const s = tf.add(sums[i], w);
      sums[i].dispose();
      sums[i] = s;
    });
    model.dispose();
  }
  first.setWeights(sums.map((s) => tf.div(s, snapshots.length)));
  tf.dispose(sums);
  return first;
}

/**
 * Batch-norm statistics for the model's own weights: with momentum 1 − 1/i at batch i the moving
 * mean and variance become the plain mean of the batches' statistics.
 */
function recomputeBatchNorm(model: tf.LayersModel, train: FaceDataset, norm: { mean: number; std: number }, batches: number): void {
  const bns = model.layers.filter((l) => l.getClassName() === "BatchNormalization") as unknown as BatchNormLayer[];
  const saved = bns.map((l) => l.momentum);
  const order = new Rng(7).shuffle(Array.from({ length: train.size }, (_, i) => i));
  for (let b = 0; b < batches; b++) {
    for (const l of bns) l.momentum = 1 - 1 / (b + 1);
    tf.tidy(() => {
      model.apply(batchTensor(train, order.slice(b * 64, (b + 1) * 64), norm), { training: true });
    });
  }
  bns.forEach((l, i) => (l.momentum = saved[i]));
}

async function main(): Promise<void> {
  const flags = { data: { value: true }, run: { value: true }, out: { value: true }, "bn-batches": { value: true }, windows: { value: true }, "held-out-only": { value: false }, "epochs-of": { value: true }, from: { value: true } };
  const parsed = parseArgs("average-weights", process.argv.slice(2), flags);
  const a = parsed.flags as Record<string, string | undefined>;
  const snapshots = a["epochs-of"] ? keptEpochDirs(a["epochs-of"], Number(a.from ?? 1)) : parsed.positional;
  const heldOutOnly = a["held-out-only"] !== undefined;
  if (!a.run || (!a.out && !heldOutOnly) || snapshots.length < 2) throw new Error("usage: --data <fer2013> --run <model folder> --out <new folder> [--windows 4,8] (<snapshot> <snapshot> … oldest first | --epochs-of <checkpoint folder> [--from N])");
  const windows = (a.windows ?? String(snapshots.length)).split(",").map(Number);
  if (windows.some((k) => !Number.isInteger(k) || k < 2 || k > snapshots.length)) throw new Error(`--windows: each a whole number from 2 to ${snapshots.length}`);
  const root = a.data ?? path.resolve(__dirname, "../../shared/data/fer2013");
  await initBackend();
  const run = await loadModel(a.run);
  const { train, heldOut, val } = await loadFer2013Split(root, run.card.input.height);
  const norm = { mean: run.card.input.mean, std: run.card.input.std };
  const batches = Math.min(Number(a["bn-batches"] ?? 150), Math.floor(train.size / 64));
  const score = async (model: tf.LayersModel): Promise<Scores> => {
    const e = (await evaluate(model, heldOut, { normalization: norm, progress: false })).toJSON() as Scores;
    return { accuracy: e.accuracy, macroF1: e.macroF1 };
  };
  const pct = (s: Scores) => `${(s.accuracy * 100).toFixed(2)}% (macro-F1 ${s.macroF1.toFixed(4)})`;
  const runScores = await score(run.model);
  console.log(`held-out: the run's model ${pct(runScores)}`);

  // Each window (the last k snapshots), scored on held-out; the best by macro-F1 is kept.
  let best: { k: number; model: tf.LayersModel; scores: Scores } | undefined;
  const tried: Record<string, Scores> = {};
  for (const k of windows) {
    const model = await averageOf(snapshots.slice(-k), run.model.name);
    recomputeBatchNorm(model, train, norm, batches);
    const scores = await score(model);
    tried[`last ${k}`] = scores;
    console.log(`held-out: the mean of the last ${k} ${pct(scores)}`);
    if (!best || scores.macroF1 > best.scores.macroF1) {
      best?.model.dispose();
      best = { k, model, scores };
    } else model.dispose();
  }
  const chosen = best!;
  if (heldOutOnly) return;
  const used = snapshots.slice(-chosen.k);
  const training = run.card.training as Record<string, unknown>;
  await saveModel(chosen.model, a.out!, {
    ...run.card,
    training: {
      ...training,
      averaged: {
        snapshots: used.map((s) => path.basename(path.resolve(s))),
        batchNormBatches: batches,
        heldOut: { run: runScores, ...tried },
        how: "the mean of each weight over the last snapshots of the run (the window chosen by held-out macro-F1); batch-norm statistics recomputed on Training batches (an exact mean over them)",
      },
      selectedOn: "held-out macro-F1 (3,000 faces of FER2013 Training, Rng(2024)): the epoch, the window of averaged epochs, and averaged against the run's own model; val was not used",
    },
  }, { overwrite: false, quantize: "float16" });
  console.log(JSON.stringify({ out: a.out, window: chosen.k, heldOut: { run: runScores.accuracy, averaged: chosen.scores.accuracy }, ...(await recordMetrics(a.out!, { val, heldOut })) }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
