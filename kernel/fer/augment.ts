/**
 * Seeded, reproducible data augmentation for HWC face images, in plain JavaScript.
 *
 * `createAugmenter(options).apply(image, h, w, c, rng, out?)` returns a Float32Array of h×w×c
 * values in [0, 1] (uint8 input is divided by 255; float input is taken to be in [0, 1] already).
 * Normalisation for the model (mean/std) is the model's business, not this module's.
 *
 * The operations, always in this order (each one is skipped when disabled):
 *   1. geometry, one affine map with bilinear sampling: horizontal flip, translation (whole
 *      pixels, like pad + random crop), rotation about the centre, zoom (scale);
 *      pixels that come from outside the image use `fill` ("edge" = nearest border pixel,
 *      "reflect", or "constant" = fillValue);
 *   2. brightness: + U(−max, max);
 *   3. contrast: (x − mean) · U(1 − max, 1 + max) + mean, mean over the image; then clamp to [0, 1];
 *   4. random erasing (cutout, Zhong et al. 2017): a rectangle of area U(area) × h·w and aspect
 *      ratio log-uniform in `ratio`, entirely inside the image, filled with uniform noise, the
 *      image mean, or a constant.
 *
 * Every random number comes from the `rng` passed in, in a fixed order, so the same seed gives
 * bit-identical output and a saved `rng.getState()` resumes exactly. With every operation disabled
 * (`createAugmenter(false)` or `AUGMENT_PRESETS.none`, used for evaluation) `apply` is a plain
 * conversion to [0, 1] and draws nothing from `rng`.
 */
import type { Rng } from "./rng";

export type Op<Extra = object> = boolean | ({ p?: number } & Extra);
export type MagnitudeOp = boolean | number | { p?: number; max?: number };

export interface AugmentOptions {
  /** Mirror left↔right. `true` = p 0.5. */
  flip?: Op;
  /** Translate by up to ±max of the width/height (a number = max), whole pixels. Default max 0.1, p 1. */
  translate?: MagnitudeOp;
  /** Rotate by up to ±max degrees (a number = max). Default max 10, p 1. */
  rotate?: MagnitudeOp;
  /** Zoom by a factor in [1 − max, 1 + max] (a number = max). Default max 0.1, p 1. */
  scale?: MagnitudeOp;
  /** Add up to ±max (in [0, 1] units). Default max 0.2, p 1. */
  brightness?: MagnitudeOp;
  /** Multiply the deviation from the mean by [1 − max, 1 + max]. Default max 0.2, p 1. */
  contrast?: MagnitudeOp;
  /** Random erasing. Defaults: p 0.5, area [0.02, 0.2] of the image, ratio [0.3, 3.3], value "random". */
  erase?: Op<{ area?: [number, number]; ratio?: [number, number]; value?: "random" | "mean" | number }>;
  /** Where geometry samples outside the image. Default "edge". */
  fill?: "edge" | "reflect" | "constant";
  /** The value (0..1) for fill "constant". Default 0. */
  fillValue?: number;
}

/** Options with every default filled in; what a model card should record. */
export interface ResolvedAugmentOptions {
  flip: { p: number } | false;
  translate: { p: number; max: number } | false;
  rotate: { p: number; max: number } | false;
  scale: { p: number; max: number } | false;
  brightness: { p: number; max: number } | false;
  contrast: { p: number; max: number } | false;
  erase: { p: number; area: [number, number]; ratio: [number, number]; value: "random" | "mean" | number } | false;
  fill: "edge" | "reflect" | "constant";
  fillValue: number;
}

export const AUGMENT_PRESETS = {
  /** No augmentation (evaluation, prediction). */
  none: {} as AugmentOptions,
  /** Mild: flips and small shifts. */
  light: { flip: true, translate: 0.08 } as AugmentOptions,
  /** A common FER training recipe. */
  standard: {
    flip: true,
    translate: 0.1,
    rotate: 10,
    scale: 0.1,
    brightness: 0.2,
    contrast: 0.2,
    erase: { p: 0.25 },
  } as AugmentOptions,
} as const;

