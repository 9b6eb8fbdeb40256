/**
 * Evaluation: accuracy, macro/weighted F1, per-class precision/recall/F1/support, the confusion
 * matrix (counts and row-normalised), the most-confused pairs, expected calibration error with a
 * reliability diagram, and optional test-time augmentation reported beside (never instead of) the
 * single-crop numbers. Every prediction keeps its file path, so views can go back to the faces.
 */
import * as tf from "@tensorflow/tfjs";
import { DISPLAY } from "../display";
import { MIME, type ConfusionExample, type ConfusionPayload, type OutputItem } from "../../protocol";
import type { FaceDataset } from "./data/faceDataset";
import { pngDataUrl } from "./pngSync";
import { EMOTIONS } from "./labels";
import { basicMetrics, type ClassMetrics } from "./metrics";
import { argmax, batchTensor, testTimeViews, type TestTimeAugmentation } from "./modelInput";
import { progressBar } from "./progress";

/** The confusion-matrix renderer's MIME type (protocol/mime.ts). */
export const CONFUSION_MIME = MIME.confusion;

/** The test-time augmentations evaluate() reports beside single crop. */
export type Tta = Exclude<TestTimeAugmentation, "none">;

export interface Prediction {
  path: string;
  /** The image's source, for a data set of several sources (`loadSources`). */
  source?: string;
  label: number;
  predicted: number;
  probs: number[];
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean confidence (max probability) of the predictions in the bin. */
  confidence: number;
  accuracy: number;
}

export interface Metrics {
  n: number;
  accuracy: number;
  macroF1: number;
  weightedF1: number;
  perClass: (ClassMetrics & { class: string })[];
  /** confusion[true][predicted] */
  confusion: number[][];
  /** Row-normalised confusion (each true class sums to 1). */
  confusionNormalized: number[][];
  mostConfused: { true: string; predicted: string; count: number; rate: number }[];
  ece: number;
  reliability: ReliabilityBin[];
}

/** The headline numbers on the images of one source (a data set of several sources). */
export interface SourceMetrics {
  source: string;
  n: number;
  accuracy: number;
  macroF1: number;
  weightedF1: number;
  /** The source's full metrics (per class, confusion, calibration). */
  metrics: Metrics;
}

export interface EvaluationOptions {
  /** Pixel normalisation the model was trained with (its card's input.mean/std). */
  normalization: { mean: number; std: number };
  /** Extra test-time augmentations, reported beside the single-crop numbers. */
  tta?: Tta[];
  batchSize?: number;
  /** Reliability diagram bins (default 10). */
  bins?: number;
  /** Show a progress bar (notebook) / progress lines (script). Default true. */
  progress?: boolean;
}

export class Evaluation {
  constructor(
    readonly classes: string[],
    readonly metrics: Metrics,
    readonly predictions: Prediction[],
    readonly tta: Partial<Record<Tta, Metrics>>,
    private readonly dataset?: FaceDataset,
    /** Per source, in the data set's source order (empty unless the data has several sources: `loadSources`). */
    readonly perSource: SourceMetrics[] = [],
  ) {}

  /** Predictions that are wrong, the most confident first. */
  mistakes(): Prediction[] {
    return this.predictions.filter((p) => p.predicted !== p.label).sort((a, b) => b.probs[b.predicted] - a.probs[a.predicted]);
  }

  /** A JSON-friendly summary (what `fernb evaluate --json` prints). */
  toJSON(): Record<string, unknown> {
    const { n, accuracy, macroF1, weightedF1, perClass, confusion, confusionNormalized, mostConfused, ece, reliability } = this.metrics;
    const tta = Object.fromEntries(Object.entries(this.tta).map(([k, m]) => [k, { accuracy: m!.accuracy, macroF1: m!.macroF1, weightedF1: m!.weightedF1, ece: m!.ece }]));
    const out: Record<string, unknown> = { n, accuracy, macroF1, weightedF1, perClass, classes: this.classes, confusion, confusionNormalized, mostConfused, ece, reliability, tta };
    if (this.perSource.length) out.perSource = this.perSource.map((s) => ({ source: s.source, n: s.n, accuracy: s.accuracy, macroF1: s.macroF1, weightedF1: s.weightedF1, perClass: s.metrics.perClass, confusion: s.metrics.confusion }));
    return out;
  }

