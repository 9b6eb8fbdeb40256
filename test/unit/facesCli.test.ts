/**
 * `fernb faces` and `fernb predict --detect/--annotate` end to end (dist/cli.js, built by
 * `npm test`), on synthetic photos (facesFixtures.ts) in emotion folders and outside them.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs";
import { createResNet18 } from "../../kernel/fer/resnet";
import { saveModel } from "../../kernel/fer/modelIO";
import { EMOTIONS } from "../../kernel/fer/labels";
import { syntheticPhoto, withOrientation } from "./facesFixtures";

const cli = path.resolve("dist/cli.js");
const work = mkdtempSync(path.join(tmpdir(), "fernb-faces-test-"));
const photos = path.join(work, "photos");

function fernb(args: string[], timeout = 300_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: work, env: { ...process.env, FERNB_CACHE_DIR: path.join(work, "cache") }, timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

function lastJson(stdout: string): any {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** Every file under a folder with its sha256 (to prove the input is never modified). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isSymbolicLink()) out[path.relative(dir, p)] = "link";
      else out[path.relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

before(async () => {
  await tf.setBackend("cpu");
  const model = createResNet18({ widths: [4, 8, 8, 8], seed: 5 });
  await saveModel(model, path.join(work, "model"), { name: "tiny", classes: [...EMOTIONS], input: { height: 48, width: 48, channels: 1, mean: 0.5, std: 0.25 }, architecture: {} });
  for (const d of ["happy", "sad", "misc"]) mkdirSync(path.join(photos, d), { recursive: true });
  const group = await syntheticPhoto(700, 400, [{ face: 0, x: 40, y: 80, size: 150 }, { face: 3, x: 270, y: 120, size: 130 }, { face: 6, x: 480, y: 100, size: 140 }], 21);
  writeFileSync(path.join(photos, "happy", "group.png"), group.png);
  const one = await syntheticPhoto(500, 360, [{ face: 2, x: 200, y: 100, size: 140 }], 22);
  writeFileSync(path.join(photos, "sad", "portrait.jpg"), await withOrientation(one.png, 6)); // a phone photo, stored sideways
  const pair = await syntheticPhoto(640, 360, [{ face: 4, x: 60, y: 90, size: 150 }, { face: 9, x: 380, y: 100, size: 140 }], 23);
  writeFileSync(path.join(photos, "pair.png"), pair.png);
  writeFileSync(path.join(photos, "misc", "wall.png"), (await syntheticPhoto(500, 400, [], 24)).png);
  writeFileSync(path.join(photos, "misc", "broken.jpg"), "this is not a photo");
  symlinkSync(path.join(work, "nowhere.jpg"), path.join(photos, "misc", "gone.jpg")); // a dangling link
  // A face crop as in FER2013: 48×48 grayscale.
  writeFileSync(path.join(work, "crop.png"), readFileSync("notebooks/data/sample/val/happy/PublicTest_11211241.png"));
});

test("fernb faces: crops per face in emotion folders and unlabeled/, a manifest, no-face and unreadable photos listed, the input untouched; a re-run skips what is done", async () => {
  const before = snapshot(photos);
  const out = path.join(work, "crops");
  const r = await fernb(["faces", "--in", photos, "--out", out, "--min-score", "0.6", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Finding faces 6\/6 \(100%\)/, "a progress line");
  const report = lastJson(r.stdout);
  const bySource = (name: string) => report.faces.filter((f: any) => f.source.endsWith(name));
  assert.equal(bySource("group.png").length, 3);
  assert.equal(bySource("portrait.jpg").length, 1);
  assert.equal(bySource("pair.png").length, 2);
  assert.equal(report.faces.length, 6);
  for (const f of bySource("group.png")) assert.match(f.file, /[/\\]happy[/\\]group_\d\.png$/);
  assert.match(bySource("portrait.jpg")[0].file, /[/\\]sad[/\\]portrait_1\.png$/);
  for (const f of bySource("pair.png")) assert.match(f.file, /[/\\]unlabeled[/\\]pair_\d\.png$/);
  // The sideways-stored portrait's face is boxed in the upright photo (500×360, face at 200,100,140).
  const [x, y, w] = bySource("portrait.jpg")[0].box;
  assert.ok(Math.abs(x + w / 2 - 270) < 40 && Math.abs(y + w / 2 - 170) < 40, `portrait box ${bySource("portrait.jpg")[0].box}`);
  assert.deepEqual(report.noFace.map((n: any) => path.basename(n.source)), ["wall.png"]);
  assert.match(report.noFace[0].reason, /no face found/);
  assert.deepEqual(report.failed.map((n: any) => path.basename(n.source)), ["broken.jpg", "gone.jpg"]);
  assert.match(report.failed[0].reason, /not an image/);
  assert.match(report.failed[1].reason, /file not found/);
  for (const f of report.faces) {
    const meta = await sharp(f.file).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [48, 48, 1]);
    assert.equal(f.box.length, 4);
    assert.ok(f.score >= 0.6 && f.score <= 1);
  }
  const manifest = readFileSync(path.join(out, "faces.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const crops = manifest.filter((m) => m.kind === "face");
  assert.equal(crops.length, 6);
  for (const m of crops) {
    assert.ok(path.isAbsolute(m.source));
    assert.match(m.sourceHash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(m.sourceHash, `sha256:${createHash("sha256").update(readFileSync(m.source)).digest("hex")}`);
    assert.equal(m.landmarks.length, 6);
    assert.match(m.detector, /^blazeface-back/);
    assert.ok(existsSync(path.join(out, m.file)));
  }
  assert.deepEqual(new Set(crops.map((m) => m.label)), new Set(["happy", "sad", null]));
  assert.deepEqual(snapshot(photos), before, "the input folder is unchanged");

  // Re-run: the 4 readable photos are skipped, the crops are not rewritten.
  const mtimes = crops.map((m) => statSync(path.join(out, m.file)).mtimeMs);
  const again = await fernb(["faces", "--in", photos, "--out", out, "--min-score", "0.6", "--json"]);
  assert.equal(again.code, 0, again.stderr);
  const second = lastJson(again.stdout);
  assert.equal(second.skipped, 4);
  assert.equal(second.faces.length, 6);
  assert.deepEqual(crops.map((m) => statSync(path.join(out, m.file)).mtimeMs), mtimes);
  assert.equal(readFileSync(path.join(out, "faces.jsonl"), "utf8").trim().split("\n").length, manifest.length, "no duplicate manifest lines");

  // The crops load as a data set: the labelled ones by their folders.
  const { loadFolderDataset } = await import("../../kernel/fer/dataset");
  const ds = await loadFolderDataset(out, { ledger: false });
  assert.equal(ds.size, 4, `data set of ${ds.size} faces (the 4 labelled ones; unlabeled/ is not a class)`);
});

test("fernb faces: bad arguments and unsafe output folders are refused before any work", async () => {
  const cases: [string[], RegExp][] = [
    [["faces", "--out", path.join(work, "x1")], /needs --in/],
    [["faces", "--in", photos], /needs --out/],
    [["faces", "--in", photos, "--out", path.join(work, "x2"), "--size", "big"], /--size must be a whole number/],
    [["faces", "--in", photos, "--out", path.join(work, "x3"), "--channels", "2"], /--channels must be one of 1, 3/],
    [["faces", "--in", photos, "--out", path.join(work, "x4"), "--min-score", "7"], /--min-score must be a number/],
    [["faces", "--in", path.join(work, "nope"), "--out", path.join(work, "x5")], /No such photo or folder/],
    [["faces", "--in", photos, "--out", path.join(photos, "crops")], /inside the input folder/],
    [["faces", "--in", photos, "--out", path.join(work, "crops"), "--size", "64"], /other settings/],
    [["faces", "--in", photos, "--out", path.join(photos, "misc")], /inside the input folder/],
  ];
  for (const [args, message] of cases) {
    const r = await fernb(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  for (const k of [1, 2, 3, 4, 5]) assert.ok(!existsSync(path.join(work, `x${k}`)), "nothing created");
  mkdirSync(path.join(work, "busy"));
  writeFileSync(path.join(work, "busy", "notes.txt"), "mine");
  const busy = await fernb(["faces", "--in", photos, "--out", path.join(work, "busy")]);
  assert.equal(busy.code, 2);
  assert.match(busy.stderr, /not empty/);
  assert.equal(readFileSync(path.join(work, "busy", "notes.txt"), "utf8"), "mine");
});

test("fernb predict on photos: one prediction per face with its box (--detect auto), crops left whole, --detect never, --annotate", async () => {
  const model = path.join(work, "model");
  const pair = path.join(photos, "pair.png");
  const crop = path.join(work, "crop.png");
  const r = await fernb(["predict", "--model", model, "--min-score", "0.6", "--json", pair, crop]);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  const ofPair = out.predictions.filter((p: any) => p.path === pair);
  assert.equal(ofPair.length, 2, "one prediction per face");
  for (const p of ofPair) {
    assert.equal(p.face.box.length, 4);
    assert.ok(EMOTIONS.includes(p.top));
    assert.ok(Math.abs(Object.values(p.probabilities as Record<string, number>).reduce((a, b) => a + b, 0) - 1) < 1e-3);
  }
  assert.deepEqual(ofPair.map((p: any) => p.face.index).sort(), [1, 2]);
  const ofCrop = out.predictions.filter((p: any) => p.path === crop);
  assert.equal(ofCrop.length, 1, "a 48×48 face crop is classified whole");
  assert.equal(ofCrop[0].face, undefined);

  const never = lastJson((await fernb(["predict", "--model", model, "--detect", "never", "--json", pair])).stdout);
  assert.equal(never.predictions.length, 1);
  assert.equal(never.predictions[0].face, undefined);

  const always = await fernb(["predict", "--model", model, "--detect", "always", "--json", path.join(photos, "misc", "wall.png")]);
  const alwaysOut = lastJson(always.stdout);
  assert.equal(alwaysOut.predictions.length, 0);
  assert.match(alwaysOut.failures[0].error, /no face found/);

  const ann = path.join(work, "annotated");
  const a = await fernb(["predict", "--model", model, "--min-score", "0.6", "--annotate", ann, pair]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /pair\.png face 1 at \[/);
  const meta = await sharp(path.join(ann, "pair.annotated.jpg")).metadata();
  assert.deepEqual([meta.width, meta.height, meta.format], [640, 360, "jpeg"]);

  const bad = await fernb(["predict", "--model", model, "--detect", "sometimes", pair]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--detect must be one of auto, always, never/);
  const inside = await fernb(["predict", "--model", model, "--annotate", path.join(photos, "drawn"), photos]);
  assert.equal(inside.code, 2);
  assert.match(inside.stderr, /inside the input folder/);
});

test("notebooks/faces.fernb runs headless: detections drawn, crops made, reviewed and loaded", async () => {
  const executed = path.join(work, "faces.executed.fernb");
  const r = await fernb(["run", path.resolve("notebooks/faces.fernb"), "--out", executed], 600_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /All cells ran/);
  const nb = JSON.parse(readFileSync(executed, "utf8"));
  const mimes = nb.cells.flatMap((c: any) => (c.outputs ?? []).flatMap((o: any) => o.items.map((i: any) => i.mime)));
  assert.equal(mimes.filter((m: string) => m === "image/jpeg").length, 3, "three photos with their faces drawn");
  assert.ok(mimes.includes("application/vnd.fernb.review+json"), "the review grid");
  const text = nb.cells.flatMap((c: any) => (c.outputs ?? []).flatMap((o: any) => o.items.map((i: any) => [].concat(i.text ?? i.value ?? "").join("")))).join("\n");
  assert.match(text, /6 crops in /);
  assert.match(text, /4 faces, 48x48x1/, "the 4 labelled crops load as a data set");
});

test("fernb faces on a video: a frame every --every ms, crops named by their time (needs ffmpeg; without it the video is listed as unreadable, with the reason)", async () => {
  const dir = path.join(work, "videos", "happy");
  mkdirSync(dir, { recursive: true });
  const frames = [
    await syntheticPhoto(640, 360, [{ face: 4, x: 60, y: 90, size: 150 }, { face: 9, x: 380, y: 100, size: 140 }], 31),
    await syntheticPhoto(640, 360, [], 32),
    await syntheticPhoto(640, 360, [{ face: 0, x: 250, y: 100, size: 160 }], 33),
  ];
  frames.forEach((f, k) => writeFileSync(path.join(work, `frame_${k}.png`), f.png));
  const hasFfmpeg = (await new Promise<boolean>((resolve) => execFile("ffmpeg", ["-version"], (e) => resolve(!e)))) as boolean;
  const clip = path.join(dir, "clip.mp4");
  if (hasFfmpeg) {
    await new Promise<void>((resolve, reject) =>
      execFile("ffmpeg", ["-v", "error", "-y", "-framerate", "1", "-i", path.join(work, "frame_%d.png"), "-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p", clip], (e) => (e ? reject(e) : resolve())),
    );
  } else {
    writeFileSync(clip, readFileSync(path.join(work, "frame_0.png"))); // any bytes: ffmpeg is not there to read them
  }
  const out = path.join(work, "video-crops");
  const r = await fernb(["faces", "--in", path.join(work, "videos"), "--out", out, "--every", "1000", "--min-score", "0.6", "--json"]);
  const report = lastJson(r.stdout);
  if (!hasFfmpeg) {
    assert.equal(report.failed.length, 1);
    assert.match(report.failed[0].reason, /needs ffmpeg/);
    return;
  }
  assert.equal(r.code, 0, r.stderr);
  const names = report.faces.map((f: any) => path.relative(out, f.file).split(path.sep).join("/")).sort();
  assert.deepEqual(names, ["happy/clip_t0000000_1.png", "happy/clip_t0000000_2.png", "happy/clip_t0002000_1.png"]);
  assert.deepEqual(report.noFace.map((n: any) => n.source.replace(/^.*#/, "#")), ["#t=1000"]);
  const manifest = readFileSync(path.join(out, "faces.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(manifest.filter((m) => m.kind === "face").map((m) => m.timeMs).sort(), [0, 0, 2000]);
  assert.ok(manifest.some((m) => m.kind === "video" && m.frames === 3));
  const again = lastJson((await fernb(["faces", "--in", path.join(work, "videos"), "--out", out, "--every", "1000", "--min-score", "0.6", "--json"])).stdout);
  assert.equal(again.skipped, 1);
  assert.equal(again.faces.length, 3);
});
