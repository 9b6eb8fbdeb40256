/**
 * Photos for face detection: decoded once at full resolution, EXIF orientation applied (phone
 * photos come out upright), transparency flattened onto white as in training (images.ts), as
 * 8-bit sRGB HWC pixels.
 */
import sharp from "sharp";
import { ALPHA_BACKGROUND, ImageDecodeError, readImageBytes, sniffFormat } from "../images";

export interface Photo {
  /** Width and height after EXIF orientation. */
  width: number;
  height: number;
  /** HWC sRGB uint8, `width * height * 3` bytes. */
  rgb: Uint8Array;
  /** The encoded bytes the photo was read from (for hashing and re-encoding). */
  bytes: Uint8Array;
  /** The file it came from, if any. */
  source?: string;
}

/** The most pixels a photo may have (about 100 megapixels, as in decodeImage). */
export const MAX_PHOTO_PIXELS = 100_000_000;

/**
 * Reads a photo (path or encoded bytes; PNG, JPEG, WebP, GIF, TIFF, AVIF/HEIF) upright and in
 * sRGB. Throws `ImageDecodeError` with a human reason for missing, empty, corrupt or non-image files.
 */
export async function readPhoto(input: string | Uint8Array | Photo): Promise<Photo> {
  if (typeof input === "object" && "rgb" in input) return input;
  const source = typeof input === "string" ? input : undefined;
  const bytes = await readImageBytes(input);
  if (bytes.length === 0) throw new ImageDecodeError("empty file (0 bytes)", source);
  if (!sniffFormat(bytes)) throw new ImageDecodeError("not an image (unrecognised file contents; expected PNG, JPEG or WebP)", source);
  try {
    const { data, info } = await sharp(bytes, { failOn: "error", limitInputPixels: MAX_PHOTO_PIXELS })
      .autoOrient()
      .flatten({ background: ALPHA_BACKGROUND })
      .toColourspace("srgb")
      .removeAlpha()
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), bytes, source };
  } catch (e) {
    const m = String((e as Error).message ?? e).trim();
    const reason = /premature end|end of stream|truncated|unexpected end/i.test(m) ? `truncated or corrupt image (${m})` : /pixel limit/i.test(m) ? `too large (over ${MAX_PHOTO_PIXELS / 1e6} megapixels)` : `corrupt image (${m})`;
    throw new ImageDecodeError(reason, source);
  }
}
