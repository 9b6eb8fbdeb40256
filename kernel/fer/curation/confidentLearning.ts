/**
 * Likely label errors by confident learning (Northcutt, Jiang & Chuang, "Confident Learning:
 * Estimating Uncertainty in Dataset Labels", JAIR 2021), as pure functions over out-of-sample
 * predicted probabilities (n × K, row-major Float32Array) and the given labels:
 *
 *  - per-class thresholds t_j = mean of p_j over the examples labelled j (mean self-confidence);
 *  - the confident joint C[given i][true j]: example x labelled i counts in (i, j) where
 *    j = argmax over { k : p_k(x) ≥ t_k } of p_k(x) (examples above no threshold are not counted);
 *  - the calibrated joint: each row of C rescaled to the number of examples labelled i, then the
 *    whole matrix normalised to sum 1 (an estimate of the joint distribution of given and true labels);
 *  - the estimated number of wrong labels per class: n_i − calibrated count on the diagonal;
 *  - suspects: "prune_by_noise_rate" (default; cleanlab's default): for each off-diagonal cell (i, j),
 *    the round(n · Q[i][j]) examples labelled i with the largest margin p_j − p_i; or
 *    "prune_by_class": per class, the round(estimated errors) examples with the lowest score; or
 *    "confident_joint": every example counted off the diagonal of C. Suspects are ordered by a
 *    rank.ts ranking (default DEFAULT_RANKING: the loss of the given label, with the more suspicious
 *    image of each near-duplicate pair whose labels differ first when `duplicates` are given), or,
 *    with `rank: "score"` (or only `rankBy`), by their score: self-confidence p_given (default) or
 *    normalised margin (p_given − max_{k≠given} p_k + 1) / 2, the least confident first. Each has a
 *    suggested label (the most probable class other than the given one) and `wrongShare`, what its
 *    probability means on fernb's curation benchmark (calibration.ts).
 *
 * `crossValidatedProbabilities` makes the out-of-sample probabilities: k models, each trained with
 * fernb's `train` on k − 1 folds (stratified) and predicting the held-out fold.
 */
import type * as tf from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { chartWithText, DISPLAY } from "../../display";
import type { OutputItem } from "../../../protocol";
import { EMOTIONS } from "../labels";
import { progressBar } from "../progress";
import { Rng } from "../rng";
import { modelStrength, wrongShare, type ModelStrength } from "./calibration";
import { checkShapes, DEFAULT_RANKING, rankLabelIssues, type RankMethod } from "./rank";
import { argmax, predictProbabilities, type Augmenter, type TrainingData } from "../modelInput";
import { train, type TrainOptions, type TrainResult } from "../train";

export type RankBy = "self_confidence" | "normalized_margin";
export type IssueFilter = "prune_by_noise_rate" | "prune_by_class" | "confident_joint";

export interface LabelIssue {
  index: number;
  /** Given label (class index). */
  given: number;
  /** Suggested label (class index). */
  suggested: number;
  /** p_given. */
  selfConfidence: number;
  /** p_given − max_{k≠given} p_k (negative when another class is more likely). */
  margin: number;
  /** The ranking score (self-confidence or normalised margin); lower = more likely wrong. */
  score: number;
  /** Paths and class names, when given in the options. */
  path?: string;
  givenName?: string;
  suggestedName?: string;
  /** The ranking's suspicion (rank.ts; higher = more likely wrong), when ranked by a rank.ts method. */
  suspicion?: number;
  /** The more suspicious image of a near-duplicate pair whose labels differ (ranked first). */
  duplicateConflict?: boolean;
  /**
   * Share of faces with this probability of their given label that had a wrong label on fernb's
   * curation benchmark (calibration.ts): what the suspicion means, on a scale users can read.
   */
  wrongShare?: number;
  /** Set when the model is too weak for its suspicions to mean much: why, in one sentence. */
  weakModel?: string;
}

