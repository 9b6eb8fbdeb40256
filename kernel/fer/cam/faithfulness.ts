/**
 * How faithful a class-activation map is: the drop in the class's confidence when the 20% of
 * pixels the map ranks highest are blanked, against two baselines of as many pixels:
 *
 * - `randomDrop`: 20% of the pixels scattered at random (salt-and-pepper holes all over the face);
 * - `shiftedDrop`: the same map moved to random places (a circular shift of its top 20% region,
 *   averaged over a few shifts): the same shape and size, somewhere else on the face.
 *
 * A map that points at what the model uses lowers the confidence more than the same map moved
 * elsewhere. Scattered holes disturb every part of a face at once, so on a model trained on whole
 * faces they often cost more than blanking any one region: compare a map with `shiftedDrop` to
 * judge its place, and with `randomDrop` for how much one region matters against noise everywhere.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../rng";

export interface Faithfulness {
  /** Drop in the class's probability when the map's top `fraction` of pixels are blanked. */
  camDrop: number;
  /** Drop when as many pixels, scattered at random, are blanked. */
  randomDrop: number;
  /** Drop when the map's top region, moved to random places (same shape and size), is blanked. */
  shiftedDrop?: number;
  /** The share of pixels blanked (0.2). */
  fraction?: number;
}

/** Random circular shifts tried for `shiftedDrop`. */
const SHIFTS = 3;

/**
 * `x` is one normalised image [1,h,w,c]; `cam` its map at input resolution (h*w values); blanked
 * pixels are set to 0 (the data set mean after normalisation).
 */
export function faithfulness(model: tf.LayersModel, x: tf.Tensor4D, cam: Float32Array, target: number, fraction = 0.2, seed = 7): Faithfulness {
  const [, h, w, c] = x.shape;
  const count = Math.round(h * w * fraction);
  const order = Array.from({ length: h * w }, (_, i) => i).sort((a, b) => cam[b] - cam[a]);
  const rng = new Rng(seed);
  const random = rng.shuffle(Array.from({ length: h * w }, (_, i) => i));
  const masked = (indices: number[]) => {
    const keep = new Float32Array(h * w).fill(1);
    for (let i = 0; i < count; i++) keep[indices[i]] = 0;
    return keep;
  };
  const camMask = masked(order);
  // The map's blanked region moved by (dy, dx) with wrap-around; shifts of at least a quarter of
  // the face in some direction, so the moved region is mostly elsewhere.
  const shifted: Float32Array[] = [];
  for (let s = 0; s < SHIFTS; s++) {
    let dy = 0;
    let dx = 0;
    while (Math.min(dy, h - dy) < h / 4 && Math.min(dx, w - dx) < w / 4) {
      dy = Math.floor(rng.next() * h);
      dx = Math.floor(rng.next() * w);
    }
    const keep = new Float32Array(h * w).fill(1);
    for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) if (camMask[y * w + xx] === 0) keep[((y + dy) % h) * w + ((xx + dx) % w)] = 0;
    shifted.push(keep);
  }
  return tf.tidy(() => {
    const masks = tf.tensor4d([...camMask, ...masked(random), ...shifted.flatMap((m) => [...m])], [2 + SHIFTS, h, w, 1]).tile([1, 1, 1, c]);
    const batch = tf.concat([x, x.tile([2 + SHIFTS, 1, 1, 1]).mul(masks)]) as tf.Tensor4D;
    const p = (model.predict(batch) as tf.Tensor).dataSync();
    const k = p.length / (3 + SHIFTS);
    let shiftedSum = 0;
    for (let s = 0; s < SHIFTS; s++) shiftedSum += p[target] - p[(3 + s) * k + target];
    return { camDrop: p[target] - p[k + target], randomDrop: p[target] - p[2 * k + target], shiftedDrop: shiftedSum / SHIFTS, fraction };
  });
}
