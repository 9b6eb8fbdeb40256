/**
 * Photos with their faces drawn: boxes, eye landmarks and labels in an SVG overlay composited by
 * sharp over the upright photo.
 */
import sharp from "sharp";
import type { Box } from "./nms";
import { type Photo, readPhoto } from "./photo";

export interface DrawnFace {
  box: Box;
  /** Text above the box, e.g. "happiness 87%". */
  label?: string;
  landmarks?: [number, number][];
  /** Stroke colour (CSS). Default a bright green. */
  color?: string;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

/** The SVG overlay for a photo of width×height with these faces. */
export function overlaySvg(width: number, height: number, faces: DrawnFace[]): string {
  const stroke = Math.max(2, Math.round(Math.max(width, height) / 400));
  const parts: string[] = [];
  for (const f of faces) {
    const [x, y, w, h] = f.box;
    const color = f.color ?? "#00e676";
    parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`);
    for (const [lx, ly] of (f.landmarks ?? []).slice(0, 2)) {
      parts.push(`<circle cx="${lx.toFixed(1)}" cy="${ly.toFixed(1)}" r="${Math.max(2, w / 40).toFixed(1)}" fill="${color}"/>`);
    }
    if (f.label) {
      const size = Math.max(12, Math.min(48, Math.round(Math.max(w / 5, Math.max(width, height) / 80))));
      const ty = y - stroke > size + 2 ? y - stroke - 2 : y + h + size + 2;
      const tw = size * 0.6 * f.label.length + 8;
      parts.push(`<rect x="${x.toFixed(1)}" y="${(ty - size).toFixed(1)}" width="${tw.toFixed(1)}" height="${(size + 4).toFixed(1)}" fill="${color}" opacity="0.85"/>`);
      parts.push(`<text x="${(x + 4).toFixed(1)}" y="${(ty - 1).toFixed(1)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${size}" fill="#000">${escapeXml(f.label)}</text>`);
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join("")}</svg>`;
}

/**
 * The photo (upright) with the faces drawn, encoded as JPEG (`format: "jpeg"`, default) or PNG.
 * `maxSide` shrinks big photos (default: kept as they are).
 */
export async function drawFaces(image: string | Uint8Array | Photo, faces: DrawnFace[], options: { format?: "jpeg" | "png"; maxSide?: number } = {}): Promise<Uint8Array> {
  const photo = await readPhoto(image);
  const scale = options.maxSide && Math.max(photo.width, photo.height) > options.maxSide ? options.maxSide / Math.max(photo.width, photo.height) : 1;
  const width = Math.round(photo.width * scale);
  const height = Math.round(photo.height * scale);
  const scaled = faces.map((f) => ({ ...f, box: f.box.map((v) => v * scale) as Box, landmarks: f.landmarks?.map(([x, y]) => [x * scale, y * scale] as [number, number]) }));
  let pipeline = sharp(photo.rgb, { raw: { width: photo.width, height: photo.height, channels: 3 } });
  if (scale !== 1) pipeline = sharp(await pipeline.resize(width, height).png().toBuffer());
  const out = pipeline.composite([{ input: Buffer.from(overlaySvg(width, height, scaled)), left: 0, top: 0 }]);
  const buf = options.format === "png" ? await out.png().toBuffer() : await out.jpeg({ quality: 88 }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