  summary(): string {
    const m = this.metrics;
    const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
    const lines = [
      `n=${m.n} accuracy ${pct(m.accuracy)} · macro-F1 ${m.macroF1.toFixed(4)} · weighted-F1 ${m.weightedF1.toFixed(4)} · ECE ${m.ece.toFixed(4)} (single crop)`,
      ...Object.entries(this.tta).map(([k, t]) => `  with ${k} TTA: accuracy ${pct(t!.accuracy)} · macro-F1 ${t!.macroF1.toFixed(4)}`),
      "class        precision  recall     F1  support",
      ...m.perClass.map((c) => `${c.class.padEnd(12)} ${c.precision.toFixed(3).padStart(9)} ${c.recall.toFixed(3).padStart(7)} ${c.f1.toFixed(3).padStart(6)} ${String(c.support).padStart(8)}`),
      `most confused: ${m.mostConfused.slice(0, 3).map((p) => `${p.true}→${p.predicted} ${p.count} (${pct(p.rate)})`).join(", ")}`,
    ];
    if (this.perSource.length) {
      const w = Math.max(6, ...this.perSource.map((s) => s.source.length));
      lines.push(`${"source".padEnd(w)}  accuracy  macro-F1       n`);
      for (const s of this.perSource) lines.push(`${s.source.padEnd(w)}  ${pct(s.accuracy).padStart(8)}  ${s.macroF1.toFixed(4).padStart(8)}  ${String(s.n).padStart(6)}`);
    }
    return lines.join("\n");
  }

  /** The confusion-matrix renderer's payload, with face thumbnails per cell. */
  confusionPayload(options: { perCell?: number; perDiagonalCell?: number; title?: string } = {}): ConfusionPayload {
    const perCell = options.perCell ?? 24;
    const perDiagonal = options.perDiagonalCell ?? 8;
    const byCell = new Map<string, Prediction[]>();
    for (const p of this.predictions) {
      const key = `${p.label},${p.predicted}`;
      const list = byCell.get(key) ?? [];
      list.push(p);
      byCell.set(key, list);
    }
    const examples: Record<string, ConfusionExample[]> = {};
    const index = new Map(this.dataset ? this.dataset.paths.map((p, i) => [p, i] as const) : []);
    for (const [key, list] of byCell) {
      const [t, q] = key.split(",").map(Number);
      const cap = t === q ? perDiagonal : perCell;
      const chosen = list.sort((a, b) => b.probs[b.predicted] - a.probs[a.predicted]).slice(0, cap);
      examples[key] = chosen.map((p): ConfusionExample => {
        const i = index.get(p.path);
        const d = this.dataset;
        const thumb = d && i !== undefined ? pngDataUrl(d.image(i), d.height, d.width, d.channels) : "";
        return { path: p.path, thumb, confidence: p.probs[p.predicted], probs: p.probs.map((v) => Math.round(v * 1e4) / 1e4) };
      });
    }
    return {
      title: options.title ?? "Confusion matrix (rows: true class, columns: predicted)",
      classes: this.classes,
      counts: this.metrics.confusion,
      n: this.metrics.n,
      accuracy: this.metrics.accuracy,
      macroF1: this.metrics.macroF1,
      examples,
    };
  }

  /** vega-lite reliability diagram. */
  reliabilitySpec(): object {
    const values = this.metrics.reliability.filter((b) => b.count > 0).map((b) => ({ mid: (b.lo + b.hi) / 2, confidence: b.confidence, accuracy: b.accuracy, count: b.count }));
    return {
      title: `Reliability (ECE ${this.metrics.ece.toFixed(3)})`,
      width: 260,
      height: 260,
      layer: [
        { data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }, mark: { type: "line", strokeDash: [4, 4], color: "gray" }, encoding: { x: { field: "x", type: "quantitative", title: "confidence" }, y: { field: "y", type: "quantitative", title: "accuracy" } } },
        { data: { values }, mark: { type: "line", point: true }, encoding: { x: { field: "confidence", type: "quantitative", scale: { domain: [0, 1] } }, y: { field: "accuracy", type: "quantitative", scale: { domain: [0, 1] } }, tooltip: [{ field: "count" }, { field: "confidence", format: ".3f" }, { field: "accuracy", format: ".3f" }] } },
      ],
    };
  }

  /** Shown in a notebook: the clickable confusion matrix (text summary where no renderer exists). */
  [DISPLAY](): OutputItem[] {
    return [
      { mime: CONFUSION_MIME, data: JSON.stringify(this.confusionPayload()) },
      { mime: "text/plain", data: this.summary() },
    ];
  }
}

// ---- metrics from probabilities -------------------------------------------------------------

export function metricsFromProbabilities(probs: Float32Array, labels: ArrayLike<number>, classes: string[], bins = 10): Metrics {
  const k = classes.length;
  const n = labels.length;
  const predicted = new Int32Array(n);
  const confidence = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const best = argmax(probs, i * k, k);
    predicted[i] = best;
    confidence[i] = probs[i * k + best];
  }
  const basic = basicMetrics(labels, predicted, k);
  const confusionNormalized = basic.confusion.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (total === 0 ? 0 : v / total));
  });
  const pairs: Metrics["mostConfused"] = [];
  for (let t = 0; t < k; t++) for (let p = 0; p < k; p++) if (t !== p && basic.confusion[t][p] > 0) pairs.push({ true: classes[t], predicted: classes[p], count: basic.confusion[t][p], rate: confusionNormalized[t][p] });
  pairs.sort((a, b) => b.count - a.count || b.rate - a.rate);
  const { ece, reliability } = calibration(confidence, predicted, labels, bins);
  return {
    n,
    accuracy: basic.accuracy,
    macroF1: basic.macroF1,
    weightedF1: basic.weightedF1,
    perClass: basic.perClass.map((c, i) => ({ class: classes[i], ...c })),
    confusion: basic.confusion,
    confusionNormalized,
    mostConfused: pairs.slice(0, 10),
    ece,
    reliability,
  };
}