export interface LabelIssuesOptions {
  rankBy?: RankBy;
  filter?: IssueFilter;
  /** Class names (default EMOTIONS when K = 7). */
  classes?: readonly string[];
  /** Image paths, copied into the suspects. */
  paths?: readonly string[];
  /** At most this many suspects (default all). */
  limit?: number;
  /**
   * How the suspects are ordered: a rank.ts method (default DEFAULT_RANKING.method, "loss"), or
   * "score" for the order of `score` (rankBy). Passing only `rankBy` keeps ordering by `score`.
   */
  rank?: RankMethod | "score";
  /** n × dim model features, for the neighbour-based rank methods ("knn", "loss+knn", "rank_average"). */
  embeddings?: ArrayLike<number>;
  /** Neighbours (knn methods, default 15) and the neighbour weight ("loss+knn", default 0.25). */
  k?: number;
  beta?: number;
  /** Near-duplicate pairs (example indices): of each pair whose labels differ, the more suspicious image is a suspect and leads. */
  duplicates?: readonly (readonly [number, number])[];
}

export interface LabelIssuesResult {
  n: number;
  classes: number;
  thresholds: Float64Array;
  /** confidentJoint[given][trueEstimate] (counts). */
  confidentJoint: number[][];
  /** Rows rescaled to the given-class counts (sum = n). */
  calibratedJoint: number[][];
  /** calibratedJoint / n: estimated joint distribution of (given, true). */
  joint: number[][];
  /** Examples given label i. */
  labelCounts: number[];
  /** Estimated wrong labels among the examples given label i. */
  estimatedErrors: number[];
  /** estimatedErrors / labelCounts. */
  estimatedNoiseRate: number[];
  estimatedErrorsTotal: number;
  /** Per example: the confident true-label estimate, or −1 when above no threshold. */
  confidentLabel: Int32Array;
  /** The flagged examples, most suspicious first. */
  suspects: LabelIssue[];
  /** How the suspects were ordered (method and parameters). */
  ranking: { method: RankMethod | "score"; rankBy: RankBy; k?: number; beta?: number; duplicatesFirst: boolean };
  /** Whether the model is strong enough on these faces for its suspicions to mean much. */
  strength: ModelStrength;
  /** Shown in a notebook: estimated wrong labels per class (chart) and the top suspects (text). */
  [DISPLAY]?: () => OutputItem[];
}

/** t_j = mean p_j over the examples labelled j (Infinity for a class with no examples: never confident). */
export function perClassThresholds(probs: ArrayLike<number>, labels: ArrayLike<number>): Float64Array {
  const { n, k } = checkShapes(probs, labels);
  const sum = new Float64Array(k);
  const count = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    sum[l] += probs[i * k + l];
    count[l]++;
  }
  return sum.map((s, j) => (count[j] > 0 ? s / count[j] : Infinity));
}

/** The confident joint C[given][true estimate] and each example's confident label (−1 if none). */
export function confidentJoint(probs: ArrayLike<number>, labels: ArrayLike<number>, thresholds = perClassThresholds(probs, labels)): { joint: number[][]; confidentLabel: Int32Array } {
  const { n, k } = checkShapes(probs, labels);
  const joint = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const confidentLabel = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestP = -Infinity;
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j];
      // A tiny tolerance, so an example exactly at the threshold counts despite float rounding.
      if (p >= thresholds[j] - 1e-6 && p > bestP) {
        best = j;
        bestP = p;
      }
    }
    if (best >= 0) {
      confidentLabel[i] = best;
      joint[labels[i]][best]++;
    }
  }
  return { joint, confidentLabel };
}

/** Rows of C rescaled so that row i sums to the number of examples labelled i (a row of zeros keeps its count on the diagonal). */
export function calibrateJoint(joint: number[][], labelCounts: number[]): number[][] {
  return joint.map((row, i) => {
    const s = row.reduce((a, b) => a + b, 0);
    if (s === 0) return row.map((_, j) => (j === i ? labelCounts[i] : 0));
    return row.map((v) => (v / s) * labelCounts[i]);
  });
}

function rowStats(probs: ArrayLike<number>, i: number, k: number, given: number): { self: number; maxOther: number; argOther: number } {
  let maxOther = -Infinity;
  let argOther = given === 0 ? 1 : 0;
  for (let j = 0; j < k; j++) {
    if (j === given) continue;
    const p = probs[i * k + j];
    if (p > maxOther) {
      maxOther = p;
      argOther = j;
    }
  }
  return { self: probs[i * k + given], maxOther, argOther };
}

