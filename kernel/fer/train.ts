/**
 * Training: SGD with momentum (Nesterov) or AdamW, cosine learning rate with linear warm-up,
 * weight decay, label smoothing, class-balanced loss or sampling, early stopping on validation
 * macro-F1, a checkpoint every epoch with exact resume (weights, optimizer state, schedule
 * position, RNG), progress with ETA, and a clean stop at a batch boundary on interrupt.
 *
 * `train` owns the loop (order, batches, steps, validation, the run's state) and composes the rest
 * from training/: the run's subscribers (training/run.ts; callbacks.ts: the user's events, the
 * notebook's progress bar and live chart, best weights, early stopping; checkpoint.ts: resume and
 * checkpoints), called at the run's start, after each batch and epoch, and at its end.
 */
import * as tf from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import * as os from "node:os";
import { EMOTIONS } from "./labels";
import type { InputSpec } from "./modelIO";
import { currentSignal } from "./progress";
import { logitsModel } from "./resnet";
import { Rng } from "./rng";
import { SGD_NESTEROV_KERNEL } from "./backends/wasmNative";
import { batchTensor, datasetNormalization, type Augmenter, type TrainingData } from "./modelInput";
import { bestWeights, chartCallback, earlyStopping, eventCallback, progressCallback } from "./training/callbacks";
import { checkpointCallback, openRun, type CheckpointCard } from "./training/checkpoint";
import type { EpochRecord, StoppedBy, TrainEvent } from "./training/events";
import { notify, type RunState, type TrainCallback, type TrainingRun } from "./training/run";
import { validationMetrics } from "./training/validation";

// What training needs of a data set, the augmenter, and how batches are built: modelInput.ts (the
// one place pixels become model input; also used by evaluation, prediction, Grad-CAM and curation).
export type { Augmenter, TrainingData } from "./modelInput";
export { batchTensor, datasetNormalization, predictProbabilities } from "./modelInput";
// What a run reports (per-epoch records, events): training/events.ts.
export type { EpochRecord, TrainEvent } from "./training/events";

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  optimizer: "sgd" | "adamw";
  /** Peak learning rate, reached after warm-up. */
  learningRate: number;
  minLearningRate: number;
  warmupEpochs: number;
  momentum: number;
  weightDecay: number;
  labelSmoothing: number;
  /**
   * Mixup (Zhang et al. 2018): each batch is blended with a shuffled copy of itself, pixels and
   * targets alike, by λ ~ Beta(mixup, mixup) (folded to λ ≥ 0.5, so the first face dominates and
   * the training accuracy still counts its label). 0 or unset: off. 0.2–0.4 is the usual range.
   */
  mixup?: number;
  /**
   * Knowledge distillation (Hinton et al. 2015): `targets` holds a teacher's class probabilities for
   * every training face (data.size × classes, row-major, in the data's order), and each face's target
   * becomes `weight`·teacher + (1 − weight)·its (smoothed) label. With mixup, both faces' targets are
   * blended alike. The run records the weight, the teachers' names and a checksum of the targets,
   * not the targets themselves.
   */
  distill?: { targets: Float32Array; weight: number; teachers?: string[] };
  /**
   * Sharpness-aware minimisation (Foret et al. 2021): each step first climbs to the worst nearby
   * weights, w + rho·g/‖g‖, takes the gradient there, and applies that gradient at w. It seeks flat
   * minima, which resist label noise; each step costs two forward and backward passes. Batch-norm
   * statistics are updated once a step, by the first pass. 0 or unset: off; 0.05–0.1 is usual.
   */
  sam?: number;
  /**
   * "loss": inverse-frequency class weights; "sampler": class-balanced sampling; "none" (default:
   * on FER2013 the weighted loss cost 20 points of accuracy after one epoch, `npm run bench:recipe`).
   */
  classBalance: "none" | "loss" | "sampler";
  /** Stop when validation macro-F1 has not improved for this many epochs (0 = never). */
  earlyStoppingPatience: number;
  seed: number;
  /** Where a checkpoint is written every epoch (`last/`) and at each new best (`best/`). */
  checkpointDir?: string;
  /** Continue the run saved in checkpointDir exactly where it stopped. */
  resume: boolean;
  /**
   * Also keep every epoch's weights (float16, about 22 MB each for ResNet-18) in
   * `checkpointDir/epochs/e<N>`, for weight averaging afterwards (scripts/average-weights.ts).
   */
  keepEpochWeights?: boolean;
  /** End this call after this many epochs (the schedule still spans `epochs`); for staged runs. */
  stopAfterEpochs?: number;
  /** Restore the weights of the best validation epoch at the end (needs validation data). */
  restoreBest: boolean;
  /** Stops training at the next batch boundary; inside a notebook the cell's interrupt is used. */
  signal?: AbortSignal;
  /** Pixel normalisation; default: mean and std of the training images. */
  normalization?: { mean: number; std: number };
  /** "auto": notebook outputs in a notebook, lines from scripts; or a callback for every event. */
  progress: "auto" | "silent" | ((event: TrainEvent) => void);
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  epochs: 30,
  batchSize: 64,
  optimizer: "sgd",
  learningRate: 0.05,
  minLearningRate: 0,
  warmupEpochs: 1,
  momentum: 0.9,
  weightDecay: 5e-4,
  labelSmoothing: 0.1,
  classBalance: "none",
  earlyStoppingPatience: 0,
  seed: 42,
  resume: false,
  restoreBest: true,
  progress: "auto",
};

