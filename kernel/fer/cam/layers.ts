/**
 * Which layer Grad-CAM explains. A 48×48 face is 2×2 at a ResNet-18's last stage with the ImageNet
 * stem: a "heat map" of four blocks. fernb's default is the layer the model card names
 * (`card.gradcam`), else the deepest residual-block output whose grid is at least 6×6
 * (`MIN_CAM_GRID`), measured on the model itself. `measureCamLayers` (./measure.ts) scores candidate
 * layers by the faithfulness figure (./faithfulness.ts) so the card's choice is a measurement, not a guess.
 */
import * as tf from "@tensorflow/tfjs";

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

/** What Grad-CAM reads of a model card (modelIO's CamCard is one; typed here so this file does not import modelIO, which imports it). */
export interface CamCard {
  gradcam?: CardGradcam;
}

/** Models loaded by loadModel (or given a card with rememberCard) → their card. */
const cards = new WeakMap<tf.LayersModel, CamCard>();

/** Remembers `card` as `model`'s card, so `explain`, `review` and friends use its Grad-CAM layer. */
export function rememberCard(model: tf.LayersModel, card: CamCard): void {
  cards.set(model, card);
}

/** The card loadModel read for `model`, if any. */
export function cardOf(model: tf.LayersModel): CamCard | undefined {
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
function cardLayer(model: tf.LayersModel, card: CamCard | undefined): string | undefined {
  const g = (card as { gradcam?: Partial<CardGradcam> } | undefined)?.gradcam;
  return g && typeof g.layer === "string" && layerGrid(model, g.layer) ? g.layer : undefined;
}

/**
 * The layer Grad-CAM explains when the caller names none: the card's (`card` or the one loadModel
 * read for `model`), else `chooseCamLayer(model)`.
 */
export function defaultCamLayer(model: tf.LayersModel, card?: CamCard): string {
  return cardLayer(model, card) ?? cardLayer(model, cardOf(model)) ?? chooseCamLayer(model).layer;
}
