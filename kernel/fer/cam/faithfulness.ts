/**
 * How faithful a class-activation map is: the drop in the class's confidence when the 20% of
 * pixels the map ranks highest are blanked, against the drop when a random 20% are blanked. A map
 * that points at what the model uses gives a much larger drop than random.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../rng";

export interface Faithfulness {
  camDrop: number;
  randomDrop: number;
}

/**
 * `x` is one normalised image [1,h,w,c]; `cam` its map at input resolution (h*w values); blanked
 * pixels are set to 0 (the data set mean after normalisation).
 */
export function faithfulness(model: tf.LayersModel, x: tf.Tensor4D, cam: Float32Array, target: number, fraction = 0.2, seed = 7): Faithfulness {
  const [, h, w, c] = x.shape;
  const count = Math.round(h * w * fraction);
  const order = Array.from({ length: h * w }, (_, i) => i).sort((a, b) => cam[b] - cam[a]);
  const random = new Rng(seed).shuffle(Array.from({ length: h * w }, (_, i) => i));
  const masked = (indices: number[]) => {
    const keep = new Float32Array(h * w).fill(1);
    for (let i = 0; i < count; i++) keep[indices[i]] = 0;
    return keep;
  };
  return tf.tidy(() => {
    const masks = tf.tensor4d([...masked(order), ...masked(random)], [2, h, w, 1]).tile([1, 1, 1, c]);
    const batch = tf.concat([x, x.tile([2, 1, 1, 1]).mul(masks)]) as tf.Tensor4D;
    const p = (model.predict(batch) as tf.Tensor).dataSync();
    const k = p.length / 3;
    return { camDrop: p[target] - p[k + target], randomDrop: p[target] - p[2 * k + target] };
  });
}