/** What a run records of `distill` (its card and checkpoints stay small). */
export interface DistillRecord {
  weight: number;
  teachers?: string[];
  faces: number;
  /** A checksum of the targets: resuming with other targets is refused. */
  checksum: string;
}

export type RecordedTrainOptions = Omit<TrainOptions, "signal" | "progress" | "distill"> & { distill?: DistillRecord };

export interface TrainResult {
  history: EpochRecord[];
  /** Epoch (1-based) with the best validation macro-F1, if validation data was given. */
  bestEpoch?: number;
  best?: { valAccuracy: number; valMacroF1: number };
  stoppedBy: StoppedBy;
  epochsDone: number;
  seconds: number;
  backend: string;
  normalization: { mean: number; std: number };
  options: RecordedTrainOptions;
}

// ---- learning-rate schedule -----------------------------------------------------------------

/** Linear warm-up to `peak`, then cosine decay to `min` at `total` steps. */
export function cosineLearningRate(step: number, total: number, warmup: number, peak: number, min: number): number {
  if (warmup > 0 && step < warmup) return (peak * (step + 1)) / warmup;
  const t = total - warmup <= 0 ? 1 : Math.min(1, (step - warmup) / (total - warmup));
  return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * t));
}

// ---- optimizers with explicit, saveable state --------------------------------------------------

interface Optimizer {
  apply(grads: Map<tf.Variable, tf.Tensor>, learningRate: number): void;
  state(): tf.NamedTensorMap;
  setState(state: tf.NamedTensorMap): void;
}

/** Weight decay applies to conv/dense kernels only, not to batch-norm parameters or biases. */
function decays(v: tf.Variable): boolean {
  return /kernel/.test(v.name);
}

