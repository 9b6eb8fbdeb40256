/**
 * Non-maximum suppression for face detections found at several scales and in overlapping tiles.
 *
 * Boxes are [x, y, w, h] in photo pixels. Overlapping detections of the same face are merged the
 * way MediaPipe's BlazeFace does ("weighted" NMS): the best-scoring detection of a cluster keeps its
 * score, and its box and landmarks become the score-weighted mean of the cluster, which is steadier
 * than keeping one detection when the same face is seen at several scales.
 */

export type Box = [x: number, y: number, w: number, h: number];

export interface RawDetection {
  box: Box;
  score: number;
  /** Landmarks [x, y] in photo pixels (BlazeFace: right eye, left eye, nose, mouth, right ear, left ear). */
  landmarks: [number, number][];
  /** How far inside its tile the detection was (0 = touching a tile edge); ties favour inner ones. */
  edgeMargin?: number;
}

/** The area two boxes share (0 when they do not overlap). */
function intersection(a: Box, b: Box): number {
  const x1 = Math.max(a[0], b[0]);
  const y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y2 = Math.min(a[1] + a[3], b[1] + b[3]);
  return Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
}

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const inter = intersection(a, b);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/** Intersection over the smaller box's area (catches a small box inside a big one). */
export function overlapOfSmaller(a: Box, b: Box): number {
  const inter = intersection(a, b);
  const smaller = Math.min(a[2] * a[3], b[2] * b[3]);
  return smaller > 0 ? inter / smaller : 0;
}

/**
 * Weighted non-maximum suppression: clusters detections whose IoU with the cluster's best one is at
 * least `iouThreshold` (or whose smaller box lies mostly inside it, `containThreshold`), and returns
 * one merged detection per cluster, best first.
 */
export function weightedNms(detections: RawDetection[], iouThreshold = 0.3, containThreshold = 0.7): RawDetection[] {
  const left = [...detections].sort((a, b) => b.score - a.score);
  const out: RawDetection[] = [];
  while (left.length > 0) {
    const best = left[0];
    const cluster: RawDetection[] = [];
    const rest: RawDetection[] = [];
    for (const d of left) {
      if (iou(best.box, d.box) >= iouThreshold || overlapOfSmaller(best.box, d.box) >= containThreshold) cluster.push(d);
      else rest.push(d);
    }
    // Detections cut by a tile edge are less trustworthy than inner ones of the same face.
    const inner = cluster.filter((d) => (d.edgeMargin ?? 1) > 0);
    const use = inner.length > 0 ? inner : cluster;
    let total = 0;
    const box: Box = [0, 0, 0, 0];
    const landmarks = best.landmarks.map(() => [0, 0] as [number, number]);
    for (const d of use) {
      const w = d.score;
      total += w;
      for (let k = 0; k < 4; k++) box[k] += w * d.box[k];
      d.landmarks.forEach((p, k) => {
        if (landmarks[k]) {
          landmarks[k][0] += w * p[0];
          landmarks[k][1] += w * p[1];
        }
      });
    }
    out.push({
      box: box.map((v) => v / total) as Box,
      score: best.score,
      landmarks: landmarks.map(([x, y]) => [x / total, y / total] as [number, number]),
    });
    left.length = 0;
    left.push(...rest);
  }
  return out;
}
