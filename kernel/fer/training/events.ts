/**
 * What a training run reports: one record per epoch, and the events `train` emits (to the
 * `progress` callback of its options, and to every subscriber in callbacks.ts). Declared here,
 * below both train.ts and its subscribers; train.ts re-exports them (`import … from "fernb"`).
 */

/** Why a run ended: all epochs done, the interrupt, early stopping, or `stopAfterEpochs` (resume to continue). */
export type StoppedBy = "completed" | "interrupted" | "early-stopping" | "epoch-limit";

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
  | { type: "end"; stoppedBy: StoppedBy; seconds: number };