export interface Augmenter {
  /** The options with defaults filled in. */
  readonly options: ResolvedAugmentOptions;
  /** False when every operation is disabled (apply only converts to [0, 1]). */
  readonly enabled: boolean;
  /** Augments one HWC image into `out` (allocated if omitted; must not alias `image`) and returns it. */
  apply(image: Uint8Array | Float32Array, h: number, w: number, c: number, rng: Rng, out?: Float32Array): Float32Array;
  /**
   * Augments images `indices` of a contiguous HWC buffer (e.g. `dataset.images`) into one batch
   * buffer of indices.length × h×w×c floats, in order.
   */
  applyBatch(images: Uint8Array | Float32Array, indices: ArrayLike<number>, h: number, w: number, c: number, rng: Rng, out?: Float32Array): Float32Array;
}

function checkP(name: string, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`augment ${name}.p must be in [0, 1], got ${p}`);
  return p;
}

function magnitude(name: string, op: MagnitudeOp | undefined, def: { p: number; max: number }, limit: number) {
  if (op === undefined || op === false) return false;
  const r = op === true ? { ...def } : typeof op === "number" ? { p: def.p, max: op } : { p: op.p ?? def.p, max: op.max ?? def.max };
  checkP(name, r.p);
  if (!(r.max >= 0 && r.max <= limit)) throw new RangeError(`augment ${name} max must be in [0, ${limit}], got ${r.max}`);
  return r.p > 0 && r.max > 0 ? r : false;
}

export function resolveAugmentOptions(options: AugmentOptions | false | undefined): ResolvedAugmentOptions {
  const o = options || {};
  let flip: ResolvedAugmentOptions["flip"] = false;
  if (o.flip) flip = { p: checkP("flip", o.flip === true ? 0.5 : (o.flip.p ?? 0.5)) };
  if (flip && flip.p === 0) flip = false;
  let erase: ResolvedAugmentOptions["erase"] = false;
  if (o.erase) {
    const e = o.erase === true ? {} : o.erase;
    const area = e.area ?? [0.02, 0.2];
    const ratio = e.ratio ?? [0.3, 3.3];
    const value = e.value ?? "random";
    if (!(area[0] > 0 && area[0] <= area[1] && area[1] <= 1)) throw new RangeError(`augment erase.area must satisfy 0 < min <= max <= 1, got [${area}]`);
    if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) throw new RangeError(`augment erase.ratio must satisfy 0 < min <= max, got [${ratio}]`);
    if (typeof value === "number" && !(value >= 0 && value <= 1)) throw new RangeError(`augment erase.value must be in [0, 1], "random" or "mean", got ${value}`);
    erase = { p: checkP("erase", e.p ?? 0.5), area: [area[0], area[1]], ratio: [ratio[0], ratio[1]], value };
    if (erase.p === 0) erase = false;
  }
  const fill = o.fill ?? "edge";
  if (!["edge", "reflect", "constant"].includes(fill)) throw new RangeError(`augment fill must be "edge", "reflect" or "constant", got ${fill}`);
  const fillValue = o.fillValue ?? 0;
  if (!(fillValue >= 0 && fillValue <= 1)) throw new RangeError(`augment fillValue must be in [0, 1], got ${fillValue}`);
  return {
    flip,
    translate: magnitude("translate", o.translate, { p: 1, max: 0.1 }, 0.5),
    rotate: magnitude("rotate", o.rotate, { p: 1, max: 10 }, 180),
    scale: magnitude("scale", o.scale, { p: 1, max: 0.1 }, 0.9),
    brightness: magnitude("brightness", o.brightness, { p: 1, max: 0.2 }, 1),
    contrast: magnitude("contrast", o.contrast, { p: 1, max: 0.2 }, 1),
    erase,
    fill,
    fillValue,
  };
}