/** Confident-learning estimate of the label noise and a ranked list of likely label errors. */
export function findLabelIssues(probs: ArrayLike<number>, labels: ArrayLike<number>, options: LabelIssuesOptions = {}): LabelIssuesResult {
  const { n, k } = checkShapes(probs, labels);
  const rankBy = options.rankBy ?? "self_confidence";
  const filter = options.filter ?? "prune_by_noise_rate";
  const names = options.classes ?? (k === EMOTIONS.length ? EMOTIONS : undefined);
  if (options.paths && options.paths.length !== n) throw new RangeError(`paths has ${options.paths.length} entries for ${n} examples`);
  const thresholds = perClassThresholds(probs, labels);
  const { joint: C, confidentLabel } = confidentJoint(probs, labels, thresholds);
  const labelCounts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) labelCounts[labels[i]]++;
  const calibrated = calibrateJoint(C, labelCounts);
  const total = calibrated.flat().reduce((a, b) => a + b, 0);
  const joint = calibrated.map((row) => row.map((v) => v / total));
  const estimatedErrors = calibrated.map((row, i) => labelCounts[i] - row[i]);
  const estimatedNoiseRate = estimatedErrors.map((e, i) => (labelCounts[i] ? e / labelCounts[i] : 0));

  const scoreOf = (i: number) => {
    const { self, maxOther } = rowStats(probs, i, k, labels[i]);
    return rankBy === "self_confidence" ? self : (self - maxOther + 1) / 2;
  };
  const flagged = new Map<number, number>(); // index → off-diagonal cell it was selected in (−1: n/a)
  if (filter === "confident_joint") {
    for (let i = 0; i < n; i++) if (confidentLabel[i] >= 0 && confidentLabel[i] !== labels[i]) flagged.set(i, -1);
  } else if (filter === "prune_by_class") {
    const byClass: number[][] = Array.from({ length: k }, () => []);
    for (let i = 0; i < n; i++) byClass[labels[i]].push(i);
    byClass.forEach((members, c) => {
      const count = Math.round(estimatedErrors[c]);
      if (count <= 0) return;
      members.sort((a, b) => scoreOf(a) - scoreOf(b));
      for (const i of members.slice(0, count)) flagged.set(i, -1);
    });
  } else {
    // prune_by_noise_rate: for each off-diagonal (i, j), the examples labelled i most likely to be j.
    const byClass: number[][] = Array.from({ length: k }, () => []);
    for (let x = 0; x < n; x++) byClass[labels[x]].push(x);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        if (i === j) continue;
        const count = Math.round(n * joint[i][j]);
        if (count <= 0) continue;
        const candidates = byClass[i].filter((x) => !flagged.has(x));
        candidates.sort((a, b) => probs[b * k + j] - probs[b * k + i] - (probs[a * k + j] - probs[a * k + i]));
        for (const x of candidates.slice(0, count)) flagged.set(x, j);
        // (the cell's class j is only how x was selected; the suggestion is the model's best other class)
      }
    }
  }
  const rank = options.rank ?? (options.rankBy ? "score" : DEFAULT_RANKING.method);
  const neighbourMethod = rank === "knn" || rank === "loss+knn" || rank === "rank_average";
  const ranked =
    rank === "score"
      ? undefined
      : rankLabelIssues(probs, labels, { method: rank, embeddings: options.embeddings, k: options.k, beta: options.beta, duplicates: options.duplicates });
  const position = new Map<number, number>();
  ranked?.forEach((r, pos) => {
    position.set(r.index, pos);
    if (r.duplicateConflict) flagged.set(r.index, -1); // one of the pair's labels is wrong: always a suspect
  });
  const strength = modelStrength(probs, labels, names);
  let suspects: LabelIssue[] = [...flagged.keys()].map((index) => {
    const given = labels[index];
    const { self, maxOther, argOther: suggested } = rowStats(probs, index, k, given);
    const issue: LabelIssue = { index, given, suggested, selfConfidence: self, margin: self - maxOther, score: rankBy === "self_confidence" ? self : (self - maxOther + 1) / 2 };
    if (options.paths) issue.path = options.paths[index];
    if (names) {
      issue.givenName = names[given];
      issue.suggestedName = names[suggested];
    }
    if (ranked) {
      const r = ranked[position.get(index)!];
      issue.suspicion = r.suspicion;
      if (r.duplicateConflict) issue.duplicateConflict = true;
    }
    issue.wrongShare = wrongShare(self);
    if (strength.reason) issue.weakModel = strength.reason;
    return issue;
  });
  if (ranked) suspects.sort((a, b) => position.get(a.index)! - position.get(b.index)!);
  else suspects.sort((a, b) => a.score - b.score || a.index - b.index);
  if (options.limit !== undefined) suspects = suspects.slice(0, options.limit);
  const result: LabelIssuesResult = {
    n,
    classes: k,
    thresholds,
    confidentJoint: C,
    calibratedJoint: calibrated,
    joint,
    labelCounts,
    estimatedErrors,
    estimatedNoiseRate,
    estimatedErrorsTotal: estimatedErrors.reduce((a, b) => a + b, 0),
    confidentLabel,
    suspects,
    ranking: { method: rank, rankBy, ...(neighbourMethod ? { k: options.k ?? 15 } : {}), ...(rank === "loss+knn" ? { beta: options.beta ?? 0.25 } : {}), duplicatesFirst: !!ranked && !!options.duplicates },
    strength,
  };
  // Not enumerable: the result stays plain data for JSON and comparisons.
  Object.defineProperty(result, DISPLAY, { value: () => chartWithText(labelIssuesChartSpec(result, names), labelIssuesText(result, names)), enumerable: false });
  return result;
}

