/**
 * Which layer Grad-CAM explains. A 48×48 face is 2×2 at a ResNet-18's last stage with the ImageNet
 * stem: a "heat map" of four blocks. fernb's default is the layer the model card names
 * (`card.gradcam`), else the deepest residual-block output whose grid is at least 6×6
 * (`MIN_CAM_GRID`), measured on the model itself. `measureCamLayers` scores candidate layers by the
 * faithfulness figure (./faithfulness.ts) so the card's choice is a measurement, not a guess.
 */
import * as tf from "@tensorflow/tfjs";
import type { FaceDataset } from "../dataset";
import type { ModelCard } from "../modelIO";
import { Rng } from "../rng";
import { faithfulness } from "./faithfulness";
// A cycle (./index uses defaultCamLayer), harmless: neither module calls the other while loading.
import { classActivationMaps } from "./index";

/** The smallest Grad-CAM grid (rows and columns) fernb picks by default. */
export const MIN_CAM_GRID = 6;

/** What a model card records about Grad-CAM: the layer explained by default and its grid. */
export interface CardGradcam {
  layer: string;
  /** [rows, columns] of the layer's feature map for the card's input size. */
  grid: [number, number];
  /** How faithful its maps were measured to be (measureCamLayers) and on what, where recorded. */
  faithfulness?: Record<string, unknown>;
}

/** Models loaded by loadModel (or given a card with rememberCard) → their card. */
const cards = new WeakMap<tf.LayersModel, ModelCard>();

/** Remembers `card` as `model`'s card, so `explain`, `review` and friends use its Grad-CAM layer. */
export function rememberCard(model: tf.LayersModel, card: ModelCard): void {
  cards.set(model, card);
}

/** The card loadModel read for `model`, if any. */
export function cardOf(model: tf.LayersModel): ModelCard | undefined {
  return cards.get(model);
}

/** The [rows, columns] of a layer's output, or undefined when it is not a feature map. */
export function layerGrid(model: tf.LayersModel, name: string): [number, number] | undefined {
  let layer: tf.layers.Layer;
  try {
    layer = model.getLayer(name);
  } catch {
    return undefined;
  }
  const shape = layer.outputShape as (number | null)[];
  if (!Array.isArray(shape) || shape.length !== 4 || typeof shape[1] !== "number" || typeof shape[2] !== "number") return undefined;
  return [shape[1], shape[2]];
}

/**
 * Layers Grad-CAM can explain, in graph order: the residual blocks' outputs (`layerS_B_out`) where
 * the model has them, else every layer with a 4-D output.
 */
export function camLayerCandidates(model: tf.LayersModel): { layer: string; grid: [number, number] }[] {
  const all = model.layers.filter((l) => l.getClassName() !== "InputLayer").map((l) => ({ layer: l.name, grid: layerGrid(model, l.name) })).filter((c): c is { layer: string; grid: [number, number] } => c.grid !== undefined);
  const blocks = all.filter((c) => /_out$/.test(c.layer));
  return blocks.length ? blocks : all;
}

/**
 * The Grad-CAM layer a new model gets on its card: the deepest candidate whose grid is at least
 * `minGrid`×`minGrid`; where none is that fine (tiny inputs), the finest grid there is.
 */
export function chooseCamLayer(model: tf.LayersModel, minGrid = MIN_CAM_GRID): CardGradcam {
  const candidates = camLayerCandidates(model);
  if (!candidates.length) throw new Error(`${model.name} has no layer with a feature map (4-D output) for Grad-CAM.`);
  const fine = candidates.filter((c) => Math.min(...c.grid) >= minGrid);
  const pick = fine.length ? fine[fine.length - 1] : [...candidates].sort((a, b) => b.grid[0] * b.grid[1] - a.grid[0] * a.grid[1])[0];
  return { layer: pick.layer, grid: [pick.grid[0], pick.grid[1]] };
}

/** The card's Grad-CAM entry if it names a feature-map layer of `model`. */
function cardLayer(model: tf.LayersModel, card: ModelCard | undefined): string | undefined {
  const g = (card as { gradcam?: Partial<CardGradcam> } | undefined)?.gradcam;
  return g && typeof g.layer === "string" && layerGrid(model, g.layer) ? g.layer : undefined;
}

/**
 * The layer Grad-CAM explains when the caller names none: the card's (`card` or the one loadModel
 * read for `model`), else `chooseCamLayer(model)`.
 */
