/**
 * Which stem gives the best accuracy per CPU-hour on 48×48 FER2013 faces? Trains ResNet-18 with
 * each stem for about the same wall time on a subset of FER2013's training split and measures
 * accuracy on a disjoint held-out part of the training split (not on val: val is what the project
 * reports, so it is not used to choose). Usage:
 *   FERNB_FER2013=../shared/data/fer2013 node --import tsx bench/stems.ts [minutes per stem, default 12]
 */
import * as path from "node:path";
import { initBackend, loadFolderDataset, createResNet18, train, createAugmenter, AUGMENT_PRESETS, type Stem } from "../kernel/fer/index";
import { evaluate } from "../kernel/fer/evaluate";
import { createTrainingStep } from "../kernel/fer/train";
import { tf } from "../kernel/fer/index";
import { heldOutSplit } from "./faceSplit";

const minutes = Number(process.argv[2] ?? 12);
const root = process.env.FERNB_FER2013 ?? path.resolve(__dirname, "../../shared/data/fer2013");

async function imagesPerSecond(stem: Stem): Promise<number> {
  const model = createResNet18({ stem });
  const { step } = createTrainingStep(model);
  const x = tf.randomNormal([64, 48, 48, 1]) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: 64 }, (_, i) => i % 7), "int32");
  await step(x, y, 0.01);
  const t = performance.now();
  for (let i = 0; i < 3; i++) await step(x, y, 0.01);
  const ips = (64 * 3) / ((performance.now() - t) / 1000);
  tf.dispose([x, y]);
  model.dispose();
  return ips;
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const all = await loadFolderDataset(path.join(root, "train"));
  const split = heldOutSplit(all.size);
  const heldOut = all.subset(split.heldOut);
  const pool = split.train;
  const results: object[] = [];
  for (const stem of ["imagenet", "stride2"] as Stem[]) {
    const ips = await imagesPerSecond(stem);
    // Images this stem can see in the time budget, as 2+ epochs over a subset when it is fast.
    const budget = Math.floor(ips * 60 * minutes);
    const epochs = Math.max(1, Math.min(4, Math.floor(budget / 12000)));
    const perEpoch = Math.min(pool.length, Math.floor(budget / epochs));
    const trainSet = all.subset(pool.slice(0, perEpoch));
    process.stderr.write(`[stems] ${stem}: ${ips.toFixed(1)} img/s → ${epochs} epoch(s) × ${perEpoch} images\n`);
    const model = createResNet18({ stem });
    const t = Date.now();
    const r = await train(model, trainSet, undefined, { epochs, warmupEpochs: 0.3, learningRate: 0.05, augment: createAugmenter(AUGMENT_PRESETS.standard), progress: "silent" });
    const seconds = (Date.now() - t) / 1000;
    const norm = r.normalization;
    const ev = await evaluate(model, heldOut, { normalization: norm, progress: false });
    const row = { stem, imagesPerSecond: Math.round(ips * 10) / 10, epochs, imagesPerEpoch: perEpoch, trainMinutes: Math.round(seconds / 6) / 10, heldOutAccuracy: Math.round(ev.metrics.accuracy * 1e4) / 1e4, heldOutMacroF1: Math.round(ev.metrics.macroF1 * 1e4) / 1e4 };
    process.stderr.write(`[stems] ${JSON.stringify(row)}\n`);
    results.push(row);
    model.dispose();
  }
  console.log(JSON.stringify({ backend: backend.description, minutesPerStem: minutes, heldOut: 3000, results }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
