/**
 * Face alignment: the photo is rotated around the midpoint of the two eyes until they are level,
 * and a square around the face (the detector's box with a margin) is cut out at the photo's own
 * resolution. Resizing to the model's input is left to the training decoder (extract.ts), so a
 * crop is prepared exactly as every training image is.
 */
import type { DetectedFace } from "./detector";
import type { Photo } from "./photo";

export interface AlignOptions {
  /** Extra room around the detector's box, as a fraction of the box side on each side. Default 0.15. */
  margin?: number;
  /** Level the eyes (default true); false cuts an upright square. */
  levelEyes?: boolean;
  /** Largest side (pixels) of the aligned crop before the final resize. Default 512. */
  maxSide?: number;
}

export const DEFAULT_MARGIN = 0.15;

export interface AlignedCrop {
  /** Square RGB crop, `side × side × 3`, HWC uint8. */
  rgb: Uint8Array;
  side: number;
  /** Centre of the square in photo pixels. */
  center: [number, number];
  /** Side of the square in photo pixels. */
  sourceSide: number;
  /** Rotation applied (degrees): the eyes' tilt in the photo, counter-clockwise positive. */
  angle: number;
}

/** The tilt (degrees) of the line from the right eye to the left eye; 0 when they are level. */
export function eyeAngle(face: Pick<DetectedFace, "landmarks">): number {
  const [[rx, ry], [lx, ly]] = face.landmarks;
  return (Math.atan2(ly - ry, lx - rx) * 180) / Math.PI;
}

/**
 * The aligned square crop of one face. Pixels outside the photo repeat its edge (no black
 * borders for faces at the edge of a photo).
 */
export function alignFace(photo: Photo, face: DetectedFace, options: AlignOptions = {}): AlignedCrop {
  const margin = options.margin ?? DEFAULT_MARGIN;
  if (!(margin >= 0 && margin <= 2)) throw new RangeError(`margin must be between 0 and 2, got ${margin}`);
  const levelEyes = options.levelEyes ?? true;
  const maxSide = options.maxSide ?? 512;
  const [bx, by, bw, bh] = face.box;
  const angle = levelEyes && face.landmarks.length >= 2 ? eyeAngle(face) : 0;
  const theta = (angle * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const sourceSide = Math.max(bw, bh) * (1 + 2 * margin);
  // The square is centred on the box centre c and turned by the eyes' tilt: rotating the photo by
  // -angle around the eye midpoint e maps c to c' and the crop is axis-aligned around c' there, so
  // an output offset d from the centre comes from the photo point c + R(angle)·d.
  const cx = bx + bw / 2;
  const cy = by + bh / 2;
  const side = Math.max(1, Math.min(maxSide, Math.round(sourceSide)));
  const step = sourceSide / side;
  const { width: W, height: H, rgb } = photo;
  const out = new Uint8Array(side * side * 3);
  for (let v = 0; v < side; v++) {
    const dy = -sourceSide / 2 + (v + 0.5) * step;
    for (let u = 0; u < side; u++) {
      const dx = -sourceSide / 2 + (u + 0.5) * step;
      // Pixel centres: photo pixel (i, j) covers [i, i+1), its centre is i + 0.5.
      const px = cx + dx * cos - dy * sin - 0.5;
      const py = cy + dx * sin + dy * cos - 0.5;
      sampleBilinear(rgb, W, H, px, py, out, (v * side + u) * 3);
    }
  }
  return { rgb: out, side, center: [cx, cy], sourceSide, angle };
}

function sampleBilinear(img: Uint8Array, W: number, H: number, x: number, y: number, out: Uint8Array, o: number): void {
  const xc = Math.min(W - 1, Math.max(0, x));
  const yc = Math.min(H - 1, Math.max(0, y));
  const x0 = Math.floor(xc);
  const y0 = Math.floor(yc);
  const x1 = Math.min(W - 1, x0 + 1);
  const y1 = Math.min(H - 1, y0 + 1);
  const fx = xc - x0;
  const fy = yc - y0;
  const i00 = (y0 * W + x0) * 3;
  const i01 = (y0 * W + x1) * 3;
  const i10 = (y1 * W + x0) * 3;
  const i11 = (y1 * W + x1) * 3;
  for (let k = 0; k < 3; k++) {
    const top = img[i00 + k] + (img[i01 + k] - img[i00 + k]) * fx;
    const bottom = img[i10 + k] + (img[i11 + k] - img[i10 + k]) * fx;
    out[o + k] = Math.round(top + (bottom - top) * fy);
  }
}
