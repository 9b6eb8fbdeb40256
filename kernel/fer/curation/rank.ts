/**
 * Rankings of likely label errors, as pure functions over arrays (in the style of cleanlab's
 * `rank`/`filter` modules; display is layered on top, in confidentLearning.ts, review.ts and `fernb
 * audit`). Every ranking puts the most suspicious example first and breaks ties by index, so the
 * same inputs always give the same order.
 *
 * Inputs: out-of-sample class probabilities (n × K row-major: from a model that did not train on
 * these images, averaged over test-time augmentation when you have it: features.ts), the given
 * labels, and for some methods the model's penultimate-layer features (n × dim row-major) or
 * near-duplicate pairs.
 *
 * Methods (`RankMethod`):
 *  - "loss" (= "self_confidence"): −log p_given: the cross-entropy of the given label, the plain
 *    ranking by loss;
 *  - "normalized_margin": p_given − max_{k≠given} p_k;
 *  - "confidence_weighted_entropy": H(p) / p_given;
 *  - "knn": disagreement of the given label with the labels of the k nearest neighbours (cosine
 *    similarity of the features), the share of neighbours labelled otherwise;
 *  - "loss+knn": −log p_given − β · log(share of neighbours with the given label + 0.05).
 *  - "rank_average": the mean rank of normalized_margin and knn.
 * `duplicates`: of each near-duplicate pair whose labels differ, the image the ranking finds more
 * suspicious is put first (one of the two labels must be wrong).
 *
 * `DEFAULT_RANKING` is what `fernb audit` and `findLabelIssues` use; it was chosen by
 * `npm run bench:curation` on its tuning half (README, curation section).
 */
import type { TestTimeAugmentation } from "../modelInput";

export type RankMethod = "loss" | "self_confidence" | "normalized_margin" | "confidence_weighted_entropy" | "knn" | "loss+knn" | "rank_average";

export const RANK_METHODS: readonly RankMethod[] = ["loss", "self_confidence", "normalized_margin", "confidence_weighted_entropy", "knn", "loss+knn", "rank_average"];

/** Test-time augmentation the probabilities (and features) were averaged over. */
export type RankTta = TestTimeAugmentation;

export interface RankingSpec {
  method: RankMethod;
  /** Test-time augmentation of the probabilities the ranking is computed from. */
  tta: RankTta;
  /** Near-duplicate pairs with different labels first. */
  duplicatesFirst: boolean;
  /** Neighbours, for the knn-based methods. */
  k?: number;
  /** Weight of the neighbours' term in "loss+knn". */
  beta?: number;
}

/**
 * The default ranking: the loss of the given label under probabilities averaged over ten-crop
 * test-time augmentation, with near-duplicates whose labels differ first. Chosen by `npm run
 * bench:curation` on the tuning half (mean precision@100 over 5%, 10% and 20% injected noise);
 * the neighbour-based methods and the label-quality scores other than the loss ranked lower there.
 */
export const DEFAULT_RANKING: Readonly<RankingSpec> = Object.freeze({ method: "loss", tta: "tencrop", duplicatesFirst: true });

export interface RankOptions {
  method?: RankMethod;
  /** n × dim features, row-major (knn, loss+knn, rank_average). */
  embeddings?: ArrayLike<number>;
  /** Neighbours for the knn-based methods (default 15). */
  k?: number;
  /** Weight of the neighbours in "loss+knn" (default 0.25). */
  beta?: number;
  /** Precomputed `nearestNeighbours(embeddings, n, ≥ k)` (saves recomputing them for several label sets). */
  neighbours?: Int32Array;
  /** Pairs of example indices that are near duplicates; pairs whose labels differ go first. */
  duplicates?: readonly (readonly [number, number])[];
}

export interface RankedExample {
  index: number;
  /** Suspicion: higher = the label is more likely wrong (for "loss": −log p_given). */
  suspicion: number;
  /** The more suspicious image of a near-duplicate pair whose labels differ (ranked first). */
  duplicateConflict?: boolean;
}

/** Checks that `probs` is n × K (K ≥ 2) for the n `labels` and every label is a class index; returns n and K. */
export function checkShapes(probs: ArrayLike<number>, labels: ArrayLike<number>): { n: number; k: number } {
  const n = labels.length;
  if (n === 0) throw new RangeError("no examples");
  const k = probs.length / n;
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`probs has ${probs.length} values for ${n} labels: expected n × K with K ≥ 2`);
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= k) throw new RangeError(`label ${l} of example ${i} is not a class index 0..${k - 1}`);
  }
  return { n, k };
}

