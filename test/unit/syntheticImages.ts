/**
 * Synthetic grayscale pictures for unit tests that need many distinct images (duplicate search,
 * data splits): no two alike, and a near-copy of one is easy to make by hand.
 */
import { Rng } from "../../kernel/fer/rng";

/** A random smooth "face-like" size×size gray image: a sum of a few random low-frequency waves plus noise. */
export function randomImage(rng: Rng, size: number): Uint8Array {
  const waves = Array.from({ length: 14 }, () => ({ fy: rng.uniform(-6, 6), fx: rng.uniform(-6, 6), phase: rng.uniform(0, 6.28), amp: rng.uniform(8, 20) }));
  const img = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 128;
      for (const w of waves) v += w.amp * Math.sin((w.fy * Math.PI * y) / size + (w.fx * Math.PI * x) / size + w.phase);
      img[y * size + x] = Math.max(0, Math.min(255, Math.round(v + rng.uniform(-4, 4))));
    }
  }
  return img;
}