function createOptimizer(kind: "sgd" | "adamw", vars: tf.Variable[], o: TrainOptions): Optimizer {
  const slots = (suffix: string) => vars.map((v) => tf.variable(tf.zerosLike(v), false, `${v.name}/${suffix}`));
  if (kind === "sgd") {
    const velocity = slots("momentum");
    // fernb's one-pass kernel where the backend has it (wasm with the native kernels), else tf ops.
    const fused = tf.getKernel(SGD_NESTEROV_KERNEL, tf.getBackend()) !== undefined;
    return {
      apply(grads, lr) {
        tf.tidy(() => {
          vars.forEach((v, i) => {
            let g = grads.get(v)!;
            if (fused) {
              const attrs = { lr, momentum: o.momentum, weightDecay: o.weightDecay > 0 && decays(v) ? o.weightDecay : 0 };
              const [w, vel] = tf.engine().runKernel(SGD_NESTEROV_KERNEL, { w: v, g, v: velocity[i] }, attrs) as tf.Tensor[];
              velocity[i].assign(vel);
              v.assign(w);
              return;
            }
            if (o.weightDecay > 0 && decays(v)) g = g.add(v.mul(o.weightDecay));
            const vel = velocity[i].mul(o.momentum).add(g);
            velocity[i].assign(vel);
            // Nesterov momentum, as in torch.optim.SGD(nesterov=True).
            v.assign(v.sub(g.add(vel.mul(o.momentum)).mul(lr)));
          });
        });
      },
      state: () => Object.fromEntries(velocity.map((t, i) => [`sgd/${i}`, t])),
      setState(state) {
        velocity.forEach((t, i) => t.assign(state[`sgd/${i}`]));
      },
    };
  }
  const m = slots("adam_m");
  const s = slots("adam_v");
  let t = 0;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  return {
    apply(grads, lr) {
      t++;
      const c1 = 1 - beta1 ** t;
      const c2 = 1 - beta2 ** t;
      tf.tidy(() => {
        vars.forEach((v, i) => {
          const g = grads.get(v)!;
          const mi = m[i].mul(beta1).add(g.mul(1 - beta1));
          const si = s[i].mul(beta2).add(g.square().mul(1 - beta2));
          m[i].assign(mi);
          s[i].assign(si);
          let update = mi.div(c1).div(si.div(c2).sqrt().add(eps));
          // Decoupled weight decay (Loshchilov & Hutter): AdamW.
          if (o.weightDecay > 0 && decays(v)) update = update.add(v.mul(o.weightDecay));
          v.assign(v.sub(update.mul(lr)));
        });
      });
    },
    state: () => ({ "adamw/t": tf.scalar(t), ...Object.fromEntries(m.map((x, i) => [`adamw/m/${i}`, x])), ...Object.fromEntries(s.map((x, i) => [`adamw/v/${i}`, x])) }),
    setState(state) {
      t = state["adamw/t"].dataSync()[0];
      m.forEach((x, i) => x.assign(state[`adamw/m/${i}`]));
      s.forEach((x, i) => x.assign(state[`adamw/v/${i}`]));
    },
  };
}

function classCounts(labels: Int32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

/** The order of training samples for one epoch. */
function epochOrder(labels: Int32Array, classes: number, balance: TrainOptions["classBalance"], rng: Rng): number[] {
  const n = labels.length;
  if (balance !== "sampler") return rng.shuffle(Array.from({ length: n }, (_, i) => i));
  // Class-balanced sampling with replacement: each class equally likely, then a uniform member.
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((l, i) => byClass[l].push(i));
  const present = byClass.filter((c) => c.length > 0);
  return Array.from({ length: n }, () => {
    const members = present[rng.int(present.length)];
    return members[rng.int(members.length)];
  });
}

// ---- the loop ------------------------------------------------------------------------------

/** Soft targets of a batch (teacher probabilities, one row per face) and their share of each target. */
export interface SoftTargets {
  probabilities: tf.Tensor2D;
  weight: number;
}

function lossFunction(logits: tf.Tensor, labels: tf.Tensor1D, classes: number, smoothing: number, classWeights: tf.Tensor1D | undefined, soft?: SoftTargets): tf.Scalar {
  const oneHot = tf.oneHot(labels, classes).toFloat();
  const labelTarget = smoothing > 0 ? oneHot.mul(1 - smoothing).add(smoothing / classes) : oneHot;
  const target = soft ? labelTarget.mul(1 - soft.weight).add(soft.probabilities.mul(soft.weight)) : labelTarget;
  const perSample = target.mul(tf.logSoftmax(logits)).sum(1).neg();
  if (!classWeights) return perSample.mean() as tf.Scalar;
  // As torch's CrossEntropyLoss(weight=...): a weighted mean normalised by the batch's weights.
  const w = classWeights.gather(labels);
  return perSample.mul(w).sum().div(w.sum()) as tf.Scalar;
}

/** A mixup blend: every face b becomes λ·face b + (1 − λ)·face partner[b], targets alike. */
export interface Mix {
  lambda: number;
  partner: tf.Tensor1D;
}

/** The blend of one batch of `size` (λ folded to ≥ 0.5), or undefined when mixup is off. */
export function drawMix(alpha: number | undefined, size: number, rng: Rng): { lambda: number; partner: Int32Array } | undefined {
  if (!alpha || alpha <= 0 || size < 2) return undefined;
  const l = rng.beta(alpha, alpha);
  return { lambda: Math.max(l, 1 - l), partner: Int32Array.from(rng.shuffle(Array.from({ length: size }, (_, i) => i))) };
}

/**
 * SAM's gradient: the weights move to w + rho·g/‖g‖ (g: the gradient at w, ‖g‖ over all weights),
 * the loss's gradient is taken there, and the weights and batch-norm statistics go back to what
 * they were, so only the first pass's statistics update counts.
 */
function sharpnessAwareGrads(vars: tf.Variable[], grads: tf.NamedTensorMap, rho: number, statistics: tf.Variable[], loss: () => tf.Scalar): tf.NamedTensorMap {
  const weights = vars.map((v) => v.clone());
  const kept = statistics.map((s) => s.clone());
  tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(vars.map((v) => grads[v.name].square().sum()))).add(1e-12);
    const scale = tf.scalar(rho).div(norm);
    vars.forEach((v) => v.assign(v.add(grads[v.name].mul(scale))));
  });
  const { value, grads: there } = tf.variableGrads(loss, vars);
  // Back exactly (not w + e − e, which rounds).
  vars.forEach((v, i) => v.assign(weights[i]));
  statistics.forEach((s, i) => s.assign(kept[i]));
  tf.dispose([value, ...weights, ...kept]);
  return there;
}

