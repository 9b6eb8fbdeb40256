import { test } from "node:test";
import assert from "node:assert/strict";
import { AUGMENT_PRESETS, createAugmenter, resolveAugmentOptions } from "../../kernel/fer/augment";
import { Rng } from "../../kernel/fer/rng";

const H = 48;
const W = 48;

function gradient(h: number, w: number, c: number): Uint8Array {
  const img = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) img[(y * w + x) * c + k] = (x * 5 + y * 2 + k * 40) & 255;
  return img;
}

test("same seed gives identical output, different seeds different output", () => {
  const aug = createAugmenter(AUGMENT_PRESETS.standard);
  const img = gradient(H, W, 1);
  const run = (seed: number) => {
    const rng = new Rng(seed);
    return [0, 1, 2, 3, 4].map(() => aug.apply(img, H, W, 1, rng));
  };
  assert.deepEqual(run(7), run(7));
  const a = run(7);
  const b = run(8);
  assert.ok(a.some((x, i) => !x.every((v, j) => v === b[i][j])), "different seeds should differ");
  // Successive images from one stream differ too.
  assert.ok(!a[0].every((v, j) => v === a[1][j]));
});

test("rng state save/restore resumes exactly; applyBatch equals apply in sequence", () => {
  const aug = createAugmenter(AUGMENT_PRESETS.standard);
  const images = new Uint8Array(4 * H * W);
  for (let i = 0; i < 4; i++) images.set(gradient(H, W, 1).map((v) => (v + i * 31) & 255), i * H * W);
  const rng = new Rng(3);
  aug.apply(images.subarray(0, H * W), H, W, 1, rng);
  const state = rng.getState();
  const first = aug.applyBatch(images, [3, 1, 1, 0], H, W, 1, rng);
  rng.setState(state);
  assert.deepEqual(aug.applyBatch(images, [3, 1, 1, 0], H, W, 1, rng), first);
  rng.setState(state);
  const px = H * W;
  for (const [b, i] of [3, 1, 1, 0].entries()) {
    assert.deepEqual(aug.apply(images.subarray(i * px, (i + 1) * px), H, W, 1, rng), first.subarray(b * px, (b + 1) * px));
  }
  assert.throws(() => aug.applyBatch(images, [4], H, W, 1, rng), RangeError);
});

test("disabled augmentation is the identity (scaled to [0, 1]) and draws nothing", () => {
  const img = gradient(H, W, 3);
  for (const aug of [createAugmenter(false), createAugmenter(AUGMENT_PRESETS.none), createAugmenter({ flip: false, rotate: 0, erase: { p: 0 } })]) {
    assert.equal(aug.enabled, false);
    const rng = new Rng(1);
    const before = rng.getState();
    const out = aug.apply(img, H, W, 3, rng);
    assert.deepEqual(rng.getState(), before);
    assert.deepEqual(out, Float32Array.from(img, (v) => v / 255));
    const asFloat = Float32Array.from(img, (v) => v / 255);
    assert.deepEqual(aug.apply(asFloat, H, W, 3, rng), asFloat, "float input in [0,1] passes through");
  }
});

test("horizontal flip mirrors columns exactly (1 and 3 channels)", () => {
  const aug = createAugmenter({ flip: { p: 1 } });
  for (const c of [1, 3]) {
    const h = 3;
    const w = 5;
    const img = new Uint8Array(h * w * c).map((_, i) => i * 3);
    const out = aug.apply(img, h, w, c, new Rng(1));
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
      assert.equal(out[(y * w + x) * c + k], Math.fround(img[(y * w + (w - 1 - x)) * c + k] / 255), `(${y},${x},${k})`);
    }
  }
  // p = 0.5 flips about half the time.
  const half = createAugmenter({ flip: true });
  const img = gradient(4, 4, 1);
  const rng = new Rng(5);
  let flipped = 0;
  for (let i = 0; i < 400; i++) if (half.apply(img, 4, 4, 1, rng)[0] !== Math.fround(img[0] / 255)) flipped++;
  assert.ok(flipped > 150 && flipped < 250, `flipped ${flipped}/400`);
});