export function defaultCamLayer(model: tf.LayersModel, card?: ModelCard): string {
  return cardLayer(model, card) ?? cardLayer(model, cardOf(model)) ?? chooseCamLayer(model).layer;
}

// ---- measuring layers --------------------------------------------------------------------------

export interface LayerFaithfulness {
  layer: string;
  grid: [number, number];
  /** Faces measured (one map each, for the model's predicted class). */
  faces: number;
  /** Mean drop in the predicted class's probability when the map's top `fraction` of pixels are blanked. */
  camDrop: number;
  /** Mean drop when as many random pixels are blanked. */
  randomDrop: number;
  /** Mean drop when the map's top region, moved to random places, is blanked. */
  shiftedDrop: number;
  /** Share of maps whose drop beats the random one. */
  beatsRandom: number;
  /** Share of maps whose drop beats the same map moved elsewhere. */
  beatsShifted: number;
  /** Share of maps that are empty (no pixel raises the class score at this layer: all zero). */
  empty: number;
  fraction: number;
}

export interface MeasureCamOptions {
  /** The pixel normalisation of the model (its card's input mean/std). */
  normalization: { mean: number; std: number };
  /** Layers to compare (default: camLayerCandidates). */
  layers?: string[];
  /** How many faces (default all; a seeded random subset when fewer). */
  count?: number;
  seed?: number;
  method?: "Grad-CAM" | "Grad-CAM++";
  fraction?: number;
  batchSize?: number;
}

/**
 * Faithfulness of each candidate layer's maps on `dataset`: for every face, the map of the class
 * the model predicts, scored by how much blanking its top pixels lowers that class's probability
 * against blanking random pixels (the figure `explain` shows per map).
 */
export async function measureCamLayers(model: tf.LayersModel, dataset: FaceDataset, options: MeasureCamOptions): Promise<LayerFaithfulness[]> {
  const layers = options.layers ?? camLayerCandidates(model).map((c) => c.layer);
  const fraction = options.fraction ?? 0.2;
  let indices = Array.from({ length: dataset.size }, (_, i) => i);
  if (options.count !== undefined && options.count < indices.length) indices = new Rng(options.seed ?? 1).shuffle(indices).slice(0, options.count);
  const { height: h, width: w, channels: c } = dataset;
  const { mean, std } = options.normalization;
  const batchSize = options.batchSize ?? 16;
  const sums = layers.map(() => ({ cam: 0, random: 0, shifted: 0, beats: 0, beatsShifted: 0, empty: 0 }));
  for (let start = 0; start < indices.length; start += batchSize) {
    const batch = indices.slice(start, start + batchSize);
    const pixels = new Float32Array(batch.length * h * w * c);
    batch.forEach((i, j) => pixels.set(Float32Array.from(dataset.image(i), (v) => (v / 255 - mean) / std), j * h * w * c));
    const x = tf.tensor4d(pixels, [batch.length, h, w, c]);
    try {
      const probs = tf.tidy(() => (model.predict(x) as tf.Tensor).argMax(1).dataSync());
      const predicted = Array.from(probs);
      for (const [li, layer] of layers.entries()) {
        const maps = classActivationMaps(model, x, predicted, { method: options.method, layer });
        for (let j = 0; j < batch.length; j++) {
          const one = tf.tidy(() => x.slice([j, 0, 0, 0], [1, h, w, c])) as tf.Tensor4D;
          const f = faithfulness(model, one, maps[j], predicted[j], fraction);
          one.dispose();
          sums[li].cam += f.camDrop;
          sums[li].random += f.randomDrop;
          sums[li].shifted += f.shiftedDrop ?? 0;
          if (f.camDrop > f.randomDrop) sums[li].beats++;
          if (f.camDrop > (f.shiftedDrop ?? Infinity)) sums[li].beatsShifted++;
          if (maps[j].every((v) => v === 0)) sums[li].empty++;
        }
      }
    } finally {
      x.dispose();
    }
    await new Promise((r) => setImmediate(r));
  }
  const n = Math.max(1, indices.length);
  return layers.map((layer, li) => ({
    layer,
    grid: layerGrid(model, layer) ?? [0, 0],
    faces: indices.length,
    camDrop: sums[li].cam / n,
    randomDrop: sums[li].random / n,
    shiftedDrop: sums[li].shifted / n,
    beatsRandom: sums[li].beats / n,
    beatsShifted: sums[li].beatsShifted / n,
    empty: sums[li].empty / n,
    fraction,
  }));
}
