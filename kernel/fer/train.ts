/**
 * Training: SGD with momentum (Nesterov) or AdamW, cosine learning rate with linear warm-up,
 * weight decay, label smoothing, class-balanced loss or sampling, early stopping on validation
 * macro-F1, a checkpoint every epoch with exact resume (weights, optimizer state, schedule
 * position, RNG), progress with ETA, and a clean stop at a batch boundary on interrupt.
 */
import * as tf from "@tensorflow/tfjs";
import { promises as fs, existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EMOTIONS } from "./labels";
import { basicMetrics } from "./metrics";
import { decodeTensors, encodeTensors, loadModel, saveModel, writeAtomic, type InputSpec, type ModelCard } from "./modelIO";
import { currentSignal, formatDuration, info, liveChart, progressBar } from "./progress";
import { trainingChartSpec } from "./trainingChart";
import { logitsModel } from "./resnet";
import { Rng, type RngState } from "./rng";
import { SGD_NESTEROV_KERNEL } from "./backends/wasmNative";
import { argmaxRows, batchTensor, datasetNormalization, predictProbabilities, type Augmenter, type TrainingData } from "./modelInput";

// What training needs of a data set, the augmenter, and how batches are built: modelInput.ts (the
// one place pixels become model input; also used by evaluation, prediction, Grad-CAM and curation).
export type { Augmenter, TrainingData } from "./modelInput";
export { batchTensor, datasetNormalization, predictProbabilities } from "./modelInput";

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

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  learningRate: number;
  valLoss?: number;
  valAccuracy?: number;
  valMacroF1?: number;
  seconds: number;
}

export type TrainEvent =
  | { type: "start"; backend: string; epochs: number; stepsPerEpoch: number; startEpoch: number; trainSize: number; valSize: number }
  | { type: "batch"; epoch: number; step: number; stepsPerEpoch: number; loss: number; accuracy: number; learningRate: number; imagesPerSecond: number; etaSeconds: number }
  | { type: "epoch"; record: EpochRecord; best: boolean }
  | { type: "end"; stoppedBy: TrainResult["stoppedBy"]; seconds: number };

