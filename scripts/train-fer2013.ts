/**
 * Trains the shipped FER2013 model (models/fer2013-resnet18) the way its card records, resumable.
 *
 *   node --import tsx scripts/train-fer2013.ts --data ../shared/data/fer2013 --out /tmp/fer-next \
 *     --checkpoints ~/fer-ckpt --epochs 14 --lr 0.02 --stem imagenet-nopool --init models/fer2013-resnet18
 *
 * Honest numbers: the epoch is selected on 3,000 faces held out of FER2013 Training (Rng(2024), the
 * split of bench/recipe.ts), never on val (PublicTest). Training faces with a near-copy in val or in
 * the held-out slice (findLeaks) are left out of training, so neither figure is inflated by copies.
 * Val is evaluated once, on the saved file, at the end: that is the figure the card and README report.
 * Stop it at any time (Ctrl-C); the same command resumes from the last finished epoch.
 * With --checkpoints every epoch's weights are also kept (<checkpoints>/epochs/e<N>) for
 * scripts/average-weights.ts. --augment: a preset or JSON options; --mixup 0.2: mixup's alpha.
 * --distill <teachers.json> (scripts/teacher-targets.ts) with --distill-weight 0.7: each face's
 * target is that share of the teachers' probabilities, the rest its label. --size 64: train and
 * evaluate on faces upsampled to 64×64 (--init may be a 48×48 model: the weights fit any size).
 * --sam 0.05: sharpness-aware minimisation with that rho (each step costs two passes).
 * --train-on-held-out: the final fit of a recipe already chosen on held-out: the 3,000 held-out faces
 * train too (only near-copies of val are left out), nothing is selected (the last epoch is the
 * model), and the held-out figures each epoch prints are training figures. Val stays unseen.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  activeBackend,
  AUGMENT_PRESETS,
  createAugmenter,
  createResNet18,
  EMOTIONS,
  initBackend,
  loadModel,
  machineDescription,
  saveModel,
  train,
  type AugmentOptions,
  type Stem,
} from "../kernel/fer/index";
import { loadFer2013Split, recordMetrics } from "./fer2013Split";
import { readTeacherTargets } from "./teacherTargetsFile";
import { parseArgs } from "../cli/args";

const FLAGS = {
  ...Object.fromEntries(["data", "out", "checkpoints", "epochs", "lr", "stem", "init", "augment", "seed", "mixup", "distill", "distill-weight", "size", "sam"].map((name) => [name, { value: true }])),
  "train-on-held-out": { value: false },
};

async function main(): Promise<void> {
  const a = parseArgs("train-fer2013", process.argv.slice(2), FLAGS).flags as Record<string, string | undefined>;
  const root = a.data ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const out = a.out;
  if (!out) throw new Error("--out <folder> is required (the model is written there; an existing model folder is not overwritten).");
  if (fs.existsSync(path.join(out, "model.json"))) throw new Error(`${out} already holds a model: choose another --out.`);
  const epochs = Number(a.epochs ?? 14);
  const lr = Number(a.lr ?? 0.02);
  const stem = (a.stem ?? "imagenet-nopool") as Stem;
  await initBackend();
  console.log(`backend ${activeBackend()?.description}`);

  // --size 64: faces upsampled to 64×64 (the nopool stem's layer3 then works at 8×8, not 6×6).
  const size = Number(a.size ?? 48);
  if (!(Number.isInteger(size) && size >= 32 && size <= 224)) throw new Error(`--size ${a.size}: the input side in pixels, a whole number from 32 to 224 (48 is FER2013's own).`);
  const heldOutInTraining = a["train-on-held-out"] !== undefined;
  const split = await loadFer2013Split(root, size, { heldOutInTraining });
  const { train: trainSet, heldOut, val, leftOut } = split;
  console.log(
    heldOutInTraining
      ? `train ${trainSet.size}, the held-out slice included (${leftOut} left out: near-copies of val) · nothing selected: the last epoch is the model; the held-out figures below are training figures · val ${val.size}`
      : `train ${trainSet.size} (${leftOut} left out: near-copies of val or held-out faces) · held-out ${heldOut.size} · val ${val.size}`,
  );

  const model = createResNet18({ stem, height: size, width: size, channels: 1 });
  const init = a.init ? await loadModel(a.init) : undefined;
  if (init) model.setWeights(init.model.getWeights());
  const normalization = init ? { mean: init.card.input.mean, std: init.card.input.std } : undefined;
  // --augment is a preset name (standard, light, none) or the options as JSON, e.g. '{"flip":true,"translate":0.1}'.
  const augmentName = a.augment ?? "standard";
  const augmentation = augmentName.trim().startsWith("{") ? (JSON.parse(augmentName) as AugmentOptions) : AUGMENT_PRESETS[augmentName as keyof typeof AUGMENT_PRESETS];
  if (!augmentation) throw new Error(`--augment ${augmentName}: not a preset (${Object.keys(AUGMENT_PRESETS).join(", ")}) or JSON options.`);
  // Unset stays unset (not 0), so runs checkpointed before --mixup existed still resume.
  const mixup = a.mixup === undefined ? undefined : Number(a.mixup);
  if (mixup !== undefined && !(mixup >= 0)) throw new Error(`--mixup ${a.mixup}: mixup's alpha, a number ≥ 0 (0.2 is usual; 0 turns it off).`);
  const sam = a.sam === undefined ? undefined : Number(a.sam);
  if (sam !== undefined && !(sam >= 0)) throw new Error(`--sam ${a.sam}: SAM's rho, a number ≥ 0 (0.05 is usual; 0 turns it off).`);
  const distillWeight = Number(a["distill-weight"] ?? 0.5);
  if (a.distill && !(distillWeight >= 0 && distillWeight <= 1)) throw new Error(`--distill-weight ${a["distill-weight"]}: the teachers' share of each target, between 0 and 1.`);
  const distill = a.distill ? { ...readTeacherTargets(a.distill, trainSet.paths, EMOTIONS), weight: distillWeight } : undefined;
  const result = await train(model, trainSet, heldOut, {
    epochs,
    batchSize: 64,
    optimizer: "sgd",
    learningRate: lr,
    warmupEpochs: 0.3,
    weightDecay: 5e-4,
    labelSmoothing: 0.1,
    mixup,
    sam,
    distill,
    classBalance: "none",
    seed: Number(a.seed ?? 42),
    checkpointDir: a.checkpoints,
    resume: a.checkpoints !== undefined,
    keepEpochWeights: a.checkpoints !== undefined,
    restoreBest: !heldOutInTraining,
    normalization,
    augment: createAugmenter(augmentation),
    progress: "auto",
  });
  if (!heldOutInTraining) console.log(`best held-out epoch ${result.bestEpoch}: ${JSON.stringify(result.best)}`);
  const seconds = result.history.reduce((s, e) => s + e.seconds, 0);
  const initSeconds = Number(init?.card.training?.wallSeconds ?? 0);
  await saveModel(
    model,
    out,
    {
      name: "resnet18-fer2013",
      classes: [...EMOTIONS],
      input: { height: size, width: size, channels: 1, ...result.normalization },
      architecture: { name: model.name, parameters: model.countParams() },
      training: {
        recipe: { ...result.options, augmentation, checkpointDir: a.checkpoints ? path.basename(a.checkpoints) : undefined },
        epochsDone: result.epochsDone,
        bestEpoch: heldOutInTraining ? undefined : result.bestEpoch,
        selectedOn: heldOutInTraining
          ? "nothing: the last epoch of a recipe fixed in advance, trained on all of FER2013 Training less the near-copies of val faces (the held-out slice included); val was not used"
          : "held-out macro-F1: 3,000 faces of FER2013 Training (Rng(2024)) that this run did not train on; val was not used",
        wallSeconds: Math.round(seconds + initSeconds),
        wallSecondsThisRun: Math.round(seconds),
        initialisedFrom: init
          ? { model: init.card.name, folder: path.basename(path.resolve(a.init!)), architecture: init.card.architecture, weights: init.card.weights.dtype, metrics: init.card.metrics, training: init.card.training }
          : undefined,
        backend: activeBackend()?.description,
        machine: machineDescription(),
        data: { train: trainSet.fingerprint(), heldOut: heldOut.fingerprint(), val: val.fingerprint(), trainSize: trainSet.size, heldOutSize: heldOut.size, heldOutInTraining, leftOutNearCopies: leftOut },
        history: result.history,
      },
    },
    { overwrite: false, quantize: "float16" },
  );
  // The saved (float16) file itself, on val, once.
  console.log(JSON.stringify({ out, ...(await recordMetrics(out, split)) }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