/** Bars per given class: images whose label looks right vs estimated wrong (confident learning). */
export function labelIssuesChartSpec(r: LabelIssuesResult, names: readonly string[] = r.classes === EMOTIONS.length ? EMOTIONS : []): object {
  const values: object[] = [];
  const flaggedPerClass = new Array<number>(r.classes).fill(0);
  for (const s of r.suspects) flaggedPerClass[s.given]++;
  r.labelCounts.forEach((count, c) => {
    const wrong = Math.max(0, Math.round(r.estimatedErrors[c]));
    const row = { label: names[c] ?? `class ${c}`, rate: Math.round(r.estimatedNoiseRate[c] * 1000) / 10, flagged: flaggedPerClass[c] };
    values.push({ ...row, status: "label looks right", count: count - wrong });
    values.push({ ...row, status: "estimated wrong", count: wrong });
  });
  return {
    title: { text: `Likely label errors: about ${Math.round(r.estimatedErrorsTotal)} of ${r.n} (${((100 * r.estimatedErrorsTotal) / r.n).toFixed(1)}%)`, subtitle: [`${r.suspects.length} images flagged for review (confident learning)`] },
    width: 380,
    height: 200,
    data: { values },
    mark: { type: "bar", tooltip: true },
    encoding: {
      x: { field: "label", type: "nominal", sort: names.length ? [...names] : undefined, title: "given label", axis: { labelAngle: 0 } },
      y: { field: "count", type: "quantitative", stack: "zero", title: "images" },
      color: { field: "status", type: "nominal", sort: ["label looks right", "estimated wrong"], scale: { range: ["#4c78a8", "#e45756"] }, title: null },
      order: { field: "status", type: "nominal" },
      tooltip: [
        { field: "label", type: "nominal", title: "given label" },
        { field: "status", type: "nominal" },
        { field: "count", type: "quantitative" },
        { field: "rate", type: "quantitative", title: "estimated wrong (%)" },
        { field: "flagged", type: "quantitative", title: "flagged for review" },
      ],
    },
  };
}

