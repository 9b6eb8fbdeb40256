/**
 * Surfacing unusable images (not a face, blank, unreadable exposure) with a simple, documented score.
 *
 * Pixel statistics of each image (grayscale): mean, standard deviation, histogram entropy (bits),
 * mean absolute gradient (detail), and the share of clipped pixels (≤ 5 or ≥ 250). Rules, each a
 * score in [0, 1] with a reason:
 *   - near-constant:  std < 12                     → 1 − std / 12
 *   - too dark:       mean < 40                    → (40 − mean) / 40
 *   - too bright:     mean > 215                   → (mean − 215) / 40
 *   - clipped:        clipped share > 0.3          → (share − 0.3) / 0.7
 *   - low entropy:    entropy < 4.5 bits           → (4.5 − entropy) / 4.5  (faces: ~6.5–7.5 bits)
 *   - little detail:  mean |gradient| < 2          → 1 − gradient / 2
 *   - outlier:        the largest robust z-score (|x − median| / (1.4826 · MAD), over the dataset) of
 *                     mean, std, entropy and gradient above 3.5 → min(1, (z − 3.5) / 6)
 * pixelScore = the largest of these. With model probabilities (n × K; ideally out-of-sample), the
 * model's uncertainty u = (1 − max p) / (1 − 1/K) ∈ [0, 1] is combined as a noisy-OR with weight ½:
 *   score = 1 − (1 − pixelScore) · (1 − u / 2)
 * so an image is surfaced by either signal, and blank/garbled images (pixel rules) rank above
 * faces the model is merely unsure about. Scores rank images for review; they decide nothing.
 */
import type { Emotion } from "../labels";

export interface PixelStats {
  mean: number;
  std: number;
  /** Shannon entropy of the 256-bin histogram, in bits (0..8). */
  entropy: number;
  /** Mean absolute difference between horizontal and vertical neighbours. */
  gradient: number;
  /** Share of pixels ≤ 5 or ≥ 250. */
  clipped: number;
}

export interface UnusableCandidate {
  index: number;
  path?: string;
  label?: Emotion;
  score: number;
  pixelScore: number;
  /** Sum of the rule scores: breaks ties between images that hit the 1.0 cap. */
  severity: number;
  /** Model uncertainty in [0, 1], when probabilities were given. */
  modelUncertainty?: number;
  reasons: string[];
  stats: PixelStats;
}

export interface UnusableData {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly size: number;
  readonly paths?: string[];
  image(i: number): Uint8Array;
  label?(i: number): Emotion;
}

export interface UnusableOptions {
  /** Predicted probabilities, n × K row-major (e.g. from crossValidatedProbabilities). */
  probs?: ArrayLike<number>;
  /** Return at most this many (default all), highest score first. */
  limit?: number;
  /** Only images scoring at least this (default 0). */
  minScore?: number;
}

/** Pixel statistics of one HWC uint8 image (channels averaged to gray). */
export function pixelStats(image: Uint8Array, height: number, width: number, channels: number): PixelStats {
  const n = height * width;
  const gray = new Uint8Array(n);
  if (channels === 1) gray.set(image.subarray(0, n));
  else for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += image[i * channels + c];
    gray[i] = Math.round(s / channels);
  }
  const hist = new Float64Array(256);
  let sum = 0;
  let sumSq = 0;
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const v = gray[i];
    hist[v]++;
    sum += v;
    sumSq += v * v;
    if (v <= 5 || v >= 250) clipped++;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  let entropy = 0;
  for (const h of hist) if (h > 0) entropy -= (h / n) * Math.log2(h / n);
  let g = 0;
  let gn = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = gray[y * width + x];
      if (x + 1 < width) {
        g += Math.abs(v - gray[y * width + x + 1]);
        gn++;
      }
      if (y + 1 < height) {
        g += Math.abs(v - gray[(y + 1) * width + x]);
        gn++;
      }
    }
  }
  return { mean, std, entropy, gradient: gn ? g / gn : 0, clipped: clipped / n };
}

