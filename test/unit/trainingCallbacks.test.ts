/**
 * The training loop's subscribers (kernel/fer/training/, issue #15): train() composes them, and each
 * does one job. Here: the notebook's subscribers (lines, progress bar, live chart) through a real
 * run shown in a stand-in notebook display; the events a `progress` function gets; best weights and
 * early stopping on their own. Exact resume (checkpointing) is test/unit/train.test.ts's.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { Display, DisplayHandle } from "../../kernel/display";
import { attachNotebook, setLineWriter } from "../../kernel/fer/progress";
import { createResNet18, type ResNetConfig } from "../../kernel/fer/resnet";
import { train, type TrainEvent, type TrainOptions } from "../../kernel/fer/train";
import { bestWeights, earlyStopping } from "../../kernel/fer/training/callbacks";
import type { RunState, TrainingRun } from "../../kernel/fer/training/run";
import { SyntheticFaces } from "../helpers/syntheticFaces";

const tiny: Partial<ResNetConfig> = { height: 12, width: 12, stem: "cifar", widths: [4, 8, 8, 8], blocks: [1, 1, 1, 1] };
const quiet: Partial<TrainOptions> = { progress: "silent", batchSize: 8, learningRate: 0.05 };

before(async () => {
  await tf.setBackend("cpu");
});

test("a progress function gets start, every batch, every epoch and end, with the documented fields only", async () => {
  const events: TrainEvent[] = [];
  const data = new SyntheticFaces(24, 12, 12);
  const val = new SyntheticFaces(8, 12, 12, 1, 9);
  const result = await train(createResNet18(tiny), data, val, { ...quiet, epochs: 2, progress: (e) => events.push(e) });
  assert.deepEqual(events.map((e) => e.type), ["start", "batch", "batch", "batch", "epoch", "batch", "batch", "batch", "epoch", "end"]);
  assert.deepEqual(Object.keys(events[0]).sort(), ["backend", "epochs", "startEpoch", "stepsPerEpoch", "trainSize", "type", "valSize"]);
  assert.deepEqual(Object.keys(events[1]).sort(), ["accuracy", "epoch", "etaSeconds", "imagesPerSecond", "learningRate", "loss", "step", "stepsPerEpoch", "type"]);
  assert.deepEqual(events.filter((e) => e.type === "batch").map((e) => e.type === "batch" && [e.epoch, e.step]), [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]);
  const epochs = events.filter((e) => e.type === "epoch");
  assert.deepEqual(epochs.map((e) => e.type === "epoch" && e.record), result.history);
  assert.deepEqual(events.at(-1), { type: "end", stoppedBy: "completed", seconds: result.seconds });
});

test("from a script: a line at the start and per epoch, and the progress bar's last line", async () => {
  const lines: string[] = [];
  setLineWriter((line) => lines.push(line));
  const result = await train(createResNet18(tiny), new SyntheticFaces(24, 12, 12), new SyntheticFaces(8, 12, 12, 1, 9), { ...quiet, epochs: 2, progress: "auto" });
  setLineWriter((line) => process.stderr.write(line + "\n"));
  assert.match(lines[0], /^Training on backend "cpu" · 24 images \(8 validation\) · 2 epochs × 3 steps of 8 · sgd lr 0\.05 cosine$/);
  const epochLines = lines.filter((l) => l.startsWith("epoch "));
  assert.equal(epochLines.length, 2);
  assert.match(epochLines[0], /^epoch 1\/2: train loss [\d.]+ acc [\d.]+ · val loss [\d.]+ acc [\d.]+ macro-F1 [\d.]+ \(best\) · \d+s$/);
  assert.match(epochLines[1], /^epoch 2\/2: train loss /);
  assert.match(lines.at(-1)!, new RegExp(`^Training 6/6 \\(100%\\) done after 2 epoch\\(s\\) · best epoch ${result.bestEpoch}: val acc [\\d.]+, macro-F1 [\\d.]+ \\(weights restored\\) · took `));
});

test("in a notebook: the progress bar's last word, and the live chart's rows", async () => {
  const charts: object[] = [];
  const html: string[] = [];
  const handle = <T>(record: (v: T) => void): DisplayHandle<T> => ({ update: (v: T) => record(v) }) as unknown as DisplayHandle<T>;
  const display = Object.assign(() => handle(() => undefined), {
    chart: (spec: object) => (charts.push(spec), handle<object>((s) => charts.push(s))),
    html: (text: string) => (html.push(text), handle<string>((t) => html.push(t))),
  }) as unknown as Display;
  attachNotebook(display, () => undefined);
  const result = await train(createResNet18(tiny), new SyntheticFaces(24, 12, 12), new SyntheticFaces(8, 12, 12, 1, 9), { ...quiet, epochs: 2, progress: "auto" });
  assert.match(html.at(-1)!, new RegExp(`done after 2 epoch\\(s\\) · best epoch ${result.bestEpoch}: val acc [\\d.]+, macro-F1 [\\d.]+ \\(weights restored\\)`));
  assert.match(html.at(-1)!, /<b>Training<\/b> 6\/6 \(100%\)/);
  // The chart's last drawing holds each epoch's train and validation rows (forced at each epoch's end).
  const values = (charts.at(-1) as { data: { values: { epoch: number; series: string; value: number }[] } }).data.values;
  for (const [i, record] of result.history.entries()) {
    const at = (series: string) => values.filter((v) => v.epoch === i + 1 && v.series === series).map((v) => v.value);
    assert.deepEqual(at("train (epoch)"), [record.trainLoss, record.trainAccuracy]);
    assert.deepEqual(at("validation"), [record.valLoss, record.valAccuracy]);
    assert.deepEqual(at("validation macro-F1"), [record.valMacroF1]);
  }
  assert.ok(values.some((v) => v.series === "lr"), "the learning rate is charted");
});

function fakeRun(model: tf.LayersModel, state: Partial<RunState>): TrainingRun {
  return { model, state: { sinceBest: 0, ...state } } as unknown as TrainingRun;
}

test("best weights: kept at each new best, put back at the end unless the run only paused", async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
  const snapshot = () => model.getWeights().map((t) => Array.from(t.dataSync()));
  const set = (v: number) => model.setWeights(model.getWeights().map((t) => tf.fill(t.shape, v)));
  for (const [stoppedBy, restored] of [["completed", true], ["early-stopping", true], ["interrupted", true], ["epoch-limit", false]] as const) {
    const cb = bestWeights(true);
    const run = fakeRun(model, {});
    set(1);
    await cb.onEpoch!(run, { record: {} as never, best: true });
    const best = snapshot();
    set(2);
    await cb.onEpoch!(run, { record: {} as never, best: false });
    const last = snapshot();
    await cb.onEnd!(run, { stoppedBy, seconds: 0 });
    assert.deepEqual(snapshot(), restored ? best : last, stoppedBy);
  }
  // restoreBest: false keeps the last weights.
  const cb = bestWeights(false);
  set(1);
  await cb.onEpoch!(fakeRun(model, {}), { record: {} as never, best: true });
  set(3);
  await cb.onEnd!(fakeRun(model, {}), { stoppedBy: "completed", seconds: 0 });
  assert.deepEqual(snapshot()[0], [3, 3, 3, 3, 3, 3]);
});

test("early stopping asks the run to stop once validation has not improved for `patience` epochs; 0 never", async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1] })] });
  for (const [patience, sinceBest, stop] of [[2, 1, undefined], [2, 2, "early-stopping"], [0, 50, undefined]] as const) {
    const run = fakeRun(model, { sinceBest });
    await earlyStopping(patience).onEpoch!(run, { record: {} as never, best: false });
    assert.equal(run.stop, stop, `patience ${patience}, ${sinceBest} epoch(s) since the best`);
  }
});
