/**
 * Soft targets for knowledge distillation (Hinton et al. 2015): the mean class probabilities of
 * several saved models (the teachers), each on every training face and its mirror image, written
 * once so that training (scripts/train-fer2013.ts --distill) costs no teacher forward passes.
 *
 *   node --import tsx scripts/teacher-targets.ts --data ../shared/data/fer2013 --out /tmp/teachers.json \
 *     models/fer2013-resnet18 /tmp/other-model ...
 *
 * The faces are the training part of scripts/fer2013Split.ts (held-out and val are never scored);
 * the file holds each face's path (relative to the data root), so it is matched by name, not order.
 * A teacher may also be an earlier targets file (.json or .json.gz): its teachers join the mean as if
 * they had been named here, so a model's targets can be kept (in git, a few MB) after the model is gone.
 * An --out ending in .gz is written gzipped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend, loadModel, EMOTIONS } from "../kernel/fer/index";
import { argmaxRows, batchTensor, testTimeViews } from "../kernel/fer/modelInput";
import { facesAtSize, loadFer2013Split } from "./fer2013Split";
import { parseArgs } from "../cli/args";
import { mergeTeacherTargets, readTeacherTargets, writeTeacherTargetsFile } from "./teacherTargetsFile";

async function main(): Promise<void> {
  const parsed = parseArgs("teacher-targets", process.argv.slice(2), { data: { value: true }, out: { value: true } });
  const flags = parsed.flags as Record<string, string | undefined>;
  const root = flags.data ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const out = flags.out;
  if (!out) throw new Error("--out <file.json> is required");
  if (fs.existsSync(out)) throw new Error(`${out} exists: choose another --out (nothing is overwritten).`);
  const teachers = parsed.positional;
  if (teachers.length === 0) throw new Error("name at least one teacher: a model folder or an earlier targets file");
  for (const t of teachers) if (!fs.existsSync(t)) throw new Error(`${t}: no such model folder or targets file.`);
  await initBackend();
  // Every face either kind of run trains on: the held-out slice too (train-fer2013 --train-on-held-out).
  const { train } = await loadFer2013Split(root, 48, { heldOutInTraining: true });
  const k = EMOTIONS.length;
  const parts: { targets: Float32Array; teachers: string[] }[] = [];
  const all = Array.from({ length: train.size }, (_, i) => i);
  const t0 = Date.now();
  // Each teacher sees the same faces, in the same order, at its own input size.
  const trainAt = new Map([[48, train]]);
  for (const [t, dir] of teachers.entries()) {
    if (fs.statSync(dir).isFile()) {
      // Targets already averaged over their own teachers (and both views).
      const earlier = readTeacherTargets(dir, train.paths, EMOTIONS);
      parts.push(earlier);
      console.log(`teacher ${t + 1}/${teachers.length}: ${path.basename(dir)} (targets of ${earlier.teachers.join(", ")})`);
      continue;
    }
    const sum = new Float32Array(train.size * k);
    const { model, card } = await loadModel(dir);
    const norm = { mean: card.input.mean, std: card.input.std };
    const size = card.input.height;
    if (!trainAt.has(size)) trainAt.set(size, (await facesAtSize(path.join(root, "train"), size, train))[0]);
    const faces = trainAt.get(size)!;
    for (let s = 0; s < all.length; s += 128) {
      const idx = all.slice(s, s + 128);
      const p = tf.tidy(() => {
        const views = testTimeViews(batchTensor(faces, idx, norm), "flip");
        return tf.addN(views.map((v) => model.predict(v) as tf.Tensor));
      });
      const v = await p.data();
      p.dispose();
      for (let j = 0; j < v.length; j++) sum[s * k + j] += v[j];
      if (s % 2560 === 0) {
        const done = t * all.length + s + idx.length;
        const eta = ((Date.now() - t0) / done) * (teachers.length * all.length - done) / 1000;
        console.log(`teacher ${t + 1}/${teachers.length} (${path.basename(dir)}): ${s + idx.length}/${all.length} faces · ETA ${Math.round(eta)} s`);
      }
    }
    model.dispose();
    for (let j = 0; j < sum.length; j++) sum[j] /= 2; // the mean of the face and its mirror image
    parts.push({ targets: sum, teachers: [path.basename(path.resolve(dir))] });
  }
  const { targets: mean, teachers: names } = mergeTeacherTargets(parts);
  writeTeacherTargetsFile(out, {
    format: "fernb-teacher-targets/1",
    classes: [...EMOTIONS],
    teachers: names,
    views: ["single", "flip"],
    paths: [...train.paths],
    probabilities: Buffer.from(mean.buffer).toString("base64"),
  });
  const agree = argmaxRows(mean, k).filter((c, i) => c === train.labels[i]).length;
  console.log(`${out}: ${train.size} faces, ${names.length} teacher${names.length === 1 ? "" : "s"} (${names.join(", ")}); the teachers agree with the label on ${((agree / train.size) * 100).toFixed(1)}%`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