/** Expected calibration error over equal-width confidence bins, with the bins. */
export function calibration(confidence: ArrayLike<number>, predicted: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): { ece: number; reliability: ReliabilityBin[] } {
  const n = labels.length;
  const reliability: ReliabilityBin[] = Array.from({ length: bins }, (_, b) => ({ lo: b / bins, hi: (b + 1) / bins, count: 0, confidence: 0, accuracy: 0 }));
  for (let i = 0; i < n; i++) {
    const b = Math.min(bins - 1, Math.floor(confidence[i] * bins));
    reliability[b].count++;
    reliability[b].confidence += confidence[i];
    reliability[b].accuracy += predicted[i] === labels[i] ? 1 : 0;
  }
  let ece = 0;
  for (const bin of reliability) {
    if (bin.count === 0) continue;
    bin.confidence /= bin.count;
    bin.accuracy /= bin.count;
    ece += (bin.count / n) * Math.abs(bin.accuracy - bin.confidence);
  }
  return { ece, reliability };
}

// ---- predicting ------------------------------------------------------------------------------

function predictMean(model: tf.LayersModel, views: tf.Tensor4D[]): tf.Tensor {
  return tf.tidy(() => tf.stack(views.map((v) => model.predict(v) as tf.Tensor)).mean(0));
}

/** Evaluates `model` on every image of `data` (single crop, plus any TTA asked for). */
export async function evaluate(model: tf.LayersModel, data: FaceDataset, options: EvaluationOptions): Promise<Evaluation> {
  const [, h, w, c] = model.inputs[0].shape;
  if (h !== data.height || w !== data.width || c !== data.channels) {
    throw new Error(`The model takes ${h}×${w}×${c} images but the data set holds ${data.height}×${data.width}×${data.channels}: load it with the model's input size.`);
  }
  const classes = [...EMOTIONS];
  const k = classes.length;
  const batch = options.batchSize ?? 128;
  const ttas = options.tta ?? [];
  const single = new Float32Array(data.size * k);
  const extra: Record<string, Float32Array> = Object.fromEntries(ttas.map((t) => [t, new Float32Array(data.size * k)]));
  const bar = options.progress === false ? undefined : progressBar("Evaluating", data.size);
  for (let start = 0; start < data.size; start += batch) {
    const count = Math.min(batch, data.size - start);
    const x = batchTensor(data, Array.from({ length: count }, (_, b) => start + b), options.normalization);
    const p = tf.tidy(() => model.predict(x) as tf.Tensor);
    single.set(await p.data(), start * k);
    p.dispose();
    for (const t of ttas) {
      const views = testTimeViews(x, t);
      const q = predictMean(model, views);
      extra[t].set(await q.data(), start * k);
      tf.dispose([q, ...views.filter((v) => v !== x)]);
    }
    x.dispose();
    bar?.update(start + count, `${start + count} faces`);
    await new Promise((r) => setImmediate(r));
  }
  bar?.finish(`${data.size} faces`);
  const predictions: Prediction[] = [];
  for (let i = 0; i < data.size; i++) {
    const probs = Array.from(single.subarray(i * k, (i + 1) * k));
    const source = data.sourceInfo ? data.sourceOf(i) : undefined;
    predictions.push(source === undefined ? { path: data.paths[i], label: data.labels[i], predicted: argmax(probs), probs } : { path: data.paths[i], source, label: data.labels[i], predicted: argmax(probs), probs });
  }
  const bins = options.bins ?? 10;
  const tta: Partial<Record<Tta, Metrics>> = {};
  for (const t of ttas) tta[t] = metricsFromProbabilities(extra[t], data.labels, classes, bins);
  return new Evaluation(classes, metricsFromProbabilities(single, data.labels, classes, bins), predictions, tta, data, perSourceMetrics(single, data, classes, bins));
}

/** Metrics on each source's images (a data set of several sources; sources with no image left out). */
function perSourceMetrics(probs: Float32Array, data: FaceDataset, classes: string[], bins: number): SourceMetrics[] {
  const si = data.sourceInfo;
  if (!si) return [];
  const k = classes.length;
  const out: SourceMetrics[] = [];
  si.names.forEach((source, s) => {
    const idx: number[] = [];
    for (let i = 0; i < data.size; i++) if (si.index[i] === s) idx.push(i);
    if (!idx.length) return;
    const p = new Float32Array(idx.length * k);
    const labels = new Int32Array(idx.length);
    idx.forEach((i, j) => {
      p.set(probs.subarray(i * k, (i + 1) * k), j * k);
      labels[j] = data.labels[i];
    });
    const metrics = metricsFromProbabilities(p, labels, classes, bins);
    out.push({ source, n: metrics.n, accuracy: metrics.accuracy, macroF1: metrics.macroF1, weightedF1: metrics.weightedF1, metrics });
  });
  return out;
}
