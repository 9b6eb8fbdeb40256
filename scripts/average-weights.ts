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
 * --bn-batches: Training batches of 64 for the batch-norm statistics (default 150).
 * The averaged model is saved (float16) to --out with its card, val evaluated once on the saved file.
 */
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { evaluate, initBackend, loadModel, Rng, saveModel } from "../kernel/fer/index";
import { batchTensor } from "../kernel/fer/modelInput";
import { parseArgs } from "../cli/args";
import { loadFer2013Split, recordMetrics } from "./fer2013Split";

interface BatchNormLayer {
  momentum: number;
}

async function main(): Promise<void> {
  const parsed = parseArgs("average-weights", process.argv.slice(2), { data: { value: true }, run: { value: true }, out: { value: true }, "bn-batches": { value: true } });
  const a = parsed.flags as Record<string, string | undefined>;
  const snapshots = parsed.positional;
  if (!a.run || !a.out || snapshots.length < 2) throw new Error("usage: --data <fer2013> --run <model folder> --out <new folder> <snapshot> <snapshot> …");
  const root = a.data ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const bnBatches = Number(a["bn-batches"] ?? 150);
  await initBackend();
  const { train, heldOut, val } = await loadFer2013Split(root);
  const run = await loadModel(a.run);
  const norm = { mean: run.card.input.mean, std: run.card.input.std };

  // The mean of every weight (trainable and the batch-norm statistics) over the snapshots.
  const first = await loadModel(snapshots[0]);
  if (first.model.name !== run.model.name) throw new Error(`${snapshots[0]} is a ${first.model.name}, the run a ${run.model.name}`);
  const sums = first.model.getWeights().map((w) => tf.clone(w));
  for (const dir of snapshots.slice(1)) {
    const { model } = await loadModel(dir);
    if (model.name !== run.model.name) throw new Error(`${dir} is a ${model.name}, the run a ${run.model.name}`);
    model.getWeights().forEach((w, i) => {
      const s = tf.add(sums[i], w);
      sums[i].dispose();
      sums[i] = s;
    });
    model.dispose();
  }
  const averaged = first.model;
  averaged.setWeights(sums.map((s) => tf.div(s, snapshots.length)));

  // Batch-norm statistics of the averaged weights: with momentum 1 − 1/i at batch i the moving mean
  // and variance become the plain mean of the batches' statistics.
  const bns = averaged.layers.filter((l) => l.getClassName() === "BatchNormalization") as unknown as BatchNormLayer[];
  const saved = bns.map((l) => l.momentum);
  const rng = new Rng(7);
  const order = Array.from({ length: train.size }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const batches = Math.min(bnBatches, Math.floor(train.size / 64));
  for (let b = 0; b < batches; b++) {
    for (const l of bns) l.momentum = 1 - 1 / (b + 1);
    tf.tidy(() => {
      averaged.apply(batchTensor(train, order.slice(b * 64, (b + 1) * 64), norm), { training: true });
    });
  }
  bns.forEach((l, i) => (l.momentum = saved[i]));

  const score = async (model: tf.LayersModel) => (await evaluate(model, heldOut, { normalization: norm, progress: false })).toJSON() as { accuracy: number; macroF1: number };
  const before = await score(run.model);
  const after = await score(averaged);
  console.log(`held-out: run ${(before.accuracy * 100).toFixed(2)}% (macro-F1 ${before.macroF1.toFixed(4)}) · averaged over ${snapshots.length} ${(after.accuracy * 100).toFixed(2)}% (macro-F1 ${after.macroF1.toFixed(4)})`);

  const training = run.card.training as Record<string, unknown>;
  await saveModel(averaged, a.out, {
    ...run.card,
    training: {
      ...training,
      averaged: {
        snapshots: snapshots.map((s) => path.basename(path.resolve(s))),
        batchNormBatches: batches,
        heldOut: { run: before, averaged: after },
        how: "the mean of each weight over the snapshots; batch-norm statistics recomputed on Training batches (an exact mean over them)",
      },
      selectedOn: "held-out macro-F1 (3,000 faces of FER2013 Training, Rng(2024)): the epoch, and the averaged weights against the run's own model; val was not used",
    },
  }, { overwrite: false, quantize: "float16" });
  console.log(JSON.stringify({ out: a.out, heldOut: { run: before.accuracy, averaged: after.accuracy }, ...(await recordMetrics(a.out, { val, heldOut })) }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