const EPS = 1e-12;

/**
 * Label quality per example under `method` (probability-only methods), higher = more likely right:
 * self-confidence p_given, normalised margin (p_given − max other + 1) / 2, or the inverse of the
 * confidence-weighted entropy p_given / H(p).
 */
export function labelQualityScores(probs: ArrayLike<number>, labels: ArrayLike<number>, method: "self_confidence" | "normalized_margin" | "confidence_weighted_entropy" = "self_confidence"): Float64Array {
  const { n, k } = checkShapes(probs, labels);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = labels[i];
    const self = probs[i * k + g];
    if (method === "self_confidence") {
      out[i] = self;
    } else if (method === "normalized_margin") {
      let other = -Infinity;
      for (let j = 0; j < k; j++) if (j !== g && probs[i * k + j] > other) other = probs[i * k + j];
      out[i] = (self - other + 1) / 2;
    } else {
      let h = 0;
      for (let j = 0; j < k; j++) {
        const p = probs[i * k + j];
        if (p > 0) h -= p * Math.log(p);
      }
      out[i] = Math.max(self, EPS) / Math.max(h, EPS);
    }
  }
  return out;
}

/**
 * For each example, the indices of its k nearest neighbours by cosine similarity of the features
 * (itself excluded; ties by index), as an n × k Int32Array. Exact, O(n² · dim): seconds for a few
 * thousand 512-d features, many minutes for tens of thousands.
 */
export function nearestNeighbours(embeddings: ArrayLike<number>, n: number, k: number): Int32Array {
  if (!Number.isInteger(n) || n < 2) throw new RangeError("nearest neighbours need at least 2 examples");
  const dim = embeddings.length / n;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`embeddings has ${embeddings.length} values for ${n} examples: expected n × dim`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  const kk = Math.min(k, n - 1);
  // Unit-normalised copy.
  const e = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += embeddings[i * dim + d] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dim; d++) e[i * dim + d] = embeddings[i * dim + d] * inv;
  }
  const out = new Int32Array(n * kk);
  const sims = new Float64Array(n);
  const bestIdx = new Int32Array(kk);
  const bestSim = new Float64Array(kk);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += e[i * dim + d] * e[j * dim + d];
      sims[j] = s;
    }
    // Keep the kk best (insertion into a small sorted list; ties: lower index first).
    let filled = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const s = sims[j];
      if (filled === kk && s <= bestSim[kk - 1]) continue;
      let p = filled < kk ? filled++ : kk - 1;
      while (p > 0 && bestSim[p - 1] < s) {
        bestSim[p] = bestSim[p - 1];
        bestIdx[p] = bestIdx[p - 1];
        p--;
      }
      bestSim[p] = s;
      bestIdx[p] = j;
    }
    out.set(bestIdx.subarray(0, kk), i * kk);
  }
  return out;
}

/** Share of each example's k nearest neighbours (features, cosine) labelled the same as it. */
export function neighbourAgreement(embeddings: ArrayLike<number> | undefined, labels: ArrayLike<number>, k = 15, neighbours?: Int32Array): Float64Array {
  const n = labels.length;
  if (!neighbours && !embeddings) throw new TypeError("neighbour agreement needs the features (embeddings) or precomputed neighbours");
  const nb = neighbours ?? nearestNeighbours(embeddings!, n, k);
  const stride = nb.length / n;
  if (!Number.isInteger(stride) || stride < 1) throw new RangeError(`neighbours has ${nb.length} entries for ${n} examples`);
  const kk = Math.min(k, stride);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let same = 0;
    for (let j = 0; j < kk; j++) if (labels[nb[i * stride + j]] === labels[i]) same++;
    out[i] = same / kk;
  }
  return out;
}

/** Ranks (1 = smallest) with ties given their mean rank. */
function fractionalRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b] || a - b);
  const ranks = new Float64Array(n);
  for (let s = 0; s < n; ) {
    let e = s + 1;
    while (e < n && values[order[e]] === values[order[s]]) e++;
    const r = (s + 1 + e) / 2;
    for (let t = s; t < e; t++) ranks[order[t]] = r;
    s = e;
  }
  return ranks;
}

