/**
 * A tiny, separable stand-in for face data: class k has a bright square in one of 7 places, plus
 * noise. Used where a test needs data that a model can learn in a few steps.
 */
import { Rng } from "../../kernel/fer/rng";
import type { TrainingData } from "../../kernel/fer/train";

export class SyntheticFaces implements TrainingData {
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  constructor(
    readonly size: number,
    readonly height = 16,
    readonly width = 16,
    readonly channels = 1,
    seed = 1,
  ) {
    const rng = new Rng(seed);
    const per = height * width * channels;
    this.images = new Uint8Array(size * per);
    this.labels = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const label = i % 7;
      this.labels[i] = label;
      const cy = Math.floor(((label % 3) + 0.5) * (height / 3));
      const cx = Math.floor((Math.floor(label / 3) + 0.5) * (width / 3));
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const inside = Math.abs(y - cy) <= 2 && Math.abs(x - cx) <= 2;
          const v = (inside ? 200 : 40) + rng.int(40);
          for (let c = 0; c < channels; c++) this.images[i * per + (y * width + x) * channels + c] = v;
        }
      }
    }
  }
  image(i: number): Uint8Array {
    const per = this.height * this.width * this.channels;
    return this.images.subarray(i * per, (i + 1) * per);
  }
  fingerprint(): string {
    return `synthetic-${this.size}-${this.height}x${this.width}x${this.channels}`;
  }
}
