/**
 * Where a ResNet-18 training step's time goes, by kernel (tf.profile), on the backend fernb picks:
 * forward, backward and SGD update at batch 64 on 48×48×1 (the training loop's own step, as
 * `npm run bench` times it), or prediction, after warm-up steps.
 *
 *   node --import tsx bench/profile.ts [--stem imagenet|stride2|imagenet-nopool|cifar] [--predict]
 *
 * Prints the wall time of one step, then one line per kernel (total ms, calls), largest first.
 * Kernel times are measured one kernel at a time, so they add up to more than the wall time.
 */
import * as tf from "@tensorflow/tfjs";
import { activeBackend, createResNet18, initBackend, type Stem } from "../kernel/fer/index";
import { createTrainingStep } from "../kernel/fer/train";
import { parseArgs } from "../cli/args";

async function main(): Promise<void> {
  const a = parseArgs("profile", process.argv.slice(2), { stem: { value: true }, predict: { value: false } }).flags as Record<string, string | true | undefined>;
  const stem = (typeof a.stem === "string" ? a.stem : "imagenet") as Stem;
  await initBackend();
  console.log(`backend: ${activeBackend()?.description} · stem ${stem} · ${a.predict ? "prediction" : "training step"}, batch 64`);
  const model = createResNet18({ stem, height: 48, width: 48, channels: 1 });
  const training = createTrainingStep(model, { optimizer: "sgd", labelSmoothing: 0.1, classBalance: "none" });
  const x = tf.randomNormal([64, 48, 48, 1]) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: 64 }, (_, i) => i % 7), "int32");
  const step = async () => {
    if (!a.predict) return void (await training.step(x, y, 0.01));
    const p = model.predict(x, { batchSize: 64 }) as tf.Tensor;
    await p.data();
    p.dispose();
  };
  for (let i = 0; i < 3; i++) await step();
  const runs = 3;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await step();
  console.log(`wall ${((performance.now() - t0) / runs).toFixed(1)} ms a step`);
  const profile = await tf.profile(step);
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const k of profile.kernels) {
    if (k.name.endsWith("__op")) continue; // op-level wrappers around the kernels below
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.calls++;
    byName.set(k.name, e);
  }
  const rows = [...byName].sort((p, q) => q[1].ms - p[1].ms);
  console.log(`${rows.reduce((s, [, e]) => s + e.calls, 0)} kernel calls`);
  for (const [name, e] of rows) console.log(`${name.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(5)} calls`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