export interface TrainResult {
  history: EpochRecord[];
  /** Epoch (1-based) with the best validation macro-F1, if validation data was given. */
  bestEpoch?: number;
  best?: { valAccuracy: number; valMacroF1: number };
  stoppedBy: "completed" | "interrupted" | "early-stopping" | "epoch-limit";
  epochsDone: number;
  seconds: number;
  backend: string;
  normalization: { mean: number; std: number };
  options: Omit<TrainOptions, "signal" | "progress">;
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

// ---- checkpoints ---------------------------------------------------------------------------

interface CheckpointState {
  epochsDone: number;
  step: number;
  rng: RngState;
  history: EpochRecord[];
  bestEpoch?: number;
  best?: { valAccuracy: number; valMacroF1: number };
  sinceBest: number;
  normalization: { mean: number; std: number };
  options: Omit<TrainOptions, "signal" | "progress">;
  dataFingerprint: string;
  optimizerSpecs: tf.io.WeightsManifestEntry[];
}

/** The options that must match for a resume to continue the same run. */
function runIdentity(o: Omit<TrainOptions, "signal" | "progress">): string {
  const { stopAfterEpochs: _a, resume: _b, checkpointDir: _c, ...rest } = o;
  return JSON.stringify(rest);
}

async function writeCheckpoint(dir: string, name: string, model: tf.LayersModel, optimizer: Optimizer, state: Omit<CheckpointState, "optimizerSpecs">, card: Omit<ModelCard, "weights" | "format" | "version" | "created">): Promise<void> {
  const final = path.join(dir, name);
  const tmp = `${final}.tmp`;
  const old = `${final}.old`;
  await fs.rm(tmp, { recursive: true, force: true });
  await saveModel(model, tmp, card);
  const optimizerState = optimizer.state();
  const { specs, data } = await encodeTensors(optimizerState);
  // state() returns the slot variables themselves plus fresh scalars (AdamW's step): free those.
  for (const t of Object.values(optimizerState)) if (!(t instanceof tf.Variable)) t.dispose();
  await writeAtomic(path.join(tmp, "optimizer.bin"), data);
  await writeAtomic(path.join(tmp, "state.json"), JSON.stringify({ ...state, optimizerSpecs: specs }, null, 2));
  // Swap folders so that a complete checkpoint exists at every moment (`last` or `last.old`).
  await fs.rm(old, { recursive: true, force: true });
  if (existsSync(final)) await fs.rename(final, old);
  await fs.rename(tmp, final);
  await fs.rm(old, { recursive: true, force: true });
}

async function readCheckpoint(dir: string, name: string): Promise<{ dir: string; state: CheckpointState } | undefined> {
  for (const candidate of [path.join(dir, name), path.join(dir, `${name}.old`)]) {
    const file = path.join(candidate, "state.json");
    if (!existsSync(file)) continue;
    try {
      return { dir: candidate, state: JSON.parse(await fs.readFile(file, "utf8")) as CheckpointState };
    } catch {
      continue;
    }
  }
  return undefined;
}

function copyWeights(from: tf.LayersModel, to: tf.LayersModel): void {
  to.setWeights(from.getWeights());
}

// ---- the loop ------------------------------------------------------------------------------

function lossFunction(logits: tf.Tensor, labels: tf.Tensor1D, classes: number, smoothing: number, classWeights: tf.Tensor1D | undefined): tf.Scalar {
  const oneHot = tf.oneHot(labels, classes).toFloat();
  const target = smoothing > 0 ? oneHot.mul(1 - smoothing).add(smoothing / classes) : oneHot;
  const perSample = target.mul(tf.logSoftmax(logits)).sum(1).neg();
  if (!classWeights) return perSample.mean() as tf.Scalar;
  // As torch's CrossEntropyLoss(weight=...): a weighted mean normalised by the batch's weights.
  const w = classWeights.gather(labels);
  return perSample.mul(w).sum().div(w.sum()) as tf.Scalar;
}

/**
 * One optimisation step on a batch (forward in training mode, loss, gradients, optimizer update).
 * Used by `train` and by the benchmark, so both measure the same work.
 */
export function createTrainingStep(model: tf.LayersModel, options: Partial<TrainOptions> = {}, classWeights?: tf.Tensor1D): {
  step: (x: tf.Tensor4D, y: tf.Tensor1D, learningRate: number) => Promise<{ loss: number; correct: number }>;
  optimizer: Optimizer;
} {
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const classes = (model.outputs[0].shape[1] as number) ?? EMOTIONS.length;
  const logits = logitsModel(model);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = createOptimizer(o.optimizer, vars, o);
  const step = async (x: tf.Tensor4D, y: tf.Tensor1D, learningRate: number) => {
    let correct = 0;
    const { value, grads } = tf.variableGrads(() => {
      const out = logits.apply(x, { training: true }) as tf.Tensor;
      correct = tf.tidy(() => out.argMax(1).equal(y).sum().dataSync()[0]);
      return lossFunction(out, y, classes, o.labelSmoothing, classWeights);
    }, vars);
    optimizer.apply(new Map(vars.map((v) => [v, grads[v.name]] as [tf.Variable, tf.Tensor])), learningRate);
    const loss = (await value.data())[0];
    tf.dispose([value, ...Object.values(grads)]);
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
  const { signal: _s, progress: _p, ...recordedOptions } = o;
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
  const bestModelWeights: { weights?: tf.Tensor[] } = {};

  let state: Omit<CheckpointState, "optimizerSpecs"> = {
    epochsDone: 0,
    step: 0,
    rng: new Rng(o.seed).getState(),
    history: [],
    sinceBest: 0,
    normalization: o.normalization ?? datasetNormalization(data),
    options: recordedOptions,
    dataFingerprint: data.fingerprint(),
  };

  if (o.checkpointDir) {
    const saved = await readCheckpoint(o.checkpointDir, "last");
    if (saved && !o.resume) {
      throw new Error(`${o.checkpointDir} already holds a training run (epoch ${saved.state.epochsDone}). Pass resume: true to continue it, or choose a new checkpointDir; nothing was changed.`);
    }
    if (o.resume && saved) {
      if (runIdentity(saved.state.options) !== runIdentity(recordedOptions)) {
        throw new Error(`The options differ from the run saved in ${o.checkpointDir}; an exact resume needs the same options (only epochs-per-call and checkpointDir may change).`);
      }
      if (saved.state.dataFingerprint !== state.dataFingerprint) {
        throw new Error(`The training data differs from the data of the run saved in ${o.checkpointDir} (fingerprint ${saved.state.dataFingerprint.slice(0, 12)}… vs ${state.dataFingerprint.slice(0, 12)}…).`);
      }
      const { model: savedModel } = await loadModel(saved.dir);
      copyWeights(savedModel, model);
      savedModel.dispose();
      const optBytes = new Uint8Array(await fs.readFile(path.join(saved.dir, "optimizer.bin")));
      const optState = decodeTensors(optBytes, saved.state.optimizerSpecs);
      optimizer.setState(optState);
      tf.dispose(Object.values(optState));
      const { optimizerSpecs: _o, ...restored } = saved.state;
      state = restored;
      if (o.restoreBest && state.bestEpoch !== undefined) {
        const best = await readCheckpoint(o.checkpointDir, "best");
        if (best) {
          const { model: bestModel } = await loadModel(best.dir);
          bestModelWeights.weights = bestModel.getWeights().map((t) => t.clone());
          bestModel.dispose();
        }
      }
    }
  }

  const rng = new Rng(state.rng);
  const norm = state.normalization;
  const startEpoch = state.epochsDone;
  const lastEpoch = Math.min(o.epochs, o.stopAfterEpochs !== undefined ? startEpoch + o.stopAfterEpochs : o.epochs);
  const emit = typeof o.progress === "function" ? o.progress : () => undefined;
  const visible = o.progress === "auto";
  const started = Date.now();
  const card = (): Omit<ModelCard, "weights" | "format" | "version" | "created"> => ({
    name: model.name,
    classes: [...EMOTIONS],
    input: { height: data.height, width: data.width, channels: data.channels as 1 | 3, ...norm } satisfies InputSpec,
    architecture: { name: model.name, parameters: model.countParams() },
  });

  emit({ type: "start", backend, epochs: o.epochs, stepsPerEpoch, startEpoch, trainSize: data.size, valSize: validation?.size ?? 0 });
  if (visible) {
    info(
      `Training on backend "${backend}" · ${data.size} images (${validation ? `${validation.size} validation` : "no validation"}) · ` +
        `${o.epochs} epochs × ${stepsPerEpoch} steps of ${o.batchSize} · ${o.optimizer} lr ${o.learningRate} cosine` +
        (startEpoch > 0 ? ` · resuming after epoch ${startEpoch}` : ""),
    );
  }
  const bar = visible ? progressBar("Training", totalSteps, { doneAtStart: state.step }) : undefined;
  const chart = visible
    ? liveChart((values) => trainingChartSpec(values, o.epochs))
    : undefined;

  const signal = (): boolean => (o.signal ?? currentSignal())?.aborted === true;
  let stoppedBy: TrainResult["stoppedBy"] = "completed";
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
      const { loss, correct: batchCorrect } = await step(x, y, lr);
      tf.dispose([x, y]);
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
      emit({ type: "batch", epoch: epoch + 1, step: s + 1, stepsPerEpoch, loss, accuracy: batchCorrect / idx.length, learningRate: lr, imagesPerSecond: ips, etaSeconds: eta });
      if (bar) {
        bar.update(state.step, `epoch ${epoch + 1}/${o.epochs} · step ${s + 1}/${stepsPerEpoch} · loss ${(lossSum / seen).toFixed(4)} · acc ${(correct / seen).toFixed(3)} · lr ${lr.toPrecision(3)} · ${ips.toFixed(1)} img/s`);
      }
      if (chart && (s + 1) % Math.max(1, Math.floor(stepsPerEpoch / 20)) === 0) {
        const at = epoch + (s + 1) / stepsPerEpoch;
        chart.push([
          { epoch: at, metric: "loss", series: "train (running)", value: lossSum / seen },
          { epoch: at, metric: "accuracy", series: "train (running)", value: correct / seen },
          { epoch: at, metric: "learning rate", series: "lr", value: lr },
        ]);
      }
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
      const probs = await predictProbabilities(model, validation, norm);
      const predicted = argmaxRows(probs, classes);
      const m = basicMetrics(validation.labels, predicted, classes);
      let nll = 0;
      for (let i = 0; i < validation.size; i++) nll -= Math.log(Math.max(probs[i * classes + validation.labels[i]], 1e-12));
      record.valLoss = nll / validation.size;
      record.valAccuracy = m.accuracy;
      record.valMacroF1 = m.macroF1;
      if (state.best === undefined || m.macroF1 > state.best.valMacroF1) {
        best = true;
        state.best = { valAccuracy: m.accuracy, valMacroF1: m.macroF1 };
        state.bestEpoch = epoch + 1;
        state.sinceBest = 0;
        tf.dispose(bestModelWeights.weights ?? []);
        bestModelWeights.weights = model.getWeights().map((t) => t.clone());
      } else {
        state.sinceBest++;
      }
    }
    record.seconds = (Date.now() - epochStart) / 1000;
    state.history.push(record);
    state.epochsDone = epoch + 1;
    state.rng = rng.getState();
    emit({ type: "epoch", record, best });
    if (visible) {
      info(
        `epoch ${epoch + 1}/${o.epochs}: train loss ${record.trainLoss.toFixed(4)} acc ${record.trainAccuracy.toFixed(4)}` +
          (record.valAccuracy !== undefined ? ` · val loss ${record.valLoss!.toFixed(4)} acc ${record.valAccuracy.toFixed(4)} macro-F1 ${record.valMacroF1!.toFixed(4)}${best ? " (best)" : ""}` : "") +
          ` · ${formatDuration(record.seconds)}`,
      );
    }
    if (chart) {
      const rows: object[] = [{ epoch: epoch + 1, metric: "loss", series: "train (epoch)", value: record.trainLoss }, { epoch: epoch + 1, metric: "accuracy", series: "train (epoch)", value: record.trainAccuracy }];
      if (record.valAccuracy !== undefined) rows.push({ epoch: epoch + 1, metric: "loss", series: "validation", value: record.valLoss }, { epoch: epoch + 1, metric: "accuracy", series: "validation", value: record.valAccuracy }, { epoch: epoch + 1, metric: "accuracy", series: "validation macro-F1", value: record.valMacroF1 });
      chart.push(rows, true);
    }
    if (o.checkpointDir) {
      await writeCheckpoint(o.checkpointDir, "last", model, optimizer, state, card());
      if (best) await writeCheckpoint(o.checkpointDir, "best", model, optimizer, state, card());
    }
    if (o.earlyStoppingPatience > 0 && state.sinceBest >= o.earlyStoppingPatience) {
      stoppedBy = "early-stopping";
      break;
    }
  }
  if (stoppedBy === "completed" && state.epochsDone < o.epochs) stoppedBy = "epoch-limit";
  if (o.restoreBest && bestModelWeights.weights && stoppedBy !== "epoch-limit") {
    model.setWeights(bestModelWeights.weights);
  }
  tf.dispose(bestModelWeights.weights ?? []);
  classWeights?.dispose();
  tf.dispose(Object.values(optimizer.state()));
  const seconds = (Date.now() - started) / 1000;
  emit({ type: "end", stoppedBy, seconds });
  if (bar) {
    const how = { completed: "done", interrupted: "interrupted (the model keeps the weights of the last finished batch)", "early-stopping": "stopped early", "epoch-limit": "paused (resume to continue)" }[stoppedBy];
    bar.finish(`${how} after ${state.epochsDone} epoch(s)` + (state.bestEpoch ? ` · best epoch ${state.bestEpoch}: val acc ${state.best!.valAccuracy.toFixed(4)}, macro-F1 ${state.best!.valMacroF1.toFixed(4)}${o.restoreBest && stoppedBy !== "epoch-limit" ? " (weights restored)" : ""}` : ""));
  }
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

/** Hardware facts for model cards. */
export function machineDescription(): Record<string, unknown> {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? "unknown", cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()} ${os.arch()}`, node: process.version };
}
