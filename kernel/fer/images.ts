/**
 * Image decoding and encoding for fernb, built on sharp (libvips).
 *
 * Every image the model sees — training, evaluation and prediction — goes through `decodeImage`,
 * so the pixels are prepared the same way everywhere:
 *
 *  1. EXIF orientation is applied (photos from phones come out upright).
 *  2. Transparency is flattened onto WHITE (`ALPHA_BACKGROUND`).
 *  3. Colour is converted: `channels: 1` → luminance grayscale (libvips `b-w`), `channels: 3` → sRGB
 *     (grayscale inputs are replicated into three equal channels). 16-bit inputs become 8-bit.
 *  4. The image is resized with `fit: "cover"` and a CENTRE crop (`FIT`): it is scaled, keeping its
 *     aspect ratio, until it covers height×width, and the overflow is cut equally from both sides.
 *     Square inputs are therefore only scaled, never distorted; a 48×48 input is left untouched.
 *     The kernel is libvips' default (Lanczos-3).
 *  5. The result is HWC uint8: pixel (y, x) channel k is at `(y * width + x) * channels + k`.
 *
 * Fast path: an 8-bit grayscale, non-interlaced PNG that already has the spec's size (all of
 * FER2013) needs none of these steps, so it is decoded in JavaScript (zlib + PNG unfiltering) —
 * lossless, hence byte-identical to sharp — which is about 10× faster than a sharp pipeline. Any
 * other PNG (other chunks such as tRNS/iCCP, other sizes, bad CRCs, ...) goes through sharp.
 */
import { readFile } from "node:fs/promises";
import * as zlib from "node:zlib";
import sharp from "sharp";

export interface ImageSpec {
  height: number;
  width: number;
  channels: 1 | 3;
}

/** How `decodeImage` fits an image of another shape into the spec (see the module comment). */
export const FIT = "cover-center" as const;
/** What transparent pixels are composited onto before conversion. */
export const ALPHA_BACKGROUND = "#ffffff";
/**
 * Identifies the decoding pipeline: part of every disk cache key, so changing the pipeline or
 * upgrading sharp/libvips (whose resampling may differ slightly) never reuses stale pixels.
 */
export const DECODER_VERSION = `fernb-decode-1;${FIT};bg=${ALPHA_BACKGROUND};sharp=${sharp.versions.sharp};vips=${sharp.versions.vips}`;

/**
 * The raster format of encoded bytes, recognised by their signature (not by file name), or
 * undefined. These are the formats `decodeImage` accepts.
 */
export function sniffFormat(b: Uint8Array): "png" | "jpeg" | "webp" | "gif" | "tiff" | "heif" | undefined {
  const at = (i: number, ...xs: number[]) => xs.every((x, k) => b[i + k] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (at(0, 0xff, 0xd8, 0xff)) return "jpeg";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "webp";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "gif";
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return "tiff";
  if (at(4, 0x66, 0x74, 0x79, 0x70)) return "heif"; // ISO-BMFF 'ftyp': AVIF/HEIC
  return undefined;
}

function describeNonImage(b: Uint8Array): string {
  const head = b.subarray(0, 512);
  let printable = 0;
  for (const x of head) if (x === 9 || x === 10 || x === 13 || (x >= 32 && x < 127) || x >= 0xc2) printable++;
  const text = printable / head.length > 0.95;
  const start = Buffer.from(b.subarray(0, 64)).toString("latin1").trimStart().toLowerCase();
  if (text && (start.startsWith("<svg") || start.startsWith("<?xml"))) return "not a raster image (SVG/XML); convert it to PNG or JPEG";
  if (text) return "not an image (the file contains text)";
  if (start.startsWith("%pdf")) return "not an image (PDF document)";
  return "not an image (unrecognised file contents; expected PNG, JPEG or WebP)";
}

/** The reason an image could not be decoded; `reason` is short and human-readable. */
export class ImageDecodeError extends Error {
  constructor(
    readonly reason: string,
    readonly source?: string,
  ) {
    super(source ? `${source}: ${reason}` : reason);
    this.name = "ImageDecodeError";
  }
}

export function validateSpec(spec: ImageSpec): void {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 4096;
  if (!ok(spec.height) || !ok(spec.width)) {
    throw new RangeError(`image spec height/width must be integers in 1..4096, got ${spec.height}x${spec.width}`);
  }
  if (spec.channels !== 1 && spec.channels !== 3) {
    throw new RangeError(`image spec channels must be 1 (grayscale) or 3 (RGB), got ${spec.channels}`);
  }
}

/** Turns a sharp/libvips error message into a short reason for users. */
function explainSharpError(message: string): string {
  if (/unsupported image format/i.test(message)) return "not an image (unrecognised file contents)";
  if (/empty/i.test(message)) return "empty file (0 bytes)";
  if (/premature end|end of stream|truncated|unexpected end/i.test(message)) return `truncated or corrupt image (${message.trim()})`;
  if (/corrupt|invalid|bad |error/i.test(message)) return `corrupt image (${message.trim()})`;
  return `could not decode image (${message.trim()})`;
}

/** Why a file could not be read, in words (for reports of skipped files). */
export function readErrorReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case "ENOENT":
      return "file not found (or a symbolic link to a missing file)";
    case "ELOOP":
      return "unreadable (a symbolic link loop)";
    case "EISDIR":
      return "is a directory";
    case "EACCES":
    case "EPERM":
      return "unreadable (permission denied)";
    default:
      return `unreadable (${err?.message ?? String(e)})`;
  }
}

