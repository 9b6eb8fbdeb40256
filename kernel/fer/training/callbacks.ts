/**
 * The subscribers a training run is composed of (run.ts; fastai's callbacks are the model): each
 * one job, each told about the run's start, batches, epochs and end.
 *   eventCallback    the user's `progress` function gets the TrainEvents;
 *   progressCallback the notebook's lines and progress bar (progress: "auto");
 *   chartCallback    the live chart (trainingChart.ts's spec; progress: "auto");
 *   bestWeights      keeps the best validation epoch's weights and puts them back at the end;
 *   earlyStopping    ends the run when validation macro-F1 has not improved for `patience` epochs.
 * Checkpointing is checkpoint.ts's `checkpointCallback`.
 */
import * as tf from "@tensorflow/tfjs";
import { formatDuration, info, liveChart, progressBar, type ProgressBar } from "../progress";
import { trainingChartSpec } from "../trainingChart";
import type { TrainEvent } from "./events";
import type { TrainCallback } from "./run";

/** Every event of the run, as a TrainEvent, to `emit` (the `progress` function of train's options). */
export function eventCallback(emit: (event: TrainEvent) => void): TrainCallback {
  return {
    onStart: (run) => emit({ type: "start", backend: run.backend, epochs: run.options.epochs, stepsPerEpoch: run.stepsPerEpoch, startEpoch: run.startEpoch, trainSize: run.trainSize, valSize: run.valSize }),
    onBatch: (run, b) =>
      emit({ type: "batch", epoch: b.epoch, step: b.step, stepsPerEpoch: run.stepsPerEpoch, loss: b.loss, accuracy: b.accuracy, learningRate: b.learningRate, imagesPerSecond: b.imagesPerSecond, etaSeconds: b.etaSeconds }),
    onEpoch: (_run, e) => emit({ type: "epoch", record: e.record, best: e.best }),
    onEnd: (_run, e) => emit({ type: "end", stoppedBy: e.stoppedBy, seconds: e.seconds }),
  };
}

/** The run in the notebook: a line at the start and after each epoch, and a progress bar over all steps. */
export function progressCallback(): TrainCallback {
  let bar: ProgressBar | undefined;
  return {
    onStart(run) {
      const o = run.options;
      info(
        `Training on backend "${run.backend}" · ${run.trainSize} images (${run.valSize ? `${run.valSize} validation` : "no validation"}) · ` +
          `${o.epochs} epochs × ${run.stepsPerEpoch} steps of ${o.batchSize} · ${o.optimizer} lr ${o.learningRate} cosine` +
          (run.startEpoch > 0 ? ` · resuming after epoch ${run.startEpoch}` : ""),
      );
      bar = progressBar("Training", run.totalSteps, { doneAtStart: run.state.step });
    },
    onBatch(run, b) {
      bar?.update(run.state.step, `epoch ${b.epoch}/${run.options.epochs} · step ${b.step}/${run.stepsPerEpoch} · loss ${b.runningLoss.toFixed(4)} · acc ${b.runningAccuracy.toFixed(3)} · lr ${b.learningRate.toPrecision(3)} · ${b.imagesPerSecond.toFixed(1)} img/s`);
    },
    onEpoch(run, { record, best }) {
      info(
        `epoch ${record.epoch}/${run.options.epochs}: train loss ${record.trainLoss.toFixed(4)} acc ${record.trainAccuracy.toFixed(4)}` +
          (record.valAccuracy !== undefined ? ` · val loss ${record.valLoss!.toFixed(4)} acc ${record.valAccuracy.toFixed(4)} macro-F1 ${record.valMacroF1!.toFixed(4)}${best ? " (best)" : ""}` : "") +
          ` · ${formatDuration(record.seconds)}`,
      );
    },
    onEnd(run, { stoppedBy }) {
      if (!bar) return;
      const s = run.state;
      const how = { completed: "done", interrupted: "interrupted (the model keeps the weights of the last finished batch)", "early-stopping": "stopped early", "epoch-limit": "paused (resume to continue)" }[stoppedBy];
      bar.finish(`${how} after ${s.epochsDone} epoch(s)` + (s.bestEpoch ? ` · best epoch ${s.bestEpoch}: val acc ${s.best!.valAccuracy.toFixed(4)}, macro-F1 ${s.best!.valMacroF1.toFixed(4)}${run.options.restoreBest && stoppedBy !== "epoch-limit" ? " (weights restored)" : ""}` : ""));
    },
  };
}

/** The live chart: running loss, accuracy and learning rate about 20 times an epoch, and each epoch's (and validation's) values. */
export function chartCallback(): TrainCallback {
  let chart: ReturnType<typeof liveChart> | undefined;
  return {
    onStart(run) {
      chart = liveChart((values) => trainingChartSpec(values, run.options.epochs));
    },
    onBatch(run, b) {
      if (!chart || b.step % Math.max(1, Math.floor(run.stepsPerEpoch / 20)) !== 0) return;
      const at = b.epoch - 1 + b.step / run.stepsPerEpoch;
      chart.push([
        { epoch: at, metric: "loss", series: "train (running)", value: b.runningLoss },
        { epoch: at, metric: "accuracy", series: "train (running)", value: b.runningAccuracy },
        { epoch: at, metric: "learning rate", series: "lr", value: b.learningRate },
      ]);
    },
    onEpoch(_run, { record }) {
      if (!chart) return;
      const e = record.epoch;
      const rows: object[] = [{ epoch: e, metric: "loss", series: "train (epoch)", value: record.trainLoss }, { epoch: e, metric: "accuracy", series: "train (epoch)", value: record.trainAccuracy }];
      if (record.valAccuracy !== undefined) rows.push({ epoch: e, metric: "loss", series: "validation", value: record.valLoss }, { epoch: e, metric: "accuracy", series: "validation", value: record.valAccuracy }, { epoch: e, metric: "accuracy", series: "validation macro-F1", value: record.valMacroF1 });
      chart.push(rows, true);
    },
  };
}

/**
 * Keeps a copy of the weights of each new best epoch (starting from `initial`, the best of a resumed
 * run) and, with `restore`, puts them back at the end, unless the run only paused (`epoch-limit`).
 */
export function bestWeights(restore: boolean, initial?: tf.Tensor[]): TrainCallback {
  let weights = initial;
  return {
    onEpoch(run, { best }) {
      if (!best) return;
      tf.dispose(weights ?? []);
      weights = run.model.getWeights().map((t) => t.clone());
    },
    onEnd(run, { stoppedBy }) {
      if (restore && weights && stoppedBy !== "epoch-limit") run.model.setWeights(weights);
      tf.dispose(weights ?? []);
      weights = undefined;
    },
  };
}

/** Ends the run when validation macro-F1 has not improved for `patience` epochs (0: never). */
export function earlyStopping(patience: number): TrainCallback {
  return {
    onEpoch(run) {
      if (patience > 0 && run.state.sinceBest >= patience) run.stop = "early-stopping";
    },
  };
}
