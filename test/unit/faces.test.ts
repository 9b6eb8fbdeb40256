/**
 * Face detection, alignment and crops on synthetic photos (facesFixtures.ts): sample faces pasted
 * at known boxes, sizes 20–300 px, rotations ±30° and the 8 EXIF orientations; photos without a
 * face; a crowded group photo. Runs the real detector (models/face-detector) on the wasm backend.
 *
 * The pasted faces are FER2013 48×48 crops, upscaled: blurry, grayscale and cut tight, so BlazeFace
 * scores them lower than faces in real photos (0.6–0.8 where real faces score 0.8–0.95). The tests
 * therefore look for them with minScore 0.6 instead of the default 0.75; everything else (tiling,
 * merging, verification, EXIF, alignment) is what users run.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { initBackend } from "../../kernel/fer/backend";
import { decodeImage } from "../../kernel/fer/images";
import { alignFace, detectFaces, eyeAngle, extractFaces, iou, readPhoto, weightedNms, drawFaces, DETECTOR_ID } from "../../kernel/fer/index";
import { match, syntheticPhoto, withOrientation, type Placement } from "./facesFixtures";

const MIN_SCORE = 0.6;

before(async () => {
  await initBackend();
});

test("weighted NMS merges overlapping detections of one face and keeps separate faces", () => {
  const lm = (x: number, y: number): [number, number][] => [[x, y], [x + 10, y]];
  const merged = weightedNms([
    { box: [0, 0, 100, 100], score: 0.9, landmarks: lm(30, 40) },
    { box: [10, 10, 100, 100], score: 0.6, landmarks: lm(40, 50) },
    { box: [300, 300, 50, 50], score: 0.8, landmarks: lm(310, 320) },
    { box: [20, 20, 30, 30], score: 0.7, landmarks: lm(25, 25) }, // inside the first: the same face seen at another scale
  ]);
  assert.equal(merged.length, 2);
  assert.equal(merged[0].score, 0.9);
  assert.ok(merged[0].box[0] > 0 && merged[0].box[0] < 10, `weighted box x ${merged[0].box[0]}`);
  assert.deepEqual(merged[1].box, [300, 300, 50, 50]);
  assert.ok(Math.abs(iou([0, 0, 10, 10], [5, 0, 10, 10]) - 1 / 3) < 1e-9);
});

test("faces of 20 to 300 px are found at their boxes, with no false detections", async () => {
  const sizes = [20, 20, 24, 28, 32, 40, 48, 64, 80, 100, 128, 160];
  const placements: Placement[] = [];
  let x = 10;
  let y = 10;
  let rowH = 0;
  sizes.forEach((s, i) => {
    if (x + s > 950) {
      x = 10;
      y += rowH + 20;
      rowH = 0;
    }
    placements.push({ face: i % 12, x, y, size: s });
    x += s + 30;
    rowH = Math.max(rowH, s);
  });
  const small = await syntheticPhoto(960, 720, placements, 3);
  const found = await detectFaces(small.png, { minFace: 12, minScore: MIN_SCORE });
  const m = match(found.map((f) => f.box), small.truth);
  assert.ok(m.found.length >= 11, `found ${m.found.length}/12; missed sizes ${m.missed.map((i) => sizes[i]).join(", ")}`);
  assert.equal(m.falseDetections.length, 0, `false detections: ${JSON.stringify(m.falseDetections)}`);
  for (const f of found) {
    assert.equal(f.landmarks.length, 6);
    assert.ok(f.score >= MIN_SCORE && f.score <= 1);
  }

  const big = await syntheticPhoto(900, 700, [{ face: 0, x: 40, y: 60, size: 300 }, { face: 3, x: 500, y: 200, size: 220 }], 4);
  const bigFound = await detectFaces(big.png, { minScore: MIN_SCORE });
  const mb = match(bigFound.map((f) => f.box), big.truth);
  assert.equal(mb.found.length, 2);
  assert.equal(mb.falseDetections.length, 0);
  // Eyes lie in the upper half of the box, the right eye (subject's) on the photo's left.
  for (const f of bigFound) {
    const [[rx, ry], [lx, ly]] = f.landmarks;
    assert.ok(rx < lx, "right eye left of the left eye");
    assert.ok(ry < f.box[1] + f.box[3] * 0.6 && ly < f.box[1] + f.box[3] * 0.6, "eyes in the upper part of the face");
  }
});

test("rotated faces (±30°) are found and their eyes measure the rotation; aligned crops have level eyes", async () => {
  const angles = [0, -30, -20, -10, 10, 20, 30];
  const photo = await syntheticPhoto(1100, 300, angles.map((a, i) => ({ face: 0, x: 30 + i * 150, y: 90, size: 110, rotate: a })), 5);
  const found = await detectFaces(photo.png, { minScore: MIN_SCORE });
  const m = match(found.map((f) => f.box), photo.truth);
  assert.equal(m.found.length, 7, `found ${m.found.length}/7`);
  assert.equal(m.falseDetections.length, 0);
  const byColumn = new Map(found.map((f) => [Math.floor((f.box[0] + f.box[2] / 2 - 30) / 150), f]));
  const baseline = eyeAngle(byColumn.get(0)!); // the face's own tilt
  for (const [i, a] of angles.entries()) {
    const measured = eyeAngle(byColumn.get(i)!) - baseline;
    assert.ok(Math.abs(measured - a) <= 4, `rotated ${a}°: eyes measured at ${measured.toFixed(1)}°`);
  }
  // Align each face, then look again in the crop: its eyes are level (within the detector's noise).
  const upright = await readPhoto(photo.png);
  for (const [i, a] of angles.entries()) {
    const face = byColumn.get(i)!;
    const crop = alignFace(upright, face);
    assert.ok(Math.abs(crop.angle - eyeAngle(face)) < 1e-9);
    const png = await sharp(crop.rgb, { raw: { width: crop.side, height: crop.side, channels: 3 } }).extend({ top: crop.side, bottom: crop.side, left: crop.side, right: crop.side, background: "#808080" }).png().toBuffer();
    const again = await detectFaces(png, { minScore: 0.5 });
    assert.ok(again.length >= 1, `face rotated ${a}° not found again in its aligned crop`);
    assert.ok(Math.abs(eyeAngle(again[0])) <= 5, `rotated ${a}°: eyes at ${eyeAngle(again[0]).toFixed(1)}° after alignment`);
  }
});

test("EXIF orientation is applied: boxes are those of the upright photo, for all 8 orientations", async () => {
  const photo = await syntheticPhoto(640, 400, [{ face: 1, x: 40, y: 50, size: 60 }, { face: 2, x: 250, y: 100, size: 90 }, { face: 4, x: 420, y: 180, size: 120 }], 6);
  for (let orientation = 1; orientation <= 8; orientation++) {
    const jpeg = await withOrientation(photo.png, orientation);
    const meta = await sharp(jpeg).metadata();
    assert.equal(meta.orientation, orientation);
    const found = await detectFaces(jpeg, { minScore: MIN_SCORE });
    const m = match(found.map((f) => f.box), photo.truth);
    assert.equal(m.found.length, 3, `orientation ${orientation}: found ${m.found.length}/3`);
    assert.equal(m.falseDetections.length, 0, `orientation ${orientation}: false detections`);
  }
});

test("photos without a face give no detections", async () => {
  for (const [i, kind] of (["blobs", "noise", "stripes", "gradient"] as const).entries()) {
    const photo = await syntheticPhoto(640, 480, [], 11 + i, kind);
    const found = await detectFaces(photo.png, { minScore: MIN_SCORE });
    assert.equal(found.length, 0, `${kind}: ${JSON.stringify(found.map((f) => [f.box, f.score]))}`);
  }
});

test("a crowded group photo: 32 small faces (40–60 px, tilted), at least 90% found, at most 2 false", async () => {
  const crowd: Placement[] = [];
  const r = (k: number) => ((k * 9301 + 49297) % 233280) / 233280;
  for (let row = 0; row < 4; row++) {
    for (let col = 0; col < 8; col++) {
      const k = row * 8 + col;
      crowd.push({ face: k % 12, x: 30 + col * 195 + Math.round(r(k + 50) * 60), y: 40 + row * 240 + Math.round(r(k + 99) * 80), size: 40 + Math.round(r(k) * 20), rotate: Math.round((r(k + 7) - 0.5) * 20) });
    }
  }
  const photo = await syntheticPhoto(1600, 1000, crowd, 7);
  const found = await detectFaces(photo.png, { minFace: 24, minScore: MIN_SCORE });
  const m = match(found.map((f) => f.box), photo.truth);
  assert.ok(m.found.length >= Math.ceil(0.9 * 32), `found ${m.found.length}/32`);
  assert.ok(m.falseDetections.length <= 2, `${m.falseDetections.length} false detections`);
});

test("extractFaces: 48×48 grayscale crops decoded exactly as training decodes the saved PNG; any size and channels", async () => {
  const photo = await syntheticPhoto(500, 400, [{ face: 0, x: 60, y: 80, size: 140, rotate: 15 }, { face: 3, x: 300, y: 150, size: 120 }], 8);
  const crops = await extractFaces(photo.png, { minScore: MIN_SCORE });
  assert.equal(crops.length, 2);
  for (const c of crops) {
    assert.deepEqual(c.spec, { height: 48, width: 48, channels: 1 });
    assert.equal(c.pixels.length, 48 * 48);
    assert.equal(c.detector, DETECTOR_ID);
    const again = await decodeImage(c.png, c.spec);
    assert.deepEqual(Buffer.from(again), Buffer.from(c.pixels), "the saved crop decodes back to the same pixels");
  }
  const rotated = crops.find((c) => c.box[0] < 250)!;
  assert.ok(Math.abs(rotated.crop.angle - 15) < 15, `crop angle ${rotated.crop.angle}`);
  const colour = await extractFaces(photo.png, { minScore: MIN_SCORE, spec: { height: 64, width: 64, channels: 3 } });
  assert.equal(colour.length, 2);
  assert.equal(colour[0].pixels.length, 64 * 64 * 3);
  const meta = await sharp(colour[0].png).metadata();
  assert.equal(meta.width, 64);
  assert.equal(meta.channels, 3);
  // The boxes drawn: an image of the photo's size.
  const drawn = await drawFaces(photo.png, crops.map((c) => ({ box: c.box, label: "face", landmarks: c.landmarks })), { format: "png" });
  const dm = await sharp(drawn).metadata();
  assert.deepEqual([dm.width, dm.height], [500, 400]);
});

test("unreadable photos are rejected with a reason", async () => {
  await assert.rejects(detectFaces(new TextEncoder().encode("not a photo")), /not an image/);
  await assert.rejects(detectFaces("/nonexistent/photo.jpg"), /file not found/);
  await assert.rejects(detectFaces(new Uint8Array(0)), /empty/);
});

test("predict --detect auto: which images count as face crops", async () => {
  const { looksLikeCrop } = await import("../../kernel/fer/faces/predict");
  const spec = { height: 48, width: 48, channels: 1 as const };
  const face = (side: number) => ({ box: [0, 0, side, side] as [number, number, number, number], score: 0.9, landmarks: [] });
  assert.equal(looksLikeCrop({ width: 48, height: 48 }, undefined, spec), true, "a 48×48 crop is not searched");
  assert.equal(looksLikeCrop({ width: 120, height: 100 }, undefined, spec), true, "small images are crops");
  assert.equal(looksLikeCrop({ width: 1600, height: 1200 }, undefined, spec), false, "a photo is searched");
  assert.equal(looksLikeCrop({ width: 400, height: 400 }, [face(300)], spec), true, "one face filling a square image");
  assert.equal(looksLikeCrop({ width: 400, height: 400 }, [face(120)], spec), false, "a small face in a square photo");
  assert.equal(looksLikeCrop({ width: 400, height: 400 }, [face(300), face(250)], spec), false, "two faces");
  assert.equal(looksLikeCrop({ width: 900, height: 400 }, [face(380)], spec), false, "a wide photo");
  assert.equal(looksLikeCrop({ width: 400, height: 400 }, [], spec), true, "a square image without a detected face is taken whole");
});
