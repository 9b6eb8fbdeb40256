/**
 * Checkpoints of a training run, for an exact resume: the weights (a model folder with its card),
 * the optimizer's state (`optimizer.bin`) and the run's state (`state.json`: epochs and steps done,
 * the RNG, history, best epoch, normalisation, options, data fingerprint). `last/` is written after
 * every epoch and `best/` at each new best validation macro-F1 (`checkpointCallback`); `openRun`
 * refuses to overwrite a run by surprise and, given `resume`, restores weights, optimizer and state.
 * A complete checkpoint exists at every moment (`last` or `last.old`).
 */
import * as tf from "@tensorflow/tfjs";
import { promises as fs, existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { decodeTensors, encodeTensors, loadModel, saveModel, writeAtomic, type ModelCard } from "../modelIO";
import type { RecordedOptions, RunState, SaveableOptimizer, TrainCallback } from "./run";

interface CheckpointState<O extends RecordedOptions> extends RunState<O> {
  optimizerSpecs: tf.io.WeightsManifestEntry[];
}

export type CheckpointCard = Omit<ModelCard, "weights" | "format" | "version" | "created">;

/** The options that must match for a resume to continue the same run. */
function runIdentity(o: RecordedOptions): string {
  const { stopAfterEpochs: _a, resume: _b, checkpointDir: _c, keepEpochWeights: _d, ...rest } = o;
  return JSON.stringify(rest);
}

/**
 * Replaces folder `final` with what `fill` writes into a fresh `<final>.tmp`, swapping through
 * `<final>.old` so that a complete folder exists at every moment (`final` or `final.old`).
 */
async function replaceFolder(final: string, fill: (tmp: string) => Promise<unknown>): Promise<void> {
  const tmp = `${final}.tmp`;
  const old = `${final}.old`;
  await fs.rm(tmp, { recursive: true, force: true });
  await fill(tmp);
  await fs.rm(old, { recursive: true, force: true });
  if (existsSync(final)) await fs.rename(final, old);
  await fs.rename(tmp, final);
  await fs.rm(old, { recursive: true, force: true });
}

export async function writeCheckpoint<O extends RecordedOptions>(dir: string, name: string, model: tf.LayersModel, optimizer: SaveableOptimizer, state: RunState<O>, card: CheckpointCard): Promise<void> {
  await replaceFolder(path.join(dir, name), async (tmp) => {
    await saveModel(model, tmp, card);
    const optimizerState = optimizer.state();
    const { specs, data } = await encodeTensors(optimizerState);
    // state() returns the slot variables themselves plus fresh scalars (AdamW's step): free those.
    for (const t of Object.values(optimizerState)) if (!(t instanceof tf.Variable)) t.dispose();
    await writeAtomic(path.join(tmp, "optimizer.bin"), data);
    await writeAtomic(path.join(tmp, "state.json"), JSON.stringify({ ...state, optimizerSpecs: specs }, null, 2));
  });
}

/**
 * The newest readable checkpoint `name` (or its `.old` copy, kept while a new one is written).
 * Undefined when there is none; a checkpoint whose state.json exists but cannot be read is an
 * error that names the file, so a damaged run is never silently replaced by a fresh one.
 */
export async function readCheckpoint<O extends RecordedOptions>(dir: string, name: string): Promise<{ dir: string; state: CheckpointState<O> } | undefined> {
  const damaged: string[] = [];
  for (const candidate of [path.join(dir, name), path.join(dir, `${name}.old`)]) {
    const file = path.join(candidate, "state.json");
    if (!existsSync(file)) continue;
    try {
      const state = JSON.parse(await fs.readFile(file, "utf8")) as CheckpointState<O>;
      if (!state || typeof state !== "object" || typeof state.epochsDone !== "number" || !Array.isArray(state.optimizerSpecs)) throw new Error("not a fernb checkpoint state (no epochsDone or optimizerSpecs)");
      return { dir: candidate, state };
    } catch (e) {
      damaged.push(`${file}: ${String((e as Error)?.message ?? e).split("\n")[0]}`);
    }
  }
  if (damaged.length > 0) {
    throw new Error(`The checkpoint in ${dir} is damaged and cannot be resumed (${damaged.join("; ")}). Choose a new checkpointDir, or move this one away; nothing was changed.`);
  }
  return undefined;
}

/**
 * The run to train: `fresh` when there is no checkpoint folder (or nothing in it); the saved run,
 * restored into `model` and `optimizer`, when `resume` is set; an error (nothing changed) when the
 * folder holds a run and `resume` is not set, or the options or the data differ from the run's.
 * With `restoreBest`, the weights of the saved run's best epoch come back too (`bestWeights`).
 */
export async function openRun<O extends RecordedOptions>(
  checkpointDir: string | undefined,
  fresh: RunState<O>,
  model: tf.LayersModel,
  optimizer: SaveableOptimizer,
  restoreBest: boolean,
): Promise<{ state: RunState<O>; bestWeights?: tf.Tensor[] }> {
  if (!checkpointDir) return { state: fresh };
  const resume = fresh.options.resume;
  const saved = await readCheckpoint<O>(checkpointDir, "last");
  if (saved && !resume) {
    throw new Error(`${checkpointDir} already holds a training run (epoch ${saved.state.epochsDone}). Pass resume: true to continue it, or choose a new checkpointDir; nothing was changed.`);
  }
  if (!resume || !saved) return { state: fresh };
  if (runIdentity(saved.state.options) !== runIdentity(fresh.options)) {
    throw new Error(`The options differ from the run saved in ${checkpointDir}; an exact resume needs the same options (only epochs-per-call, checkpointDir and keepEpochWeights may change).`);
  }
  if (saved.state.dataFingerprint !== fresh.dataFingerprint) {
    throw new Error(`The training data differs from the data of the run saved in ${checkpointDir} (fingerprint ${saved.state.dataFingerprint.slice(0, 12)}… vs ${fresh.dataFingerprint.slice(0, 12)}…).`);
  }
  const { model: savedModel } = await loadModel(saved.dir);
  model.setWeights(savedModel.getWeights());
  savedModel.dispose();
  const optFile = path.join(saved.dir, "optimizer.bin");
  let optState: tf.NamedTensorMap;
  try {
    optState = decodeTensors(new Uint8Array(await fs.readFile(optFile)), saved.state.optimizerSpecs);
  } catch (e) {
    throw new Error(`The checkpoint's optimizer state ${optFile} cannot be read (${String((e as Error)?.message ?? e).split("\n")[0]}): choose a new checkpointDir, or move this one away; nothing was changed.`);
  }
  optimizer.setState(optState);
  tf.dispose(Object.values(optState));
  const { optimizerSpecs: _o, ...state } = saved.state;
  let bestWeights: tf.Tensor[] | undefined;
  if (restoreBest && state.bestEpoch !== undefined) {
    const best = await readCheckpoint(checkpointDir, "best");
    if (best) {
      const { model: bestModel } = await loadModel(best.dir);
      bestWeights = bestModel.getWeights().map((t) => t.clone());
      bestModel.dispose();
    }
  }
  return { state, bestWeights };
}

/** Where a run that keeps its epochs' weights (`keepEpochWeights`) puts them: `epochs/e<N>`. */
const EPOCHS_FOLDER = "epochs";
const epochFolderName = (epoch: number) => `e${epoch}`;

/** The epoch folders a run kept, from epoch `from` on, oldest first. */
export function keptEpochDirs(checkpointDir: string, from = 1): string[] {
  const dir = path.join(checkpointDir, EPOCHS_FOLDER);
  if (!existsSync(dir)) throw new Error(`${dir} does not exist: the run kept no epoch weights (train with keepEpochWeights: true).`);
  return readdirSync(dir)
    .map((name) => ({ name, epoch: Number(/^e(\d+)$/.exec(name)?.[1] ?? NaN) }))
    .filter((e) => e.epoch >= from)
    .sort((x, y) => x.epoch - y.epoch)
    .map((e) => path.join(dir, e.name));
}

/**
 * Writes `last/` after every epoch and `best/` at each new best (the card as `card()` says then);
 * with `keepEpochs`, also the epoch's weights alone (float16, no optimizer state) to `epochs/e<N>`.
 * A resumed run rewrites the epoch folders it trains again.
 */
export function checkpointCallback(dir: string, card: () => CheckpointCard, keepEpochs = false): TrainCallback {
  return {
    async onEpoch(run, { best, record }) {
      await writeCheckpoint(dir, "last", run.model, run.optimizer, run.state, card());
      if (best) await writeCheckpoint(dir, "best", run.model, run.optimizer, run.state, card());
      if (keepEpochs) {
        await replaceFolder(path.join(dir, EPOCHS_FOLDER, epochFolderName(record.epoch)), (tmp) => saveModel(run.model, tmp, card(), { quantize: "float16" }));
      }
    },
  };
}
