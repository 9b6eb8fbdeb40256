/** Writes tiny 8×8 grayscale PNG faces (`label/name.png` → a pixel seed) into a new temp folder. */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";

export async function writeTinyFaceFolder(prefix: string, files: [string, number][]): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  for (const [rel, seed] of files) {
    mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    const px = Buffer.alloc(64);
    for (let i = 0; i < 64; i++) px[i] = (seed + i * 3) % 256;
    await sharp(px, { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(path.join(root, rel));
  }
  return root;
}