/**
 * Decodes an image (file path or encoded bytes: PNG, JPEG, WebP, GIF, TIFF, AVIF/HEIF; any size;
 * grayscale, RGB or with alpha) into `spec.height × spec.width × spec.channels` HWC uint8 pixels.
 * Throws `ImageDecodeError` (with a human `reason`) for empty, unreadable, corrupt, truncated or
 * non-image input.
 */
export async function decodeImage(input: Uint8Array | string, spec: ImageSpec): Promise<Uint8Array> {
  validateSpec(spec);
  return decodeBytes(await readImageBytes(input), spec, typeof input === "string" ? input : undefined);
}

/** The encoded bytes of an image given as a file path (read) or as bytes (as is); throws `ImageDecodeError` with the reason when the file cannot be read. */
export async function readImageBytes(input: Uint8Array | string): Promise<Uint8Array> {
  if (typeof input !== "string") return input;
  try {
    return await readFile(input);
  } catch (e) {
    throw new ImageDecodeError(readErrorReason(e), input);
  }
}

/** `decodeImage` for bytes already in memory (no spec validation; internal). */
export async function decodeBytes(bytes: Uint8Array, spec: ImageSpec, source?: string): Promise<Uint8Array> {
  if (bytes.length === 0) throw new ImageDecodeError("empty file (0 bytes)", source);
  const fast = decodeSimplePng(bytes, spec);
  if (fast) return fast;
  const out = spec.height * spec.width * spec.channels;
  let data: Buffer;
  try {
    // failOn "error": truncated/corrupt data fails; harmless libjpeg warnings (extraneous bytes) do not.
    if (!sniffFormat(bytes)) throw new ImageDecodeError(describeNonImage(bytes), source);
    const image = sharp(bytes, { failOn: "error", limitInputPixels: 100_000_000 });
    let pipeline = image.autoOrient().flatten({ background: ALPHA_BACKGROUND });
    pipeline = spec.channels === 1 ? pipeline.grayscale() : pipeline.toColourspace("srgb");
    data = await pipeline
      .resize(spec.width, spec.height, { fit: "cover", position: "centre" })
      .raw({ depth: "uchar" })
      .toBuffer();
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    throw new ImageDecodeError(explainSharpError((e as Error).message ?? String(e)), source);
  }
  if (data.length !== out) {
    throw new ImageDecodeError(`decoder produced ${data.length} bytes, expected ${out} (${spec.height}x${spec.width}x${spec.channels})`, source);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** PNG chunks that cannot change how an 8-bit grayscale image decodes. */
const HARMLESS_PNG_CHUNKS = new Set(["IHDR", "IDAT", "IEND", "pHYs", "tEXt", "zTXt", "iTXt", "tIME"]);

/**
 * Decodes an 8-bit grayscale non-interlaced PNG of exactly spec's size when spec.channels is 1;
 * returns undefined for anything else (including any irregularity: sharp then decides and explains).
 * @internal exported for tests
 */
export function decodeSimplePng(b: Uint8Array, spec: ImageSpec): Uint8Array | undefined {
  if (spec.channels !== 1 || b.length < 57 || sniffFormat(b) !== "png" || typeof zlib.crc32 !== "function") return undefined;
  const crc32 = zlib.crc32; // Node >= 20.15
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let offset = 8;
  const idat: Uint8Array[] = [];
  let sawIhdr = false;
  let sawEnd = false;
  while (offset + 12 <= b.length) {
    const length = view.getUint32(offset);
    if (offset + 12 + length > b.length) return undefined;
    const type = String.fromCharCode(b[offset + 4], b[offset + 5], b[offset + 6], b[offset + 7]);
    if (!HARMLESS_PNG_CHUNKS.has(type)) return undefined;
    if (crc32(b.subarray(offset + 4, offset + 8 + length)) !== view.getUint32(offset + 8 + length)) return undefined;
    const data = b.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      if (sawIhdr || offset !== 8 || length !== 13) return undefined;
      sawIhdr = true;
      const width = view.getUint32(offset + 8);
      const height = view.getUint32(offset + 12);
      const [depth, colorType, compression, filter, interlace] = data.subarray(8, 13);
      if (width !== spec.width || height !== spec.height || depth !== 8 || colorType !== 0 || compression !== 0 || filter !== 0 || interlace !== 0) return undefined;
    } else if (!sawIhdr) {
      return undefined;
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      sawEnd = true;
      break;
    }
    offset += 12 + length;
  }
  if (!sawEnd || idat.length === 0) return undefined;
  const { width: w, height: h } = spec;
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat));
  } catch {
    return undefined;
  }
  if (raw.length !== h * (w + 1)) return undefined;
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const filter = raw[y * (w + 1)];
    const src = y * (w + 1) + 1;
    const row = y * w;
    const prev = row - w; // previous output row (only read when y > 0)
    switch (filter) {
      case 0:
        for (let x = 0; x < w; x++) out[row + x] = raw[src + x];
        break;
      case 1: // Sub
        for (let x = 0; x < w; x++) out[row + x] = (raw[src + x] + (x > 0 ? out[row + x - 1] : 0)) & 255;
        break;
      case 2: // Up
        for (let x = 0; x < w; x++) out[row + x] = (raw[src + x] + (y > 0 ? out[prev + x] : 0)) & 255;
        break;
      case 3: // Average
        for (let x = 0; x < w; x++) {
          const left = x > 0 ? out[row + x - 1] : 0;
          const up = y > 0 ? out[prev + x] : 0;
          out[row + x] = (raw[src + x] + ((left + up) >> 1)) & 255;
        }
        break;
      case 4: // Paeth
        for (let x = 0; x < w; x++) {
          const a = x > 0 ? out[row + x - 1] : 0;
          const bb = y > 0 ? out[prev + x] : 0;
          const c = x > 0 && y > 0 ? out[prev + x - 1] : 0;
          const p = a + bb - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - bb);
          const pc = Math.abs(p - c);
          const pred = pa <= pb && pa <= pc ? a : pb <= pc ? bb : c;
          out[row + x] = (raw[src + x] + pred) & 255;
        }
        break;
      default:
        return undefined;
    }
  }
  return out;
}

