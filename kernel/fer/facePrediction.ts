/**
 * One prediction per face, as both ways of predicting give it (face crops: predict.ts; faces found
 * in photos: faces/predict.ts): the result types, and the classification of decoded faces in
 * batches through the one model-input path (modelInput.ts). Below both, so neither imports the other.
 */
import type * as tf from "@tensorflow/tfjs";
import { EMOTIONS, type Emotion } from "./labels";
import { argmax, predictImages } from "./modelInput";
import type { InputSpec } from "./modelIO";

/** What is known of the face a prediction is about (absent when the image was taken as a crop). */
export interface PredictedFace {
  /** [x, y, w, h] in pixels of the upright image. */
  box: [number, number, number, number];
  score: number;
  /** 1-based, best detection first. */
  index: number;
  landmarks: [number, number][];
}

export interface FacePrediction {
  path: string;
  /** Probabilities in EMOTIONS order. */
  probabilities: Record<Emotion, number>;
  top: Emotion;
  confidence: number;
  /** The face this prediction is about, when it was found in a photo (`detect`); absent for face crops. */
  face?: PredictedFace;
}

export interface PredictionFailure {
  path: string;
  error: string;
}

/** A decoded face (HWC uint8 of the model's input size) and where it came from. */
export interface DecodedFace {
  file: string;
  pixels: Uint8Array;
  face?: PredictedFace;
}

/** Classifies decoded faces, `batchSize` at a time, normalised as the model card's input says. */
export async function classifyFaces(model: tf.LayersModel, input: InputSpec, items: readonly DecodedFace[], batchSize = 64): Promise<FacePrediction[]> {
  const rows = await predictImages(model, items.map((d) => d.pixels), input, input, batchSize);
  return items.map((d, b) => {
    const row = Array.from(rows[b].subarray(0, EMOTIONS.length));
    const best = argmax(row);
    return {
      path: d.file,
      probabilities: Object.fromEntries(EMOTIONS.map((e, k) => [e, row[k]])) as Record<Emotion, number>,
      top: EMOTIONS[best],
      confidence: row[best],
      ...(d.face ? { face: d.face } : {}),
    };
  });
}