test("translation is a whole-pixel shift within the limit, edges replicated", () => {
  const aug = createAugmenter({ translate: 0.1 });
  const img = gradient(H, W, 1);
  const rng = new Rng(11);
  const seen = new Set<string>();
  for (let n = 0; n < 20; n++) {
    const out = aug.apply(img, H, W, 1, rng);
    let found: string | undefined;
    for (let ty = -5; ty <= 5 && !found; ty++) {
      for (let tx = -5; tx <= 5 && !found; tx++) {
        let ok = true;
        for (let y = 0; y < H && ok; y++) for (let x = 0; x < W && ok; x++) {
          const sy = Math.min(H - 1, Math.max(0, y - ty));
          const sx = Math.min(W - 1, Math.max(0, x - tx));
          ok = out[y * W + x] === Math.fround(img[sy * W + sx] / 255);
        }
        if (ok) found = `${tx},${ty}`;
      }
    }
    assert.ok(found, "output must be the input shifted by at most 5 pixels (0.1 x 48)");
    seen.add(found);
  }
  assert.ok(seen.size > 5, "shifts should vary");
});

test("rotation and zoom keep a constant image constant and stay in range", () => {
  const aug = createAugmenter({ rotate: 30, scale: 0.2, translate: 0.1 });
  const rng = new Rng(2);
  const flat = new Uint8Array(H * W).fill(100);
  for (let i = 0; i < 10; i++) {
    const out = aug.apply(flat, H, W, 1, rng);
    for (const v of out) assert.ok(Math.abs(v - 100 / 255) < 1e-6);
  }
  // With constant fill, a rotated image gets fill-coloured corners.
  const filled = createAugmenter({ rotate: { p: 1, max: 45 }, fill: "constant", fillValue: 1 });
  const ones = new Uint8Array(H * W).fill(0);
  let cornersFilled = 0;
  for (let i = 0; i < 20; i++) if (filled.apply(ones, H, W, 1, rng)[0] > 0.5) cornersFilled++;
  assert.ok(cornersFilled > 10, `corner filled ${cornersFilled}/20`);
  // Rotation moves pixels, so a gradient changes.
  const g = gradient(H, W, 1);
  const rotated = createAugmenter({ rotate: { p: 1, max: 20 } }).apply(g, H, W, 1, new Rng(4));
  assert.ok(rotated.some((v, i) => Math.abs(v - g[i] / 255) > 0.01));
  assert.ok(rotated.every((v) => v >= 0 && v <= 1));
});

test("brightness and contrast: bounded, clamped, contrast keeps the mean", () => {
  const rng = new Rng(9);
  const bright = createAugmenter({ brightness: 0.2 });
  const mid = new Uint8Array(H * W).fill(128);
  const values = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const out = bright.apply(mid, H, W, 1, rng);
    assert.ok(out.every((v) => v === out[0]), "uniform shift");
    assert.ok(Math.abs(out[0] - 128 / 255) <= 0.2 + 1e-6);
    values.add(out[0]);
  }
  assert.ok(values.size > 40);
  const contrast = createAugmenter({ contrast: 0.5 });
  const img = new Uint8Array(H * W).map((_, i) => 64 + (i % 128)); // 0.25..0.75: no clamping at gain ≤ 1.5
  const mean = img.reduce((a, b) => a + b, 0) / img.length / 255;
  for (let i = 0; i < 10; i++) {
    const out = contrast.apply(img, H, W, 1, rng);
    const m = out.reduce((a, b) => a + b, 0) / out.length;
    assert.ok(Math.abs(m - mean) < 1e-4, `mean ${m} vs ${mean}`);
  }
  const extreme = createAugmenter({ brightness: 1, contrast: 1 });
  for (let i = 0; i < 20; i++) assert.ok(extreme.apply(gradient(H, W, 1), H, W, 1, rng).every((v) => v >= 0 && v <= 1));
});