/**
 * One optimisation step on a batch (forward in training mode, loss, gradients, optimizer update).
 * Used by `train` and by the benchmark, so both measure the same work.
 */
export function createTrainingStep(model: tf.LayersModel, options: Partial<TrainOptions> = {}, classWeights?: tf.Tensor1D): {
  step: (x: tf.Tensor4D, y: tf.Tensor1D, learningRate: number, mix?: Mix, soft?: SoftTargets) => Promise<{ loss: number; correct: number }>;
  optimizer: Optimizer;
} {
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const classes = (model.outputs[0].shape[1] as number) ?? EMOTIONS.length;
  const logits = logitsModel(model);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // The batch-norm moving statistics, which a training-mode forward pass updates.
  const statistics = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = createOptimizer(o.optimizer, vars, o);
  const step = async (x: tf.Tensor4D, y: tf.Tensor1D, learningRate: number, mix?: Mix, soft?: SoftTargets) => {
    let correct = 0;
    const batchLoss = (count: boolean) => (): tf.Scalar => {
      const input = mix ? x.mul(mix.lambda).add(x.gather(mix.partner).mul(1 - mix.lambda)) : x;
      const out = logits.apply(input, { training: true }) as tf.Tensor;
      if (count) correct = tf.tidy(() => out.argMax(1).equal(y).sum().dataSync()[0]);
      const loss = lossFunction(out, y, classes, o.labelSmoothing, classWeights, soft);
      if (!mix) return loss;
      // The loss is linear in the target, so the mixed target's loss is the λ-weighted sum.
      const partnerSoft = soft ? { probabilities: soft.probabilities.gather(mix.partner), weight: soft.weight } : undefined;
      return loss.mul(mix.lambda).add(lossFunction(out, y.gather(mix.partner), classes, o.labelSmoothing, classWeights, partnerSoft).mul(1 - mix.lambda)) as tf.Scalar;
    };
    const { value, grads } = tf.variableGrads(batchLoss(true), vars);
    const update = o.sam && o.sam > 0 ? sharpnessAwareGrads(vars, grads, o.sam, statistics, batchLoss(false)) : grads;
    optimizer.apply(new Map(vars.map((v) => [v, update[v.name]] as [tf.Variable, tf.Tensor])), learningRate);
    const loss = (await value.data())[0];
    tf.dispose([value, ...Object.values(grads), ...(update === grads ? [] : Object.values(update))]);
    return { loss, correct };
  };
  return { step, optimizer };
}

