/**
 * The JSON payloads the kernel writes and the notebook renderers draw, one type per MIME type
 * (mime.ts). The kernel's producers are typed against these (kernel/display.ts chart,
 * kernel/fer/evaluate.ts confusion, kernel/fer/cam/index.ts Grad-CAM, kernel/fer/curation/review.ts
 * review) and each renderer validates its untrusted input into the same type
 * (extension/renderers/*.ts `validate…`), so a field renamed on one side fails the type check.
 *
 * Payloads are object type aliases (not interfaces), so a payload still fits `Record<string, unknown>`.
 * Labels are class names (strings); the kernel narrows them to its `Emotion` through the `L`
 * parameters (e.g. `ReviewPayload<Emotion, CamMethod>`).
 */

// ---- application/vnd.fernb.chart+json -----------------------------------------------------------

/** A vega-lite spec (https://vega.github.io/vega-lite/), drawn by extension/renderers/chart.ts. */
export type ChartPayload = Record<string, unknown>;

// ---- application/vnd.fernb.confusion+json -------------------------------------------------------

/** One face in a confusion-matrix cell. */
export type ConfusionExample = {
  path: string;
  /** data:image/...;base64 thumbnail ("" when the image is not at hand: drawn as a placeholder). */
  thumb: string;
  /** The probability of the predicted class. */
  confidence: number;
  /** Every class's probability, in `classes` order. */
  probs?: number[];
};

export type ConfusionPayload = {
  title?: string;
  classes: string[];
  /** counts[true][predicted], classes × classes. */
  counts: number[][];
  n: number;
  accuracy?: number;
  macroF1?: number;
  /** "true,predicted" (class indices) → example faces of that cell, most confident first. */
  examples?: Record<string, ConfusionExample[]>;
};

// ---- application/vnd.fernb.gradcam+json ---------------------------------------------------------

/**
 * Confidence drop when the top `fraction` (default 0.2) of CAM pixels are blanked (`camDrop`), vs as
 * many random pixels (`randomDrop`) and vs the same region moved elsewhere on the face (`shiftedDrop`).
 */
export type CamFaithfulness = { camDrop: number; randomDrop: number; shiftedDrop?: number; fraction?: number };

/** One heat map: `width`×`height` bytes (0..255 = importance 0..1), row-major, base64. */
export type GradcamCam = {
  /** The class explained (index into `classes`). */
  class: number;
  width: number;
  height: number;
  data: string;
  faithfulness?: CamFaithfulness;
};

export type GradcamItem = {
  path: string;
  /** True and predicted class (indices into `classes`). */
  label: number;
  predicted: number;
  probs: number[];
  /** The face, a data:image/...;base64 URL. */
  image: string;
  /** The predicted class first, then (if different) the true class. */
  cams: GradcamCam[];
};

export type GradcamPayload<M extends string = string> = {
  title?: string;
  /** "Grad-CAM" or "Grad-CAM++". */
  method: M;
  layer: string;
  /** The layer's feature-map grid, [rows, columns]: how coarse the maps are before upsampling. */
  grid?: [number, number];
  classes: string[];
  items: GradcamItem[];
};

// ---- application/vnd.fernb.review+json ----------------------------------------------------------

/** What a review item is suspected of. */
export type SuspectKind = "label" | "duplicate" | "unusable";

export type ReviewIssue<L extends string = string> = {
  kind: SuspectKind;
  /** How suspect, 0..1, higher = more likely a problem (label issues: 1 − their score). */
  score: number;
  /** Label issues: the suggested label. */
  suggested?: L;
  detail?: string;
};

export type ReviewPrediction<L extends string = string> = {
  label: L;
  p: number;
};

export type ReviewItemState<L extends string = string> = {
  /** The label in the dataset (folder / CSV). */
  originalLabel: L;
  /** The label after the ledger's decisions. */
  label: L;
  excluded: boolean;
  /** Set when the ledger relabelled the image. */
  relabelled?: L;
};

export type ReviewItem<L extends string = string> = {
  /** Relative to the dataset root, posix separators; the item's id in its review. */
  path: string;
  /** The label in the dataset. */
  label: L;
  /** data:image/png;base64 thumbnail, 48×48. */
  thumb: string;
  predictions?: ReviewPrediction<L>[];
  issue?: ReviewIssue<L>;
  state: ReviewItemState<L>;
};

/** Present when the review was given a model: the renderer then offers Grad-CAM per image. */
export type ReviewCamInfo<M extends string = string> = {
  method: M;
  layer: string;
};

export type ReviewPayload<L extends string = string, M extends string = string> = {
  reviewId: string;
  /** Display name of the dataset root (its folder or file name). */
  dataset: string;
  classes: string[];
  /** The renderer whose messages this review answers (RENDERER_ID.review). */
  renderer: string;
  /** Images matching the filter (before the item cap). */
  total: number;
  items: ReviewItem<L>[];
  cam?: ReviewCamInfo<M>;
};

// ---- application/vnd.fernb.embedding+json -------------------------------------------------------

/**
 * A map of a data set: each face a point, placed by a 2-D projection of the model's
 * penultimate-layer features (kernel/fer/curation/embeddingMap.ts), drawn by
 * extension/renderers/embedding.ts. Per-point arrays are base64 bytes, so 30,000 points stay a few
 * hundred KB; faces are not in the payload (the renderer asks the kernel for a thumbnail on hover).
 */
export type EmbeddingPayload = {
  mapId: string;
  /** The renderer whose messages this map answers (RENDERER_ID.embedding). */
  renderer: string;
  /** Display name of the data set (its folder name). */
  dataset: string;
  classes: string[];
  /** Number of points. */
  n: number;
  /** How the coordinates were made: "umap" or "pca", and a sentence for the legend. */
  projection: { method: string; detail?: string };
  /** base64 of 2n little-endian uint16: x0, y0, x1, y1, … scaled to 0..65535 over the points' extent (y up). */
  xy: string;
  /** base64 of n bytes: each point's label (index into classes; after the ledger's decisions). */
  labels: string;
  /** base64 of n bytes: the model's predicted class. */
  predicted: string;
  /** base64 of n bytes: suspicion 0..255 for 0..1 (what it means: suspicionMeaning). */
  suspicion: string;
  /** What the suspicion score is, in words (legend). */
  suspicionMeaning: string;
  /** The suspects (point ids), most suspicious first: marked on the map. */
  suspects: number[];
  /** Set when the model is too weak for its suspicions to mean much: why, in one sentence. */
  weakModel?: string;
  /** Most points one selection may open in the review grid. */
  maxSelect: number;
};