/**
 * Resizes raw HWC uint8 pixels (e.g. a FER2013 CSV row) to a spec with the same pipeline as
 * `decodeImage` (channel conversion, then cover/centre resize). Returns the input unchanged when it
 * already matches the spec.
 */
export async function resizeRaw(pixels: Uint8Array, height: number, width: number, channels: 1 | 3 | 4, spec: ImageSpec): Promise<Uint8Array> {
  validateSpec(spec);
  if (height === spec.height && width === spec.width && channels === spec.channels) return pixels;
  let pipeline = sharp(pixels, { raw: { height, width, channels } }).flatten({ background: ALPHA_BACKGROUND });
  pipeline = spec.channels === 1 ? pipeline.grayscale() : pipeline.toColourspace("srgb");
  const data = await pipeline.resize(spec.width, spec.height, { fit: "cover", position: "centre" }).raw({ depth: "uchar" }).toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Pixels accepted by the encoders: uint8 (0..255) or float (0..1, clamped), HWC. */
export type Pixels = Uint8Array | Uint8ClampedArray | Float32Array;

function toRawInput(pixels: Pixels, h: number, w: number, c: number): Buffer {
  if (![1, 2, 3, 4].includes(c)) throw new RangeError(`channels must be 1..4, got ${c}`);
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) throw new RangeError(`bad image size ${h}x${w}`);
  const n = h * w * c;
  if (pixels.length !== n) throw new RangeError(`expected ${h}x${w}x${c} = ${n} values, got ${pixels.length}`);
  if (pixels instanceof Float32Array) {
    const bytes = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      const v = pixels[i] * 255 + 0.5;
      bytes[i] = v <= 0 || v !== v ? 0 : v >= 255 ? 255 : v | 0;
    }
    return bytes;
  }
  return Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
}

export interface EncodeOptions {
  /** Upscale to this width (nearest neighbour, keeps pixels crisp) — handy for 48×48 thumbnails. */
  scaleTo?: number;
}

function encoder(pixels: Pixels, h: number, w: number, c: number, options: EncodeOptions) {
  let pipeline = sharp(toRawInput(pixels, h, w, c), { raw: { height: h, width: w, channels: c as 1 | 2 | 3 | 4 } });
  if (c <= 2) pipeline = pipeline.toColourspace("b-w"); // keep 1-channel images 1-channel (not RGB)
  if (options.scaleTo && options.scaleTo !== w) {
    pipeline = pipeline.resize(Math.round(options.scaleTo), Math.max(1, Math.round((options.scaleTo * h) / w)), { kernel: "nearest", fit: "fill" });
  }
  return pipeline;
}

/** Encodes HWC pixels (uint8 0..255 or float 0..1) as PNG bytes (e.g. for `display.png`). */
export async function encodePng(pixels: Pixels, h: number, w: number, c: number, options: EncodeOptions = {}): Promise<Uint8Array> {
  const buf = await encoder(pixels, h, w, c, options).png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Encodes HWC pixels (uint8 0..255 or float 0..1) as JPEG bytes; alpha, if any, is dropped. */
export async function encodeJpeg(pixels: Pixels, h: number, w: number, c: number, options: EncodeOptions & { quality?: number } = {}): Promise<Uint8Array> {
  const buf = await encoder(pixels, h, w, c, options)
    .flatten({ background: ALPHA_BACKGROUND })
    .jpeg({ quality: options.quality ?? 90 })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