test("random erasing fills one rectangle inside the image with the requested area", () => {
  const aug = createAugmenter({ erase: { p: 1, area: [0.05, 0.2], ratio: [0.5, 2], value: 0 } });
  const img = new Uint8Array(H * W).fill(255);
  const rng = new Rng(21);
  for (let n = 0; n < 200; n++) {
    const out = aug.apply(img, H, W, 1, rng);
    let x0 = W, x1 = -1, y0 = H, y1 = -1, count = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      if (out[y * W + x] === 0) {
        count++;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      } else assert.equal(out[y * W + x], 1);
    }
    assert.ok(count > 0);
    assert.equal(count, (x1 - x0 + 1) * (y1 - y0 + 1), "erased pixels form a full rectangle");
    assert.ok(x0 >= 0 && y0 >= 0 && x1 < W && y1 < H);
    const area = count / (H * W);
    assert.ok(area > 0.03 && area < 0.24, `area ${area}`);
  }
  // "random" values are in [0, 1] and vary; p = 0 never erases.
  const noisy = createAugmenter({ erase: { p: 1 } }).apply(img, H, W, 1, rng);
  const changed = noisy.filter((v) => v !== 1);
  assert.ok(changed.length > 10 && changed.every((v) => v >= 0 && v < 1) && new Set(changed).size > 10);
  assert.equal(createAugmenter({ erase: { p: 0 } }).enabled, false);
});

test("standard preset: 3-channel images, output range, bad options and bad buffers", () => {
  const aug = createAugmenter(AUGMENT_PRESETS.standard);
  const rng = new Rng(1);
  for (let i = 0; i < 20; i++) {
    const out = aug.apply(gradient(32, 40, 3), 32, 40, 3, rng);
    assert.equal(out.length, 32 * 40 * 3);
    assert.ok(out.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)));
  }
  const resolved = resolveAugmentOptions(AUGMENT_PRESETS.standard);
  assert.deepEqual(resolved.flip, { p: 0.5 });
  assert.deepEqual(resolved.rotate, { p: 1, max: 10 });
  assert.equal(JSON.parse(JSON.stringify(resolved)).erase.p, 0.25, "resolved options are JSON for model cards");
  assert.throws(() => createAugmenter({ flip: { p: 2 } }), /flip\.p/);
  assert.throws(() => createAugmenter({ rotate: -1 }), /rotate/);
  assert.throws(() => createAugmenter({ erase: { area: [0.5, 0.1] } }), /erase\.area/);
  assert.throws(() => aug.apply(new Uint8Array(10), H, W, 1, rng), RangeError);
  const buf = new Float32Array(H * W * 2);
  assert.throws(() => aug.apply(buf.subarray(0, H * W), H, W, 1, rng, buf.subarray(10, 10 + H * W)), /overlap/);
  const out = new Float32Array(H * W);
  assert.equal(aug.apply(gradient(H, W, 1), H, W, 1, rng, out), out, "writes into the given buffer");
});

test("augmentation is fast enough for per-epoch use", () => {
  const aug = createAugmenter(AUGMENT_PRESETS.standard);
  const img = gradient(H, W, 1);
  const out = new Float32Array(H * W);
  const rng = new Rng(1);
  for (let i = 0; i < 200; i++) aug.apply(img, H, W, 1, rng, out);
  const n = 2000;
  const t = performance.now();
  for (let i = 0; i < n; i++) aug.apply(img, H, W, 1, rng, out);
  const perSecond = n / ((performance.now() - t) / 1000);
  assert.ok(perSecond > 2000, `${Math.round(perSecond)} images/s`); // ~30k/s measured; generous for slow CI
});
