/**
 * Synthetic photos for the face tests: sample faces (notebooks/data/sample, FER2013 48×48
 * grayscale) pasted at known places, sizes and rotations onto larger textured backgrounds.
 *
 * BlazeFace does not find every FER2013 crop: they are tight, blurry 48×48 grayscale faces, cut at
 * the chin and forehead (on 60 val faces, upscaled and pasted on grey: 37/60 found at 48 px, 52/60
 * at 160 px, at the default 0.75 score). The tests use the 12 val faces it found best over sizes
 * 40 and 120 px and rotations of -30°, 0° and 30° (chosen once by a script, listed here), so a
 * missed face in a test means the detector or the pipeline got worse, not that FER2013 is hard.
 */
import sharp from "sharp";
import { Rng } from "../../kernel/fer/rng";
import type { Box } from "../../kernel/fer/faces/nms";

export const FACE_FILES = [
  "notebooks/data/sample/val/happy/PublicTest_11211241.png",
  "notebooks/data/sample/val/angry/PublicTest_13953782.png",
  "notebooks/data/sample/val/neutral/PublicTest_10262886.png",
  "notebooks/data/sample/val/happy/PublicTest_10886374.png",
  "notebooks/data/sample/val/angry/PublicTest_12871755.png",
  "notebooks/data/sample/val/angry/PublicTest_11832974.png",
  "notebooks/data/sample/val/happy/PublicTest_10303060.png",
  "notebooks/data/sample/val/neutral/PublicTest_10594126.png",
  "notebooks/data/sample/val/neutral/PublicTest_11291773.png",
  "notebooks/data/sample/val/happy/PublicTest_10130075.png",
  "notebooks/data/sample/val/disgust/PublicTest_16053137.png",
  "notebooks/data/sample/val/disgust/PublicTest_1145545.png",
];

export interface Placement {
  face: number;
  /** Top-left corner and side of the pasted square (before rotation), in photo pixels. */
  x: number;
  y: number;
  size: number;
  /** Clockwise degrees (sharp's rotate). */
  rotate?: number;
}

/** Smooth colour blobs with a little noise (not a flat colour: textures are where false faces come from). */
export async function background(width: number, height: number, seed: number, kind: "blobs" | "noise" | "stripes" | "gradient" = "blobs"): Promise<Buffer> {
  const rng = new Rng(seed);
  if (kind === "blobs") {
    const gw = Math.max(2, Math.round(width / 80));
    const gh = Math.max(2, Math.round(height / 80));
    const small = Buffer.alloc(gw * gh * 3);
    for (let i = 0; i < small.length; i++) small[i] = 40 + Math.floor(rng.next() * 180);
    const big = await sharp(small, { raw: { width: gw, height: gh, channels: 3 } }).resize(width, height, { kernel: "cubic", fit: "fill" }).raw().toBuffer();
    for (let i = 0; i < big.length; i++) big[i] = Math.max(0, Math.min(255, big[i] + Math.round((rng.next() - 0.5) * 16)));
    return big;
  }
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) {
        const v = kind === "noise" ? rng.next() * 255 : kind === "stripes" ? (Math.floor((x + y * 0.3) / 12) % 2 ? 200 : 60) + k * 10 : (x / width) * 200 + (y / height) * 40 + k * 5;
        out[o + k] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return out;
}

/** A photo (raw RGB) with the faces pasted, and their true boxes (the pasted squares). */
export async function syntheticPhoto(width: number, height: number, placements: Placement[], seed = 1, kind: Parameters<typeof background>[3] = "blobs"): Promise<{ rgb: Buffer; width: number; height: number; truth: Box[]; png: Buffer }> {
  const layers: sharp.OverlayOptions[] = [];
  for (const p of placements) {
    const face = sharp(FACE_FILES[p.face]).toColourspace("srgb").resize(p.size, p.size, { kernel: "lanczos3" }).ensureAlpha();
    if (p.rotate) {
      const rotated = await face.rotate(p.rotate, { background: { r: 0, g: 0, b: 0, alpha: 0 } }).png().toBuffer({ resolveWithObject: true });
      layers.push({ input: rotated.data, left: Math.round(p.x + p.size / 2 - rotated.info.width / 2), top: Math.round(p.y + p.size / 2 - rotated.info.height / 2) });
      continue;
    }
    layers.push({ input: await face.png().toBuffer(), left: p.x, top: p.y });
  }
  const bg = await background(width, height, seed, kind);
  const composed = sharp(bg, { raw: { width, height, channels: 3 } }).composite(layers);
  const png = await composed.png().toBuffer();
  const rgb = await sharp(png).removeAlpha().raw().toBuffer();
  return { rgb, width, height, truth: placements.map((p) => [p.x, p.y, p.size, p.size] as Box), png };
}

/**
 * Matches detections to true boxes: a detection finds a face when its centre lies within 30% of the
 * face's side from the true centre and its side is 40%..150% of it (FER crops are tight, so the
 * detector's box is a little smaller than the pasted square). Each detection counts once.
 */
export function match(detected: Box[], truth: Box[]): { found: number[]; missed: number[]; falseDetections: Box[] } {
  const used = new Set<number>();
  const found: number[] = [];
  const missed: number[] = [];
  truth.forEach((t, i) => {
    const tc = [t[0] + t[2] / 2, t[1] + t[3] / 2];
    let best = -1;
    let bestDist = Infinity;
    detected.forEach((d, j) => {
      if (used.has(j)) return;
      const dc = [d[0] + d[2] / 2, d[1] + d[3] / 2];
      const dist = Math.hypot(dc[0] - tc[0], dc[1] - tc[1]);
      const side = Math.max(d[2], d[3]);
      if (dist <= 0.3 * t[2] && side >= 0.4 * t[2] && side <= 1.5 * t[2] && dist < bestDist) {
        best = j;
        bestDist = dist;
      }
    });
    if (best >= 0) {
      used.add(best);
      found.push(i);
    } else missed.push(i);
  });
  return { found, missed, falseDetections: detected.filter((_, j) => !used.has(j)) };
}

/** The 8 EXIF orientations: stores `png` so that a viewer applying `orientation` shows it upright. */
export async function withOrientation(png: Buffer, orientation: number): Promise<Buffer> {
  // Find the stored pixels by trying the 8 flips/rotations and keeping the one that auto-orients back.
  const upright = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const candidates: ((s: sharp.Sharp) => sharp.Sharp)[] = [
    (s) => s,
    (s) => s.flop(),
    (s) => s.rotate(180),
    (s) => s.flip(),
    (s) => s.rotate(90).flop(),
    (s) => s.rotate(270),
    (s) => s.rotate(270).flop(),
    (s) => s.rotate(90),
  ];
  for (const c of candidates) {
    const bytes = await sharp(await c(sharp(png)).png().toBuffer()).jpeg({ quality: 95 }).withMetadata({ orientation }).toBuffer();
    const back = await sharp(bytes).autoOrient().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (back.info.width !== upright.info.width || back.info.height !== upright.info.height) continue;
    let diff = 0;
    for (let i = 0; i < back.data.length; i += 97) diff += Math.abs(back.data[i] - upright.data[i]);
    if (diff / (back.data.length / 97) < 12) return bytes;
  }
  throw new Error(`no stored form auto-orients back for EXIF orientation ${orientation}`);
}