/** The estimate per class and the most suspicious images, as text. */
export function labelIssuesText(r: LabelIssuesResult, names: readonly string[] = r.classes === EMOTIONS.length ? EMOTIONS : [], top = 10): string {
  const name = (c: number) => names[c] ?? `class ${c}`;
  const lines = [
    ...(r.strength?.reason ? [`Warning: ${r.strength.reason}`] : []),
    `${r.n} images; about ${Math.round(r.estimatedErrorsTotal)} labels look wrong (${((100 * r.estimatedErrorsTotal) / r.n).toFixed(1)}%); ${r.suspects.length} flagged for review.`,
    `estimated wrong by given label: ${r.labelCounts.map((count, c) => `${name(c)} ${Math.round(r.estimatedErrors[c])}/${count}`).join(", ")}`,
  ];
  if (r.suspects.length) {
    lines.push(`most suspicious first (lower score = label more likely wrong):`);
    for (const s of r.suspects.slice(0, top)) {
      lines.push(`  ${s.score.toFixed(3)}  ${s.path ?? `#${s.index}`}: labelled ${name(s.given)}, looks like ${name(s.suggested)}`);
    }
    if (r.suspects.length > top) lines.push(`  ... and ${r.suspects.length - top} more (.suspects; review(dataset, { suspects }) opens them in a grid)`);
  }
  return lines.join("\n");
}

/** Ranks every example by how likely its label is wrong (lowest score first), without pruning. */
export function rankByLabelQuality(probs: ArrayLike<number>, labels: ArrayLike<number>, rankBy: RankBy = "self_confidence"): { index: number; score: number }[] {
  const { n, k } = checkShapes(probs, labels);
  const out: { index: number; score: number }[] = [];
  for (let i = 0; i < n; i++) {
    const { self, maxOther } = rowStats(probs, i, k, labels[i]);
    out.push({ index: i, score: rankBy === "self_confidence" ? self : (self - maxOther + 1) / 2 });
  }
  return out.sort((a, b) => a.score - b.score || a.index - b.index);
}

// ---- cross-validated probabilities ----------------------------------------------------------------

/** A view of some images of a data set (no pixel copy) that training and prediction accept. */
class IndexedView implements TrainingData {
  readonly labels: Int32Array;
  readonly size: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  private fp?: string;
  constructor(
    private readonly data: TrainingData,
    private readonly indices: Int32Array,
  ) {
    this.size = indices.length;
    this.height = data.height;
    this.width = data.width;
    this.channels = data.channels;
    this.labels = Int32Array.from(indices, (i) => data.labels[i]);
  }
  image(i: number): Uint8Array {
    return this.data.image(this.indices[i]);
  }
  fingerprint(): string {
    this.fp ??= createHash("sha256").update(this.data.fingerprint()).update(new Uint8Array(this.indices.buffer, this.indices.byteOffset, this.indices.byteLength)).digest("hex");
    return this.fp;
  }
}

/** Stratified fold assignment: each class spread evenly over the folds, shuffled with the seed. */
export function stratifiedFolds(labels: ArrayLike<number>, folds: number, seed = 42): Int32Array {
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`folds must be an integer ≥ 2, got ${folds}`);
  if (labels.length < folds) throw new RangeError(`${labels.length} examples cannot be split into ${folds} folds`);
  const rng = new Rng(seed);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l)!.push(i);
  }
  const fold = new Int32Array(labels.length);
  let offset = 0; // continue the round-robin across classes, so small classes do not all start at fold 0
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = rng.shuffle(byClass.get(c)!);
    members.forEach((i, r) => (fold[i] = (offset + r) % folds));
    offset = (offset + members.length) % folds;
  }
  return fold;
}

export type CrossValidationEvent =
  | { type: "fold-start"; fold: number; folds: number; trainSize: number; heldOutSize: number }
  | { type: "train"; fold: number; folds: number; event: import("../train").TrainEvent }
  | { type: "fold-end"; fold: number; folds: number; seconds: number; heldOutAccuracy: number };

export interface CrossValidationOptions {
  /** Number of folds (default 5). */
  folds?: number;
  /**
   * Builds a fresh, untrained model for each fold, e.g. `(fold) => createResNet18({ seed: fold + 1 })`.
   * Like every model `train` accepts, it must output softmax probabilities computed from a logits
   * layer named "fc" (LOGITS_LAYER).
   */
  modelFactory: (fold: number) => tf.LayersModel | Promise<tf.LayersModel>;
  /** Options for `train` (progress is handled here; a checkpointDir gets a `fold-<k>` subfolder per fold). */
  trainOptions?: Partial<Omit<TrainOptions, "progress">> & { augment?: Augmenter };
  /** Fold assignment seed (default: trainOptions.seed ?? 42). */
  seed?: number;
  batchSize?: number;
}

