/**
 * The boxes drawn over a photo (issue #17): `fernb predict --detect always --annotate` on a synthetic
 * photo with two faces at known boxes; the annotated JPEG is shown in headless Chromium and its
 * displayed pixels are read back through a canvas. drawFaces (kernel/fer/faces/draw.ts) strokes each
 * box in #00e676: that colour (compared with the original photo at the same pixels) must run along
 * every detected face's edges, the detected boxes must lie on the known faces, and no box colour may
 * appear in a face-free region.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { match, syntheticPhoto } from "../unit/facesFixtures";

type Box = [number, number, number, number];

function fernb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.resolve("bin/fernb.js"), ...args], { timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Measured in the page: how much of each box's outline is drawn, and drawn pixels in a face-free area. */
interface Measured {
  natural: [number, number];
  displayed: [number, number];
  /** Per box: the fraction of points along its four edges with the outline colour within ±tol px. */
  edges: number[][];
  /** Pixels of the outline colour in the face-free region. */
  freeHits: number;
}

test("predict --annotate: the annotated photo is displayed in Chromium with a box drawn around each face and none elsewhere", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fernb-faces-browser-"));
  // Two faces the detector finds reliably (as in test/unit/facesCli.test.ts), on a 640×360 photo.
  const photo = await syntheticPhoto(640, 360, [{ face: 4, x: 60, y: 90, size: 150 }, { face: 9, x: 380, y: 100, size: 140 }], 23);
  const src = path.join(dir, "pair.png");
  writeFileSync(src, photo.png);
  const annDir = path.join(dir, "annotated");
  mkdirSync(annDir);
  const r = await fernb(["predict", "--model", path.resolve("models/fer2013-resnet18"), "--detect", "always", "--min-score", "0.6", "--json", "--annotate", annDir, src]);
  assert.equal(r.code, 0, `fernb predict failed: ${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  const out = JSON.parse(lines[lines.length - 1]) as { predictions: { face?: { box: Box } }[] };
  const boxes = out.predictions.map((p) => p.face!.box);
  assert.equal(boxes.length, 2, `one prediction per face: ${JSON.stringify(boxes)}`);
  const m = match(boxes, photo.truth);
  assert.deepEqual(m.found.sort(), [0, 1], `the detected boxes ${JSON.stringify(boxes)} lie on the faces ${JSON.stringify(photo.truth)}`);
  assert.equal(m.falseDetections.length, 0);

  const annotated = readFileSync(path.join(annDir, "pair.annotated.jpg"));
  const dataUrl = (buf: Buffer, type: string) => `data:${type};base64,${buf.toString("base64")}`;
  // Below both faces and their labels (labels are drawn above the boxes), between the two faces.
  const free: Box = [230, 270, 130, 85];
  const tol = 3;

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // tsx compiles the test with esbuild's keepNames: functions passed to page.evaluate call __name.
    await page.setContent(`<!doctype html><head><script>window.__name = (f) => f;</script></head><body style="margin:0;background:#fff">
      <img id="annotated" alt="annotated photo" src="${dataUrl(annotated, "image/jpeg")}">
      <img id="original" alt="original photo" src="${dataUrl(photo.png, "image/png")}">
    </body>`);
    const shown = await page.evaluate(async ({ boxes, free, tol }) => {
      const pixels = async (id: string) => {
        const img = document.getElementById(id) as HTMLImageElement;
        await img.decode();
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const ctx = canvas.getContext("2d")!;
        ctx.drawImage(img, 0, 0);
        return { img, px: ctx.getImageData(0, 0, canvas.width, canvas.height).data };
      };
      const ann = await pixels("annotated");
      const orig = await pixels("original");
      const w = ann.img.naturalWidth, h = ann.img.naturalHeight;
      // #00e676 = rgb(0, 230, 118). JPEG's chroma subsampling blends the 2-px line with the photo
      // (e.g. 86,182,108 over a beige 196,170,137), so a pixel is "outline" when the displayed
      // annotated photo is much closer to that colour than the original photo is at the same place.
      const dist = (px: Uint8ClampedArray, i: number) => Math.hypot(px[i], px[i + 1] - 230, px[i + 2] - 118);
      const isOutline = (x: number, y: number) => {
        x = Math.round(x); y = Math.round(y);
        if (x < 0 || y < 0 || x >= w || y >= h) return false;
        const i = (y * w + x) * 4;
        const a = dist(ann.px, i), o = dist(orig.px, i);
        return a < 130 && a < 0.6 * o;
      };
      const near = (x: number, y: number, dx: number, dy: number) => {
        for (let d = -tol; d <= tol; d++) if (isOutline(x + d * dx, y + d * dy)) return true;
        return false;
      };
      const edges = boxes.map(([x, y, bw, bh]) => {
        const samples = 24;
        const sides = [
          (t: number) => near(x + t * bw, y, 0, 1), // top
          (t: number) => near(x + t * bw, y + bh, 0, 1), // bottom
          (t: number) => near(x, y + t * bh, 1, 0), // left
          (t: number) => near(x + bw, y + t * bh, 1, 0), // right
        ];
        return sides.map((side) => {
          let hits = 0;
          for (let k = 0; k < samples; k++) if (side(0.05 + (0.9 * k) / (samples - 1))) hits++;
          return hits / samples;
        });
      });
      let freeHits = 0;
      for (let y = free[1]; y < free[1] + free[3]; y++) for (let x = free[0]; x < free[0] + free[2]; x++) if (isOutline(x, y)) freeHits++;
      return {
        natural: [w, h], displayed: [ann.img.width, ann.img.height], original: [orig.img.naturalWidth, orig.img.naturalHeight], edges, freeHits,
      };
    }, { boxes, free, tol }) as Measured & { original: [number, number] };

    assert.deepEqual(shown.natural, [640, 360], "the annotated photo is displayed at the photo's size");
    assert.deepEqual(shown.displayed, [640, 360]);
    assert.deepEqual(shown.original, [640, 360]);
    const sideNames = ["top", "bottom", "left", "right"];
    for (const [b, sides] of shown.edges.entries()) {
      for (const [s, fraction] of sides.entries()) {
        assert.ok(fraction >= 0.9, `face ${b + 1} ${JSON.stringify(boxes[b])}: the box's ${sideNames[s]} edge is drawn along only ${(100 * fraction).toFixed(0)}% of its length`);
      }
    }
    assert.equal(shown.freeHits, 0, "no box colour in the region without faces");
    assert.deepEqual(errors, []);
    mkdirSync(path.resolve("test/artifacts"), { recursive: true });
    await page.screenshot({ path: path.resolve("test/artifacts/faces-annotated.png"), fullPage: true });
  } finally {
    await browser.close();
  }
});
