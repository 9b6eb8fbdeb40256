/**
 * Class-activation maps for fernb models: Grad-CAM and Grad-CAM++ for any convolutional layer
 * (default: the layer the model card names, else the deepest block output with at least a 6×6
 * grid: see ./layers.ts), upsampled to the input and normalised to [0,1], with a faithfulness
 * figure per image, packaged for the `application/vnd.fernb.gradcam+json` renderer.
 */
import * as tf from "@tensorflow/tfjs";
import { DISPLAY } from "../../display";
import { MIME, type GradcamPayload, type OutputItem } from "../../../protocol";
import type { FaceDataset } from "../data/faceDataset";
import type { Evaluation, Prediction } from "../evaluate";
import { EMOTIONS } from "../labels";
import { batchTensor } from "../modelInput";
import { pngDataUrl } from "../pngSync";
import { faithfulness, type Faithfulness } from "./faithfulness";
import { gradCamMaps } from "./gradCam";
import { gradCamPlusPlusMaps } from "./gradCamPlusPlus";
import { classGradients } from "./layerGraph";
import { defaultCamLayer, layerGrid } from "./layers";

/** The Grad-CAM renderer's MIME type (protocol/mime.ts). */
export const GRADCAM_MIME = MIME.gradcam;
export type CamMethod = "Grad-CAM" | "Grad-CAM++";

export interface CamOptions {
  method?: CamMethod;
  /**
   * Layer whose feature maps are explained (default: the model card's `gradcam.layer` for a model
   * from loadModel, else the deepest residual-block output with at least a 6×6 grid).
   */
  layer?: string;
}

/**
 * Maps for a normalised batch `x`, one per image for `classes[i]`: Float32Arrays of h*w values in
 * [0,1] at the input resolution.
 */
export function classActivationMaps(model: tf.LayersModel, x: tf.Tensor4D, classes: number[], options: CamOptions = {}): Float32Array[] {
  const layer = options.layer ?? defaultCamLayer(model);
  const [b, h, w] = x.shape;
  const g = classGradients(model, layer, x, classes);
  try {
    return tf.tidy(() => {
      const maps = options.method === "Grad-CAM++" ? gradCamPlusPlusMaps(g.activations, g.gradients) : gradCamMaps(g.activations, g.gradients);
      const up = tf.image.resizeBilinear(maps.expandDims(3) as tf.Tensor4D, [h, w]).reshape([b, h * w]);
      const lo = up.min(1, true);
      const hi = up.max(1, true);
      const range = hi.sub(lo);
      const norm = tf.where(range.greater(0), up.sub(lo).div(tf.where(range.greater(0), range, tf.onesLike(range))), tf.zerosLike(up));
      const data = norm.dataSync() as Float32Array;
      return Array.from({ length: b }, (_, i) => data.slice(i * h * w, (i + 1) * h * w));
    });
  } finally {
    g.dispose();
  }
}

export interface ExplainedFace {
  path: string;
  label: number;
  predicted: number;
  probs: number[];
  maps: { class: number; cam: Float32Array; faithfulness: Faithfulness }[];
}

export class CamReport {
  constructor(
    readonly method: CamMethod,
    readonly layer: string,
    readonly faces: ExplainedFace[],
    private readonly dataset: FaceDataset,
    /** The layer's feature-map grid [rows, columns]. */
    readonly grid?: [number, number],
  ) {}

  payload(): GradcamPayload<CamMethod> {
    const d = this.dataset;
    const index = new Map(d.paths.map((p, i) => [p, i] as const));
    return {
      title: `${this.method}: where the model looked`,
      method: this.method,
      layer: this.layer,
      ...(this.grid ? { grid: this.grid } : {}),
      classes: [...EMOTIONS],
      items: this.faces.map((f) => ({
        path: f.path,
        label: f.label,
        predicted: f.predicted,
        probs: f.probs,
        image: pngDataUrl(d.image(index.get(f.path)!), d.height, d.width, d.channels),
        cams: f.maps.map((m) => ({
          class: m.class,
          width: d.width,
          height: d.height,
          data: Buffer.from(Uint8Array.from(m.cam, (v) => Math.round(v * 255))).toString("base64"),
          faithfulness: m.faithfulness,
        })),
      })),
    };
  }

  summary(): string {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const all = this.faces.flatMap((f) => f.maps.map((m) => m.faithfulness));
    const grid = this.grid ? ` (${this.grid[0]}×${this.grid[1]} grid)` : "";
    const head = `${this.method} at layer ${this.layer}${grid} for ${this.faces.length} face${this.faces.length === 1 ? "" : "s"}`;
    if (!all.length) return head;
    const pct = Math.round((all[0].fraction ?? 0.2) * 100);
    const shifted = all.filter((a) => a.shiftedDrop !== undefined);
    const weak = all.filter((a) => a.camDrop <= a.randomDrop).length;
    return `${head} · hiding the ${pct}% of each face its map marks lowers the model's confidence in that class by ${points(mean(all.map((a) => a.camDrop)))} points on average` +
      (shifted.length ? `; the same area moved elsewhere: ${points(mean(shifted.map((a) => a.shiftedDrop!)))}` : "") +
      `; ${pct}% random pixels: ${points(mean(all.map((a) => a.randomDrop)))} · ${weak} of ${all.length} map${all.length === 1 ? "" : "s"} explain less than random pixels`;
  }

  [DISPLAY](): OutputItem[] {
    return [
      { mime: GRADCAM_MIME, data: JSON.stringify(this.payload()) },
      { mime: "text/plain", data: this.summary() },
    ];
  }
}

/**
 * Explains predictions: for each, the map of the predicted class and (if different) of the true
 * class, with faithfulness. Default predictions: the 12 most confident mistakes of `evaluation`.
 */
export function explain(model: tf.LayersModel, dataset: FaceDataset, evaluationOrPredictions: Evaluation | Prediction[], options: CamOptions & { normalization: { mean: number; std: number }; count?: number }): CamReport {
  const predictions = Array.isArray(evaluationOrPredictions) ? evaluationOrPredictions : evaluationOrPredictions.mistakes().slice(0, options.count ?? 12);
  const method = options.method ?? "Grad-CAM";
  const layer = options.layer ?? defaultCamLayer(model);
  const index = new Map(dataset.paths.map((p, i) => [p, i] as const));
  const faces: ExplainedFace[] = [];
  for (const p of predictions) {
    const i = index.get(p.path);
    if (i === undefined) throw new Error(`${p.path} is not in this data set.`);
    const x = batchTensor(dataset, [i], options.normalization);
    const targets = p.predicted === p.label ? [p.predicted] : [p.predicted, p.label];
    const maps = targets.map((cls) => {
      const [cam] = classActivationMaps(model, x, [cls], { method, layer });
      return { class: cls, cam, faithfulness: faithfulness(model, x, cam, cls) };
    });
    x.dispose();
    faces.push({ path: p.path, label: p.label, predicted: p.predicted, probs: p.probs, maps });
  }
  return new CamReport(method, layer, faces, dataset, layerGrid(model, layer));
}

/** A probability drop (0..1) in percentage points, e.g. 0.314 → "31". */
function points(drop: number): string {
  return String(Math.round(drop * 100));
}