export interface CrossValidationResult {
  /** Out-of-sample probabilities, n × K row-major: row i comes from the model that did not see image i. */
  probs: Float32Array;
  classes: number;
  /** The fold of each image. */
  fold: Int32Array;
  /** trainedOn[f]: the rows fold f's model was trained on (never one of its held-out rows). */
  trainedOn: Int32Array[];
  results: TrainResult[];
  /** Held-out accuracy of each fold's model. */
  foldAccuracy: number[];
  seconds: number;
}

/**
 * Trains `folds` models, each on all folds but one (stratified split), with fernb's `train`, and
 * predicts the held-out fold with `predictProbabilities`: out-of-sample probabilities for every
 * image, as confident learning needs. Progress: a progress bar (notebook) / lines (script), or a
 * callback for every event; "silent" for none. Throws if training is interrupted.
 */
export async function crossValidatedProbabilities(
  data: TrainingData,
  options: CrossValidationOptions,
  progress: "auto" | "silent" | ((event: CrossValidationEvent) => void) = "auto",
): Promise<CrossValidationResult> {
  const t0 = Date.now();
  const folds = options.folds ?? 5;
  const seed = options.seed ?? options.trainOptions?.seed ?? 42;
  const fold = stratifiedFolds(data.labels, folds, seed);
  const emit = typeof progress === "function" ? progress : () => undefined;
  const epochs = options.trainOptions?.epochs ?? 30;
  const bar = progress === "auto" ? progressBar(`Cross-validation (${folds} folds)`, folds * epochs, { lineIntervalMs: 10_000 }) : undefined;
  let probs: Float32Array | undefined;
  let classes = 0;
  const results: TrainResult[] = [];
  const foldAccuracy: number[] = [];
  const trainedOn: Int32Array[] = [];
  for (let f = 0; f < folds; f++) {
    const fStart = Date.now();
    const trainIdx: number[] = [];
    const heldIdx: number[] = [];
    for (let i = 0; i < data.size; i++) (fold[i] === f ? heldIdx : trainIdx).push(i);
    const trainView = new IndexedView(data, Int32Array.from(trainIdx));
    trainedOn.push(Int32Array.from(trainIdx));
    const heldView = new IndexedView(data, Int32Array.from(heldIdx));
    emit({ type: "fold-start", fold: f + 1, folds, trainSize: trainView.size, heldOutSize: heldView.size });
    const model = await options.modelFactory(f);
    try {
      const trainOptions = { ...options.trainOptions };
      if (trainOptions.checkpointDir) trainOptions.checkpointDir = join(trainOptions.checkpointDir, `fold-${f + 1}`);
      const result = await train(model, trainView, undefined, {
        ...trainOptions,
        progress: (event) => {
          emit({ type: "train", fold: f + 1, folds, event });
          if (bar && event.type === "epoch") bar.update(f * epochs + event.record.epoch, `fold ${f + 1}/${folds} · epoch ${event.record.epoch}/${epochs} · train loss ${event.record.trainLoss.toFixed(4)}`, true);
        },
      });
      if (result.stoppedBy === "interrupted") throw new Error(`Cross-validation interrupted during fold ${f + 1} of ${folds}; no probabilities were returned.`);
      results.push(result);
      const p = await predictProbabilities(model, heldView, result.normalization, options.batchSize ?? 128);
      classes = p.length / heldView.size;
      probs ??= new Float32Array(data.size * classes);
      let correct = 0;
      heldIdx.forEach((i, r) => {
        probs!.set(p.subarray(r * classes, (r + 1) * classes), i * classes);
        if (argmax(p, r * classes, classes) === data.labels[i]) correct++;
      });
      const acc = heldIdx.length ? correct / heldIdx.length : 0;
      foldAccuracy.push(acc);
      emit({ type: "fold-end", fold: f + 1, folds, seconds: (Date.now() - fStart) / 1000, heldOutAccuracy: acc });
      bar?.update((f + 1) * epochs, `fold ${f + 1}/${folds} done · held-out accuracy ${acc.toFixed(3)}`, true);
    } finally {
      model.dispose();
    }
  }
  bar?.finish(`held-out accuracy per fold: ${foldAccuracy.map((a) => a.toFixed(3)).join(", ")}`);
  return { probs: probs!, classes, fold, trainedOn, results, foldAccuracy, seconds: (Date.now() - t0) / 1000 };
}
