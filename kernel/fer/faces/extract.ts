/**
 * Face crops ready for a model: detect (detector.ts), align (align.ts), then resize and convert
 * with the very decoder training uses (`decodeBytes` in images.ts: grayscale or sRGB, cover/centre
 * Lanczos-3 resize). The aligned crop goes to the decoder as a lossless PNG, so a crop saved with
 * `png` and loaded later as a training image gives back exactly `pixels`.
 */
import sharp from "sharp";
import { decodeBytes, encodePng, type ImageSpec, validateSpec } from "../images";
import { type AlignOptions, alignFace, type AlignedCrop } from "./align";
import { type DetectedFace, type DetectOptions, DETECTOR_ID, loadFaceDetector } from "./detector";
import { type Photo, readPhoto } from "./photo";

export interface ExtractOptions extends DetectOptions, AlignOptions {
  /** Output size and channels (default 48×48 grayscale, FER2013's). */
  spec?: ImageSpec;
  /** Faces to crop; default: detected in the photo. */
  faces?: DetectedFace[];
}

export const DEFAULT_FACE_SPEC: ImageSpec = { height: 48, width: 48, channels: 1 };

export interface ExtractedFace extends DetectedFace {
  /** `spec.height × spec.width × spec.channels` HWC uint8, as training decodes the saved crop. */
  pixels: Uint8Array;
  spec: ImageSpec;
  /** The crop as PNG bytes (what `fernb faces` saves). */
  png: Uint8Array;
  /** How the crop was cut: centre and side in photo pixels, rotation in degrees. */
  crop: Pick<AlignedCrop, "center" | "sourceSide" | "angle">;
  detector: string;
}

/** Resizes an aligned crop to `spec` with the training decoder. */
export async function cropToSpec(crop: AlignedCrop, spec: ImageSpec): Promise<Uint8Array> {
  const png = await sharp(crop.rgb, { raw: { width: crop.side, height: crop.side, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  return decodeBytes(new Uint8Array(png.buffer, png.byteOffset, png.length), spec);
}

/**
 * Detects, aligns and crops every face of a photo (path, encoded bytes or a `readPhoto` result),
 * best score first. A photo without faces gives an empty list; an unreadable one throws
 * `ImageDecodeError`.
 */
export async function extractFaces(image: string | Uint8Array | Photo, options: ExtractOptions = {}): Promise<ExtractedFace[]> {
  const spec = options.spec ?? DEFAULT_FACE_SPEC;
  validateSpec(spec);
  const photo = await readPhoto(image);
  const faces = options.faces ?? (await (await loadFaceDetector()).detect(photo, options));
  const out: ExtractedFace[] = [];
  for (const face of faces) {
    const crop = alignFace(photo, face, options);
    const pixels = await cropToSpec(crop, spec);
    const png = await encodePng(pixels, spec.height, spec.width, spec.channels);
    out.push({ ...face, pixels, spec, png, crop: { center: crop.center, sourceSide: crop.sourceSide, angle: crop.angle }, detector: DETECTOR_ID });
  }
  return out;
}