/** Per-example suspicion (higher = label more likely wrong) under `options.method` (default the loss). */
export function suspicionScores(probs: ArrayLike<number>, labels: ArrayLike<number>, options: RankOptions = {}): Float64Array {
  const { n, k } = checkShapes(probs, labels);
  const method = options.method ?? DEFAULT_RANKING.method;
  if (!RANK_METHODS.includes(method)) throw new RangeError(`unknown ranking method "${method}" (one of ${RANK_METHODS.join(", ")})`);
  const needsNeighbours = method === "knn" || method === "loss+knn" || method === "rank_average";
  if (needsNeighbours && !options.embeddings && !options.neighbours) throw new TypeError(`the "${method}" ranking needs the model's features (embeddings)`);
  const out = new Float64Array(n);
  if (method === "loss" || method === "self_confidence") {
    for (let i = 0; i < n; i++) out[i] = -Math.log(Math.max(probs[i * k + labels[i]], EPS));
    return out;
  }
  if (method === "normalized_margin" || method === "confidence_weighted_entropy") {
    const q = labelQualityScores(probs, labels, method);
    for (let i = 0; i < n; i++) out[i] = method === "normalized_margin" ? 1 - q[i] : 1 / q[i];
    return out;
  }
  const agree = neighbourAgreement(options.embeddings, labels, options.k ?? 15, options.neighbours);
  if (method === "knn") {
    // Disagreement, with the loss as a tiny tie-breaker (many examples share a neighbour count).
    for (let i = 0; i < n; i++) out[i] = 1 - agree[i] + 1e-6 * Math.min(1, -Math.log(Math.max(probs[i * k + labels[i]], EPS)) / 30);
    return out;
  }
  if (method === "loss+knn") {
    const beta = options.beta ?? 0.25;
    for (let i = 0; i < n; i++) out[i] = -Math.log(Math.max(probs[i * k + labels[i]], EPS)) - beta * Math.log(agree[i] + 0.05);
    return out;
  }
  // rank_average of normalised margin and neighbour disagreement
  const margin = labelQualityScores(probs, labels, "normalized_margin");
  const rm = fractionalRanks(margin.map((v) => -v));
  const rk = fractionalRanks(agree.map((v) => -v));
  for (let i = 0; i < n; i++) out[i] = (rm[i] + rk[i]) / (2 * n);
  return out;
}

/**
 * Every example, the most suspicious first (ties by index). With `duplicates`, the examples of
 * near-duplicate pairs whose labels differ lead: of each such pair the more suspicious one.
 */
export function rankLabelIssues(probs: ArrayLike<number>, labels: ArrayLike<number>, options: RankOptions = {}): RankedExample[] {
  const s = suspicionScores(probs, labels, options);
  const n = labels.length;
  // The more suspicious image of each near-duplicate pair whose labels differ goes first (its
  // partner keeps its own place: one of the two is wrong, and the model's view picks which).
  const first = new Uint8Array(n);
  for (const [a, b] of options.duplicates ?? []) {
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0 || a >= n || b >= n) throw new RangeError(`duplicate pair [${a}, ${b}] is not a pair of example indices 0..${n - 1}`);
    if (a === b || labels[a] === labels[b]) continue;
    first[s[a] > s[b] || (s[a] === s[b] && a < b) ? a : b] = 1;
  }
  const out: RankedExample[] = Array.from({ length: n }, (_, index) => {
    const r: RankedExample = { index, suspicion: s[index] };
    if (first[index]) r.duplicateConflict = true;
    return r;
  });
  return out.sort((a, b) => first[b.index] - first[a.index] || b.suspicion - a.suspicion || a.index - b.index);
}

// ---- measuring a ranking against known errors ---------------------------------------------------

/** Precision and recall among the first k of `order` (example indices, most suspicious first). */
export function precisionRecallAtK(order: ArrayLike<number>, isError: ArrayLike<boolean | number>, k: number): { precision: number; recall: number } {
  const errors = Array.from(isError).filter(Boolean).length;
  const kk = Math.min(k, order.length);
  let hits = 0;
  for (let r = 0; r < kk; r++) if (isError[order[r]]) hits++;
  return { precision: kk ? hits / kk : 0, recall: errors ? hits / errors : 0 };
}

/**
 * Area under the ROC curve of `order` (most suspicious first) against the known errors: the chance
 * that a random wrong label is ranked above a random right one. Ties are broken by the order itself.
 */
export function rocAuc(order: ArrayLike<number>, isError: ArrayLike<boolean | number>): number {
  let pos = 0;
  let neg = 0;
  let above = 0; // for each negative, the positives ranked above it
  for (let r = 0; r < order.length; r++) {
    if (isError[order[r]]) pos++;
    else {
      neg++;
      above += pos;
    }
  }
  return pos && neg ? above / (pos * neg) : NaN;
}
