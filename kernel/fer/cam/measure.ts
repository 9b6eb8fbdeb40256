/**
 * Measuring Grad-CAM layers: for every face, the map of the class the model predicts at each
 * candidate layer (./layers.ts), scored by the faithfulness figure (./faithfulness.ts), so the layer
 * a model card names is a measurement, not a guess.
 */
import * as tf from "@tensorflow/tfjs";
import type { FaceDataset } from "../data/faceDataset";
import { argmaxRows, batchTensor } from "../modelInput";
import { Rng } from "../rng";
import { faithfulness } from "./faithfulness";
import { classActivationMaps } from "./index";
import { camLayerCandidates, layerGrid } from "./layers";

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
  const batchSize = options.batchSize ?? 16;
  const sums = layers.map(() => ({ cam: 0, random: 0, shifted: 0, beats: 0, beatsShifted: 0, empty: 0 }));
  for (let start = 0; start < indices.length; start += batchSize) {
    const batch = indices.slice(start, start + batchSize);
    const x = batchTensor(dataset, batch, options.normalization);
    try {
      const probs = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
      const predicted = Array.from(argmaxRows(probs, probs.length / batch.length));
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
