/**
 * Prediction on photos: the faces are found, aligned and cropped (extract.ts) and each is
 * classified, giving one prediction per face with its box. `detect`:
 *   - "never":  every image is a face crop (decoded whole, as in training);
 *   - "always": faces are detected in every image; an image without a face is reported as such;
 *   - "auto":   images that are already face crops are decoded whole: small ones (no side over
 *               2.5× the model's input), and roughly square ones whose single detected face fills
 *               most of them (or where no face is found); faces are detected in the others.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import * as path from "node:path";
import { decodeImage, ImageDecodeError, type ImageSpec } from "../images";
import { classifyFaces, type DecodedFace, type FacePrediction, type PredictedFace, type PredictionFailure } from "../facePrediction";
import type { ModelCard } from "../modelIO";
import { type DetectedFace, loadFaceDetector } from "./detector";
import { drawFaces } from "./draw";
import { writeFileAtomic } from "../safeWrite";
import { extractFaces } from "./extract";
import { type Photo, readPhoto } from "./photo";

export type DetectMode = "auto" | "always" | "never";
export const DETECT_MODES: readonly DetectMode[] = ["auto", "always", "never"];

export interface PhotoPredictOptions {
  detect?: DetectMode;
  /** Smallest face side to look for (photo pixels), default 20. */
  minFace?: number;
  minScore?: number;
  /** Folder for each photo with the boxes and labels drawn (`<name>.annotated.jpg`). */
  annotate?: string;
}

/** What is known of the face a prediction is about (facePrediction.ts, below both ways of predicting). */
export type { PredictedFace } from "../facePrediction";

type Item = DecodedFace;

/** Why an image counts as a face crop under "auto" (undefined: detect faces in it). */
export function looksLikeCrop(photo: Pick<Photo, "width" | "height">, faces: DetectedFace[] | undefined, spec: ImageSpec): boolean {
  const { width: W, height: H } = photo;
  if (Math.max(W, H) <= 2.5 * Math.max(spec.height, spec.width)) return true;
  if (faces === undefined) return false;
  const square = Math.max(W, H) / Math.min(W, H) <= 1.3;
  if (!square) return false;
  if (faces.length === 0) return true;
  return faces.length === 1 && Math.max(faces[0].box[2], faces[0].box[3]) >= 0.55 * Math.min(W, H);
}

async function classify(model: tf.LayersModel, card: ModelCard, items: Item[]): Promise<FacePrediction[]> {
  return classifyFaces(model, card.input, items, 64);
}

/** Classifies the faces of photos (see the module comment). Unreadable photos are reported, not fatal. */
export async function predictPhotos(model: tf.LayersModel, card: ModelCard, files: string[], options: PhotoPredictOptions = {}): Promise<{ predictions: FacePrediction[]; failures: PredictionFailure[] }> {
  const mode = options.detect ?? "auto";
  const spec: ImageSpec = { height: card.input.height, width: card.input.width, channels: card.input.channels };
  const predictions: FacePrediction[] = [];
  const failures: PredictionFailure[] = [];
  const detector = mode === "never" ? undefined : await loadFaceDetector();
  const annotated = new Set<string>();
  if (options.annotate) await mkdir(options.annotate, { recursive: true });
  for (const file of files) {
    try {
      let items: Item[];
      let photo: Photo | undefined;
      if (!detector) {
        items = [{ file, pixels: await decodeImage(file, spec) }];
      } else {
        photo = await readPhoto(file);
        const small = mode === "auto" && looksLikeCrop(photo, undefined, spec);
        const faces = small ? undefined : await detector.detect(photo, { minFace: options.minFace, minScore: options.minScore });
        if (mode === "auto" && (small || looksLikeCrop(photo, faces, spec))) {
          items = [{ file, pixels: await decodeImage(photo.bytes, spec) }];
        } else if (!faces || faces.length === 0) {
          failures.push({ path: file, error: `no face found (looked for faces of at least ${options.minFace ?? 20} px)` });
          items = [];
        } else {
          const crops = await extractFaces(photo, { spec, faces });
          const round = (v: number) => Math.round(v * 10) / 10;
          items = crops.map((c, k) => ({ file, pixels: c.pixels, face: { box: c.box.map(round) as PredictedFace["box"], score: Math.round(c.score * 1000) / 1000, index: k + 1, landmarks: c.landmarks.map(([x, y]) => [round(x), round(y)] as [number, number]) } }));
        }
      }
      const predicted = await classify(model, card, items);
      predictions.push(...predicted);
      if (options.annotate && predicted.length > 0) {
        photo ??= await readPhoto(file);
        const whole = photo;
        const drawn = predicted.map((p) => {
          const face = p.face;
          return { box: face?.box ?? ([0, 0, whole.width, whole.height] as [number, number, number, number]), landmarks: face?.landmarks, label: `${p.top} ${(100 * p.confidence).toFixed(0)}%` };
        });
        const jpeg = await drawFaces(whole, drawn, { format: "jpeg" });
        const stem = path.basename(file).replace(/\.[^.]+$/, "");
        let name = `${stem}.annotated.jpg`;
        for (let n = 2; annotated.has(name); n++) name = `${stem}-${n}.annotated.jpg`;
        annotated.add(name);
        const target = path.join(options.annotate, name);
        await writeFileAtomic(target, jpeg, options.annotate, { what: "annotated photo" });
      }
    } catch (e) {
      failures.push({ path: file, error: e instanceof ImageDecodeError ? e.message : String((e as Error).message ?? e) });
    }
  }
  return { predictions, failures };
}

/** True when `dir` may receive annotated photos: not inside one of the input folders. */
export function annotateFolderProblem(dir: string, inputs: string[]): string | undefined {
  const abs = path.resolve(dir);
  for (const input of inputs) {
    const inp = path.resolve(input);
    if (existsSync(inp) && (abs === inp || abs.startsWith(inp + path.sep))) return `--annotate ${dir} is inside the input folder ${input}; choose a folder outside it (the input is never modified).`;
  }
  if (existsSync(abs) && !statSync(abs).isDirectory()) return `--annotate ${dir} is a file; give a folder.`;
  return undefined;
}