function medianOf(values: Float64Array): number {
  const s = Float64Array.from(values).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const FEATURES = ["mean", "std", "entropy", "gradient"] as const;

/**
 * Scores every image by how likely it is unusable (see the module comment for the formula) and
 * returns them highest score first.
 */
export function rankUnusable(data: UnusableData, options: UnusableOptions = {}): UnusableCandidate[] {
  const n = data.size;
  const stats = Array.from({ length: n }, (_, i) => pixelStats(data.image(i), data.height, data.width, data.channels));
  let k = 0;
  if (options.probs) {
    k = options.probs.length / n;
    if (!Number.isInteger(k) || k < 2) throw new RangeError(`probs has ${options.probs.length} values for ${n} images: expected n × K`);
  }
  // Robust centre and spread of each feature over the dataset.
  const robust = FEATURES.map((f) => {
    const v = Float64Array.from(stats, (s) => s[f]);
    const med = medianOf(v);
    const mad = medianOf(v.map((x) => Math.abs(x - med)));
    return { f, med, scale: Math.max(1.4826 * mad, 1e-6) };
  });
  const out: UnusableCandidate[] = [];
  for (let i = 0; i < n; i++) {
    const s = stats[i];
    const reasons: string[] = [];
    let pixelScore = 0;
    let severity = 0;
    const rule = (score: number, reason: string) => {
      if (score <= 0) return;
      reasons.push(reason);
      severity += Math.min(1, score);
      pixelScore = Math.max(pixelScore, Math.min(1, score));
    };
    if (s.std < 12) rule(1 - s.std / 12, `near-constant (std ${s.std.toFixed(1)})`);
    if (s.mean < 40) rule((40 - s.mean) / 40, `too dark (mean ${s.mean.toFixed(0)})`);
    if (s.mean > 215) rule((s.mean - 215) / 40, `too bright (mean ${s.mean.toFixed(0)})`);
    if (s.clipped > 0.3) rule((s.clipped - 0.3) / 0.7, `${(100 * s.clipped).toFixed(0)}% clipped pixels`);
    if (s.entropy < 4.5) rule((4.5 - s.entropy) / 4.5, `low entropy (${s.entropy.toFixed(2)} bits)`);
    if (s.gradient < 2) rule(1 - s.gradient / 2, `little detail (gradient ${s.gradient.toFixed(2)})`);
    let worst = 0;
    let worstFeature = "";
    for (const r of robust) {
      const z = Math.abs(s[r.f] - r.med) / r.scale;
      if (z > worst) {
        worst = z;
        worstFeature = r.f;
      }
    }
    if (worst > 3.5) rule(Math.min(1, (worst - 3.5) / 6), `unusual ${worstFeature} (robust z ${worst.toFixed(1)})`);
    let score = pixelScore;
    let modelUncertainty: number | undefined;
    if (options.probs) {
      let max = 0;
      for (let c = 0; c < k; c++) max = Math.max(max, options.probs[i * k + c]);
      modelUncertainty = Math.max(0, Math.min(1, (1 - max) / (1 - 1 / k)));
      if (modelUncertainty > 0.5) reasons.push(`model unsure (max probability ${max.toFixed(2)})`);
      score = 1 - (1 - pixelScore) * (1 - modelUncertainty / 2);
    }
    if (score < (options.minScore ?? 0)) continue;
    const c: UnusableCandidate = { index: i, score, pixelScore, severity, reasons, stats: s };
    if (modelUncertainty !== undefined) c.modelUncertainty = modelUncertainty;
    if (data.paths) c.path = data.paths[i];
    if (data.label) c.label = data.label(i);
    out.push(c);
  }
  out.sort((a, b) => b.score - a.score || b.severity - a.severity || a.index - b.index);
  return options.limit !== undefined ? out.slice(0, options.limit) : out;
}
