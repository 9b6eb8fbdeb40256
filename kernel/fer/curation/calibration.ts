/**
 * What a label-error suspicion means, on a scale users can read: the share of faces scored like
 * this that had a wrong label on fernb's curation benchmark (`npm run bench:curation`: the shipped
 * FER2013 model on the TUNING half of PublicTest, 10% class-conditional noise injected along
 * FER2013's real confusions), by the model's probability of the given label under the default
 * ranking's test-time augmentation. The faces' own, real label errors are not counted as wrong
 * there, so the shares are lower bounds for FER2013-like data; for another model or other data
 * they are a guide, not a measurement.
 *
 * And whether a model is strong enough for its suspicions to mean much at all (`modelStrength`).
 */

/** Bin edges over p_given (the last edge is above 1, so p = 1 falls in the last bin). */
export const CALIBRATION_EDGES: readonly number[] = [0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0001];

// BEGIN MEASURED (npm run bench:curation -- --write-calibration, 2026-11-29, 5 draws, tuning half 1793 faces)
export const MEASURED_WRONG_SHARE: readonly number[] = [0.612, 0.369, 0.278, 0.144, 0.101, 0.052, 0.02, 0.003];
// END MEASURED

/** The benchmark's noise rate and model the table was measured with (shown with the numbers). */
export const CALIBRATION_SOURCE = "fernb's curation benchmark: the FER2013 model on held-out faces with 10% of labels deliberately flipped";

/**
 * The measured shares made non-increasing in p_given (pool-adjacent-violators; a lower probability
 * of the given label never reads as less suspicious), one per bin.
 */
export function monotoneWrongShare(shares: readonly number[] = MEASURED_WRONG_SHARE): number[] {
  const blocks: { sum: number; count: number }[] = [];
  for (const s of shares) {
    blocks.push({ sum: s, count: 1 });
    while (blocks.length > 1 && blocks[blocks.length - 2].sum / blocks[blocks.length - 2].count < blocks[blocks.length - 1].sum / blocks[blocks.length - 1].count) {
      const b = blocks.pop()!;
      blocks[blocks.length - 1].sum += b.sum;
      blocks[blocks.length - 1].count += b.count;
    }
  }
  return blocks.flatMap((b) => new Array<number>(b.count).fill(b.sum / b.count));
}

const TABLE = monotoneWrongShare();

/** Share of faces with this probability of their given label that were wrong on the benchmark (0..1). */
export function wrongShare(pGiven: number): number {
  if (!Number.isFinite(pGiven)) return 0;
  const p = Math.max(0, Math.min(1, pGiven));
  let b = 0;
  while (b < CALIBRATION_EDGES.length - 2 && p >= CALIBRATION_EDGES[b + 1]) b++;
  return TABLE[b] ?? 0;
}

export interface ModelStrength {
  /** True when the model's suspicions mean little. */
  weak: boolean;
  /** Accuracy of the model's top class against the given labels. */
  accuracy: number;
  /** The share of the most common given label (what always guessing it scores). */
  majorityShare: number;
  /** Mean of the largest class probability (1/K for uniform probabilities). */
  meanTopProbability: number;
  classes: number;
  /** One plain sentence when weak. */
  reason?: string;
}

/**
 * Whether the model is too weak for its label-error suspicions to mean much: its accuracy on these
 * faces is within 10 points of always guessing the most common label, or its probabilities are
 * nearly uniform (the mean top probability below 1.5 / K).
 */
export function modelStrength(probs: ArrayLike<number>, labels: ArrayLike<number>, classNames?: readonly string[]): ModelStrength {
  const n = labels.length;
  const k = n ? probs.length / n : 0;
  if (!n || !Number.isInteger(k) || k < 2) throw new RangeError(`probs has ${probs.length} values for ${n} labels: expected n × K with K ≥ 2`);
  let correct = 0;
  let top = 0;
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + b]) b = j;
    if (b === labels[i]) correct++;
    top += probs[i * k + b];
    counts[labels[i]]++;
  }
  const accuracy = correct / n;
  const majority = counts.indexOf(Math.max(...counts));
  const majorityShare = counts[majority] / n;
  const meanTopProbability = top / n;
  const pct = (v: number) => `${Math.round(100 * v)}%`;
  let reason: string | undefined;
  if (meanTopProbability < 1.5 / k) {
    reason = `The model is too unsure for its suspicions to mean much: its probabilities are nearly uniform (top class ${pct(meanTopProbability)} on average, ${pct(1 / k)} would be a pure guess). Train it longer, or use a stronger model.`;
  } else if (accuracy < majorityShare + 0.1) {
    const name = classNames?.[majority] ?? `class ${majority}`;
    reason = `The model is too weak for its suspicions to mean much: it gets ${pct(accuracy)} of these faces right, about what always answering "${name}" would (${pct(majorityShare)}). Train it longer, or use a stronger model.`;
  }
  return { weak: reason !== undefined, accuracy, majorityShare, meanTopProbability, classes: k, reason };
}
