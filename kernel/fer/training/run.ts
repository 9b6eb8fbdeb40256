/**
 * A training run as its subscribers see it (fastai's Learner and callbacks are the model): the
 * loop in train.ts owns the run and calls every `TrainCallback` in order at the run's start, after
 * each batch, after each epoch (validated) and at its end. Subscribers (callbacks.ts: the user's
 * events, the progress bar, the live chart, best weights, early stopping; checkpoint.ts:
 * checkpointing) read the run, and may ask it to stop after the epoch (`run.stop`).
 */
import type * as tf from "@tensorflow/tfjs";
import type { RngState } from "../rng";
import type { EpochRecord, StoppedBy } from "./events";

/** The options a run records and a resume compares (train.ts's TrainOptions without signal and progress). */
export interface RecordedOptions {
  epochs: number;
  batchSize: number;
  optimizer: string;
  learningRate: number;
  restoreBest: boolean;
  earlyStoppingPatience: number;
  stopAfterEpochs?: number;
  resume: boolean;
  checkpointDir?: string;
  keepEpochWeights?: boolean;
}

/** Where a run stands: what a checkpoint holds besides weights and optimizer state. */
export interface RunState<O extends RecordedOptions = RecordedOptions> {
  epochsDone: number;
  step: number;
  rng: RngState;
  history: EpochRecord[];
  bestEpoch?: number;
  best?: { valAccuracy: number; valMacroF1: number };
  sinceBest: number;
  normalization: { mean: number; std: number };
  options: O;
  dataFingerprint: string;
}

/** An optimizer whose state can be saved and restored. */
export interface SaveableOptimizer {
  state(): tf.NamedTensorMap;
  setState(state: tf.NamedTensorMap): void;
}

export interface TrainingRun {
  readonly model: tf.LayersModel;
  readonly optimizer: SaveableOptimizer;
  readonly options: RecordedOptions;
  /** The run's state, live (the loop updates it; checkpoints save it). */
  readonly state: RunState;
  readonly backend: string;
  readonly trainSize: number;
  readonly valSize: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  /** Epochs done before this call (a resumed run). */
  readonly startEpoch: number;
  /** Set by a subscriber to end the run after the current epoch. */
  stop?: StoppedBy;
}

export interface BatchInfo {
  /** 1-based. */
  epoch: number;
  /** 1-based, within the epoch. */
  step: number;
  loss: number;
  accuracy: number;
  learningRate: number;
  imagesPerSecond: number;
  etaSeconds: number;
  /** The epoch's mean loss and accuracy so far. */
  runningLoss: number;
  runningAccuracy: number;
}

export interface EpochInfo {
  record: EpochRecord;
  /** A new best validation macro-F1. */
  best: boolean;
}

export interface EndInfo {
  stoppedBy: StoppedBy;
  seconds: number;
}

/** A subscriber to a training run; every hook is optional and may be async (awaited in order). */
export interface TrainCallback {
  onStart?(run: TrainingRun): void | Promise<void>;
  onBatch?(run: TrainingRun, batch: BatchInfo): void | Promise<void>;
  onEpoch?(run: TrainingRun, epoch: EpochInfo): void | Promise<void>;
  onEnd?(run: TrainingRun, end: EndInfo): void | Promise<void>;
}

type Hook = "onStart" | "onBatch" | "onEpoch" | "onEnd";

/** Calls `hook` of every subscriber, in order. */
export async function notify<H extends Hook>(callbacks: TrainCallback[], hook: H, run: TrainingRun, ...info: Parameters<NonNullable<TrainCallback[H]>> extends [TrainingRun, infer I] ? [I] : []): Promise<void> {
  for (const c of callbacks) {
    const f = c[hook] as ((run: TrainingRun, info?: unknown) => void | Promise<void>) | undefined;
    if (f) await f.call(c, run, info[0]);
  }
}