/** Index of coordinate i in [0, n) under the fill mode, or −1 for "constant" outside. */
function wrap(i: number, n: number, fill: ResolvedAugmentOptions["fill"]): number {
  if (i >= 0 && i < n) return i;
  if (fill === "edge") return i < 0 ? 0 : n - 1;
  if (fill === "reflect") {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    let m = i % period;
    if (m < 0) m += period;
    return m < n ? m : period - m;
  }
  return -1;
}

export function createAugmenter(options: AugmentOptions | false = {}): Augmenter {
  const o = resolveAugmentOptions(options);
  const enabled = !!(o.flip || o.translate || o.rotate || o.scale || o.brightness || o.contrast || o.erase);
  const { fill, fillValue } = o;

  function apply(image: Uint8Array | Float32Array, h: number, w: number, c: number, rng: Rng, out?: Float32Array): Float32Array {
    const n = h * w * c;
    if (image.length !== n) throw new RangeError(`augment: image has ${image.length} values, expected ${h}x${w}x${c} = ${n}`);
    if (!out) out = new Float32Array(n);
    else if (out.length !== n) throw new RangeError(`augment: out has ${out.length} values, expected ${n}`);
    if (out.buffer === image.buffer && out.byteOffset < image.byteOffset + image.byteLength && image.byteOffset < out.byteOffset + out.byteLength) {
      throw new RangeError("augment: out must not overlap the input image");
    }
    const k = image instanceof Float32Array ? 1 : 1 / 255;

    // ---- draw every parameter first (fixed order) ----
    const flip = o.flip ? rng.chance(o.flip.p) : false;
    let tx = 0;
    let ty = 0;
    if (o.translate && rng.chance(o.translate.p)) {
      const mx = Math.round(o.translate.max * w);
      const my = Math.round(o.translate.max * h);
      tx = rng.int(2 * mx + 1) - mx;
      ty = rng.int(2 * my + 1) - my;
    }
    const angle = o.rotate && rng.chance(o.rotate.p) ? (rng.uniform(-o.rotate.max, o.rotate.max) * Math.PI) / 180 : 0;
    const zoom = o.scale && rng.chance(o.scale.p) ? rng.uniform(1 - o.scale.max, 1 + o.scale.max) : 1;
    const delta = o.brightness && rng.chance(o.brightness.p) ? rng.uniform(-o.brightness.max, o.brightness.max) : 0;
    const gain = o.contrast && rng.chance(o.contrast.p) ? rng.uniform(1 - o.contrast.max, 1 + o.contrast.max) : 1;
    let ex0 = 0;
    let ey0 = 0;
    let ew = 0;
    let eh = 0;
    if (o.erase && rng.chance(o.erase.p)) {
      const area = rng.uniform(o.erase.area[0], o.erase.area[1]) * h * w;
      const logR = rng.uniform(Math.log(o.erase.ratio[0]), Math.log(o.erase.ratio[1]));
      const ratio = Math.exp(logR); // width / height
      ew = Math.min(w, Math.max(1, Math.round(Math.sqrt(area * ratio))));
      eh = Math.min(h, Math.max(1, Math.round(Math.sqrt(area / ratio))));
      ex0 = rng.int(w - ew + 1);
      ey0 = rng.int(h - eh + 1);
    }

    // ---- 1. geometry ----
    if (angle === 0 && zoom === 1) {
      // Whole-pixel moves only: exact copy (flip and/or translation).
      if (!flip && tx === 0 && ty === 0) {
        for (let i = 0; i < n; i++) out[i] = image[i] * k;
      } else {
        for (let y = 0; y < h; y++) {
          const sy = wrap(y - ty, h, fill);
          for (let x = 0; x < w; x++) {
            const xs = x - tx;
            const sx = wrap(flip ? w - 1 - xs : xs, w, fill);
            const d = (y * w + x) * c;
            if (sx < 0 || sy < 0) {
              for (let ch = 0; ch < c; ch++) out[d + ch] = fillValue;
            } else {
              const s = (sy * w + sx) * c;
              for (let ch = 0; ch < c; ch++) out[d + ch] = image[s + ch] * k;
            }
          }
        }
      }
    } else {
      // Inverse map: source = R(−angle)·(dst − centre − t)/zoom + centre, then mirror x if flipped.
      const cx = (w - 1) / 2;
      const cy = (h - 1) / 2;
      const cos = Math.cos(angle) / zoom;
      const sin = Math.sin(angle) / zoom;
      for (let y = 0; y < h; y++) {
        const dy = y - cy - ty;
        for (let x = 0; x < w; x++) {
          const dx = x - cx - tx;
          let sx = cos * dx + sin * dy + cx;
          const sy = -sin * dx + cos * dy + cy;
          if (flip) sx = w - 1 - sx;
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const fx = sx - x0;
          const fy = sy - y0;
          const d = (y * w + x) * c;
          if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
            const i00 = (y0 * w + x0) * c;
            const i01 = i00 + c;
            const i10 = i00 + w * c;
            const i11 = i10 + c;
            for (let ch = 0; ch < c; ch++) {
              const top = image[i00 + ch] + (image[i01 + ch] - image[i00 + ch]) * fx;
              const bottom = image[i10 + ch] + (image[i11 + ch] - image[i10 + ch]) * fx;
              out[d + ch] = (top + (bottom - top) * fy) * k;
            }
          } else {
            const xa = wrap(x0, w, fill);
            const xb = wrap(x0 + 1, w, fill);
            const ya = wrap(y0, h, fill);
            const yb = wrap(y0 + 1, h, fill);
            for (let ch = 0; ch < c; ch++) {
              const v00 = xa < 0 || ya < 0 ? fillValue : image[(ya * w + xa) * c + ch] * k;
              const v01 = xb < 0 || ya < 0 ? fillValue : image[(ya * w + xb) * c + ch] * k;
              const v10 = xa < 0 || yb < 0 ? fillValue : image[(yb * w + xa) * c + ch] * k;
              const v11 = xb < 0 || yb < 0 ? fillValue : image[(yb * w + xb) * c + ch] * k;
              const top = v00 + (v01 - v00) * fx;
              const bottom = v10 + (v11 - v10) * fx;
              out[d + ch] = top + (bottom - top) * fy;
            }
          }
        }
      }
    }

    // ---- 2–3. brightness and contrast ----
    if (delta !== 0 || gain !== 1) {
      let mean = 0;
      if (gain !== 1) {
        for (let i = 0; i < n; i++) mean += out[i];
        mean /= n;
      }
      for (let i = 0; i < n; i++) {
        const v = (out[i] - mean) * gain + mean + delta;
        out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }

    // ---- 4. random erasing ----
    if (ew > 0 && o.erase) {
      const value = o.erase.value;
      let constant = typeof value === "number" ? value : 0;
      if (value === "mean") {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += out[i];
        constant = sum / n;
      }
      for (let y = ey0; y < ey0 + eh; y++) {
        for (let x = ex0; x < ex0 + ew; x++) {
          const d = (y * w + x) * c;
          for (let ch = 0; ch < c; ch++) out[d + ch] = value === "random" ? rng.next() : constant;
        }
      }
    }
    return out;
  }

  function applyBatch(images: Uint8Array | Float32Array, indices: ArrayLike<number>, h: number, w: number, c: number, rng: Rng, out?: Float32Array): Float32Array {
    const px = h * w * c;
    const count = images.length / px;
    if (!Number.isInteger(count)) throw new RangeError(`augment: images has ${images.length} values, not a multiple of ${h}x${w}x${c}`);
    const total = indices.length * px;
    if (!out) out = new Float32Array(total);
    else if (out.length < total) throw new RangeError(`augment: out has ${out.length} values, the batch needs ${total}`);
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b];
      if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`augment: index ${i} out of range 0..${count - 1}`);
      apply(images.subarray(i * px, (i + 1) * px), h, w, c, rng, out.subarray(b * px, (b + 1) * px));
    }
    return out;
  }

  return { options: o, enabled, apply, applyBatch };
}