/** Trains `model` on `data` (and validates on `validation`, if given) with the options. */
export async function train(model: tf.LayersModel, data: TrainingData, validation: TrainingData | undefined, userOptions: Partial<TrainOptions> & { augment?: Augmenter }): Promise<TrainResult> {
  const { augment, ...rest } = userOptions;
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...rest };
  if (data.size === 0) throw new Error("The training set is empty: check the data folder and its load report.");
  const classes = (model.outputs[0].shape[1] as number) ?? EMOTIONS.length;
  const [, mh, mw, mc] = model.inputs[0].shape;
  if (mh !== data.height || mw !== data.width || mc !== data.channels) {
    throw new Error(`The model takes ${mh}×${mw}×${mc} images but the data set holds ${data.height}×${data.width}×${data.channels}: load the data with the model's input size.`);
  }
  const { signal: _s, progress: _p, distill, ...plainOptions } = o;
  if (distill) {
    if (!(distill.weight >= 0 && distill.weight <= 1)) throw new RangeError(`distill.weight must be between 0 and 1, got ${distill.weight}`);
    if (distill.targets.length !== data.size * classes) throw new RangeError(`distill.targets holds ${distill.targets.length} values; ${data.size} faces × ${classes} classes need ${data.size * classes}`);
  }
  const recordedOptions: RecordedTrainOptions = distill ? { ...plainOptions, distill: distillRecord(distill, data.size) } : plainOptions;
  const stepsPerEpoch = Math.max(1, Math.floor(data.size / o.batchSize));
  const totalSteps = stepsPerEpoch * o.epochs;
  const warmupSteps = Math.round(o.warmupEpochs * stepsPerEpoch);
  const backend = tf.getBackend();
  const counts = classCounts(data.labels, classes);
  const classWeights =
    o.classBalance === "loss"
      ? tf.tensor1d(counts.map((c) => (c === 0 ? 0 : data.size / (classes * c))))
      : undefined;
  const { step, optimizer } = createTrainingStep(model, o, classWeights);

  const fresh: RunState<typeof recordedOptions> = {
    epochsDone: 0,
    step: 0,
    rng: new Rng(o.seed).getState(),
    history: [],
    sinceBest: 0,
    normalization: o.normalization ?? datasetNormalization(data),
    options: recordedOptions,
    dataFingerprint: data.fingerprint(),
  };
  // Resume (or refuse to overwrite a run by surprise): training/checkpoint.ts.
  const { state, bestWeights: savedBest } = await openRun(o.checkpointDir, fresh, model, optimizer, o.restoreBest);

  const rng = new Rng(state.rng);
  const norm = state.normalization;
  const startEpoch = state.epochsDone;
  const lastEpoch = Math.min(o.epochs, o.stopAfterEpochs !== undefined ? startEpoch + o.stopAfterEpochs : o.epochs);
  const started = Date.now();
  const card = (): CheckpointCard => ({
    name: model.name,
    classes: [...EMOTIONS],
    input: { height: data.height, width: data.width, channels: data.channels as 1 | 3, ...norm } satisfies InputSpec,
    architecture: { name: model.name, parameters: model.countParams() },
  });

  // The run's subscribers, in the order they hear of each event.
  const callbacks: TrainCallback[] = [
    bestWeights(o.restoreBest, savedBest),
    ...(typeof o.progress === "function" ? [eventCallback(o.progress)] : []),
    ...(o.progress === "auto" ? [progressCallback(), chartCallback()] : []),
    ...(o.checkpointDir ? [checkpointCallback(o.checkpointDir, card, o.keepEpochWeights === true)] : []),
    earlyStopping(o.earlyStoppingPatience),
  ];
  const run: TrainingRun = { model, optimizer, options: recordedOptions, state, backend, trainSize: data.size, valSize: validation?.size ?? 0, stepsPerEpoch, totalSteps, startEpoch };
  await notify(callbacks, "onStart", run);

  const signal = (): boolean => (o.signal ?? currentSignal())?.aborted === true;
  let stoppedBy: StoppedBy = "completed";
  let imagesSeen = 0;
  const loopStart = Date.now();

  epochs: for (let epoch = startEpoch; epoch < lastEpoch; epoch++) {
    const epochStart = Date.now();
    const order = epochOrder(data.labels, classes, o.classBalance, rng);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let lr = o.learningRate;
    for (let s = 0; s < stepsPerEpoch; s++) {
      if (signal()) {
        stoppedBy = "interrupted";
        break epochs;
      }
      lr = cosineLearningRate(state.step, totalSteps, warmupSteps, o.learningRate, o.minLearningRate);
      const idx = order.slice(s * o.batchSize, (s + 1) * o.batchSize);
      const x = batchTensor(data, idx, norm, augment, rng);
      const y = tf.tensor1d(Int32Array.from(idx, (i) => data.labels[i]), "int32");
      const blend = drawMix(o.mixup, idx.length, rng);
      const mix = blend ? { lambda: blend.lambda, partner: tf.tensor1d(blend.partner, "int32") } : undefined;
      const soft = distill ? { probabilities: softRows(distill.targets, idx, classes), weight: distill.weight } : undefined;
      const { loss, correct: batchCorrect } = await step(x, y, lr, mix, soft);
      tf.dispose([x, y, ...(mix ? [mix.partner] : []), ...(soft ? [soft.probabilities] : [])]);
      if (!Number.isFinite(loss)) {
        throw new Error(`The loss became ${loss} at epoch ${epoch + 1}, step ${s + 1}: lower the learning rate (now ${lr.toPrecision(3)}).`);
      }
      state.step++;
      imagesSeen += idx.length;
      lossSum += loss * idx.length;
      correct += batchCorrect;
      seen += idx.length;
      const ips = imagesSeen / ((Date.now() - loopStart) / 1000);
      const eta = ((totalSteps - state.step) * o.batchSize) / ips;
      await notify(callbacks, "onBatch", run, { epoch: epoch + 1, step: s + 1, loss, accuracy: batchCorrect / idx.length, learningRate: lr, imagesPerSecond: ips, etaSeconds: eta, runningLoss: lossSum / seen, runningAccuracy: correct / seen });
      // Let IPC (interrupt) and output through between batches.
      await new Promise((r) => setImmediate(r));
    }

    const record: EpochRecord = {
      epoch: epoch + 1,
      trainLoss: lossSum / Math.max(1, seen),
      trainAccuracy: correct / Math.max(1, seen),
      learningRate: lr,
      seconds: 0,
    };
    let best = false;
    if (validation && validation.size > 0) {
      const m = await validationMetrics(model, validation, norm, classes);
      Object.assign(record, m);
      if (state.best === undefined || m.valMacroF1 > state.best.valMacroF1) {
        best = true;
        state.best = { valAccuracy: m.valAccuracy, valMacroF1: m.valMacroF1 };
        state.bestEpoch = epoch + 1;
        state.sinceBest = 0;
      } else {
        state.sinceBest++;
      }
    }
    record.seconds = (Date.now() - epochStart) / 1000;
    state.history.push(record);
    state.epochsDone = epoch + 1;
    state.rng = rng.getState();
    await notify(callbacks, "onEpoch", run, { record, best });
    if (run.stop) {
      stoppedBy = run.stop;
      break;
    }
  }
  if (stoppedBy === "completed" && state.epochsDone < o.epochs) stoppedBy = "epoch-limit";
  classWeights?.dispose();
  tf.dispose(Object.values(optimizer.state()));
  const seconds = (Date.now() - started) / 1000;
  await notify(callbacks, "onEnd", run, { stoppedBy, seconds });
  return {
    history: state.history,
    bestEpoch: state.bestEpoch,
    best: state.best,
    stoppedBy,
    epochsDone: state.epochsDone,
    seconds,
    backend,
    normalization: norm,
    options: recordedOptions,
  };
}

/** The rows of an n × classes matrix at `indices`, as a tensor. */
function softRows(targets: Float32Array, indices: readonly number[], classes: number): tf.Tensor2D {
  const rows = new Float32Array(indices.length * classes);
  indices.forEach((i, b) => rows.set(targets.subarray(i * classes, (i + 1) * classes), b * classes));
  return tf.tensor2d(rows, [indices.length, classes]);
}

/** What the run records of its distillation targets: their weight, teachers and a checksum. */
export function distillRecord(d: NonNullable<TrainOptions["distill"]>, faces: number): DistillRecord {
  const checksum = createHash("sha256").update(new Uint8Array(d.targets.buffer, d.targets.byteOffset, d.targets.byteLength)).digest("hex").slice(0, 8);
  return { weight: d.weight, ...(d.teachers ? { teachers: [...d.teachers] } : {}), faces, checksum };
}

/** Hardware facts for model cards. */
export function machineDescription(): Record<string, unknown> {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? "unknown", cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()} ${os.arch()}`, node: process.version };
}
