import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import sharp from "sharp";
import { DISPLAY } from "../../kernel/display";
import { clearDatasetMemoryCache, FaceDataset, loadFer2013Csv, loadFolderDataset } from "../../kernel/fer/dataset";
import { decodeImage, decodeSimplePng, encodeJpeg, encodePng, ImageDecodeError } from "../../kernel/fer/images";
import { EMOTIONS } from "../../kernel/fer/labels";

const SPEC = { height: 48, width: 48, channels: 1 } as const;
let tmp: string;

/** A PNG/JPEG/WebP from raw pixels. */
async function encode(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4, format: "png" | "jpeg" | "webp"): Promise<Buffer> {
  let img = sharp(Buffer.from(pixels), { raw: { width, height, channels } });
  if (channels === 1) img = img.toColourspace("b-w");
  return format === "png" ? img.png().toBuffer() : format === "jpeg" ? img.jpeg({ quality: 95 }).toBuffer() : img.webp({ lossless: true }).toBuffer();
}

/** A textured grayscale image (varied PNG filters), deterministic per seed. */
function texture(width: number, height: number, seed: number): Uint8Array {
  const px = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px[y * width + x] = (x * 5 + y * 3 + seed * 17 + ((x * y * seed) % 13)) & 255;
  return px;
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) out.push(relative(dir, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)));
  return out.sort();
}

/** The mixed fixture folder: aliases, an unknown folder, bad files, various formats. */
async function makeMixedDataset(root: string): Promise<void> {
  const put = async (rel: string, data: Uint8Array | string) => {
    await mkdir(join(root, rel, ".."), { recursive: true });
    await writeFile(join(root, rel), data);
  };
  await put("angry/a1.png", await encode(texture(48, 48, 1), 48, 48, 1, "png"));
  // RGB, large, non-square JPEG of one colour.
  await put("angry/a2.jpg", await encode(new Uint8Array(300 * 200 * 3).map((_, i) => [200, 100, 50][i % 3]), 300, 200, 3, "jpeg"));
  // Fully transparent red RGBA: flattened onto white.
  await put("Happy/h1.png", await encode(new Uint8Array(120 * 120 * 4).map((_, i) => (i % 4 === 0 ? 255 : 0)), 120, 120, 4, "png"));
  await put("Happy/h2.webp", await encode(texture(64, 64, 2), 64, 64, 1, "webp"));
  await put("sadness/s1.png", await encode(texture(48, 48, 3), 48, 48, 1, "png"));
  await put("sadness/corrupt.png", randomBytes(700));
  await put("sadness/empty.png", new Uint8Array(0));
  await put("sadness/notes.txt", "not an image");
  await put("surprised/u1.jpeg", await encode(texture(48, 48, 4), 48, 48, 1, "jpeg"));
  await put("surprised/text.jpg", "this is just some text pretending to be a JPEG\n");
  await put("contempt/c1.png", await encode(texture(48, 48, 5), 48, 48, 1, "png"));
  await put(".DS_Store", randomBytes(20));
  await put("sadness/.hidden.png", randomBytes(20));
  await put("README.md", "# my dataset");
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "fernb-dataset-test-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("decodeImage", () => {
  test("resizes RGB, large, alpha and 16-bit inputs to 48x48x1 with cover/centre crop", async () => {
    // 96x48: left half black, right half white → centre crop keeps columns 24..71.
    const wide = new Uint8Array(96 * 48).map((_, i) => (i % 96 < 48 ? 0 : 255));
    const out = await decodeImage(await encode(wide, 96, 48, 1, "png"), SPEC);
    assert.equal(out.length, 48 * 48);
    for (const row of [0, 20, 47]) {
      assert.equal(out[row * 48 + 0], 0);
      assert.equal(out[row * 48 + 20], 0);
      assert.equal(out[row * 48 + 27], 255);
      assert.equal(out[row * 48 + 47], 255);
    }
    // A tall image with 20-pixel black bands at top and bottom of a 100-pixel height: cropped away
    // after scaling 50→48 wide (the kept rows are 26..74 of 100 → all white).
    const tall = new Uint8Array(50 * 100 * 3).map((_, i) => (Math.floor(i / 150) < 20 || Math.floor(i / 150) >= 80 ? 0 : 255));
    const t = await decodeImage(await encode(tall, 50, 100, 3, "png"), SPEC);
    assert.ok(t.every((v) => v === 255), "letterbox bands should be cropped");
    // Transparent → white.
    const clear = await decodeImage(await encode(new Uint8Array(10 * 10 * 4), 10, 10, 4, "png"), SPEC);
    assert.ok(clear.every((v) => v === 255));
    // 16-bit grayscale PNG → 8-bit.
    const g16 = await sharp(Buffer.alloc(30 * 30 * 2, 0x80), { raw: { width: 30, height: 30, channels: 1 } }).png().toBuffer();
    assert.ok((await decodeImage(g16, SPEC)).every((v) => v === 128));
    // channels 3 from grayscale replicates the value.
    const rgb = await decodeImage(await encode(new Uint8Array(20 * 20).fill(77), 20, 20, 1, "png"), { height: 8, width: 8, channels: 3 });
    assert.equal(rgb.length, 8 * 8 * 3);
    assert.ok(rgb.every((v) => v === 77));
  });

  test("reads from a path and explains bad input", async () => {
    const dir = join(tmp, "decode");
    await mkdir(dir, { recursive: true });
    const png = await encode(texture(48, 48, 9), 48, 48, 1, "png");
    await writeFile(join(dir, "ok.png"), png);
    assert.deepEqual(await decodeImage(join(dir, "ok.png"), SPEC), texture(48, 48, 9));
    const reasons: Record<string, RegExp> = {
      empty: /empty/,
      random: /not an image/,
      text: /text/,
      truncated: /truncated|corrupt/,
      missing: /not found/,
    };
    const inputs: Record<string, Uint8Array | string> = {
      empty: new Uint8Array(0),
      random: new Uint8Array(randomBytes(500)).map((v, i) => (i === 0 ? 0 : v)),
      text: new TextEncoder().encode("hello, I am text"),
      truncated: png.subarray(0, Math.floor(png.length / 2)),
      missing: join(dir, "nope.png"),
    };
    for (const [name, input] of Object.entries(inputs)) {
      await assert.rejects(decodeImage(input, SPEC), (e: unknown) => {
        assert.ok(e instanceof ImageDecodeError, name);
        assert.match(e.reason, reasons[name], name);
        return true;
      });
    }
    await assert.rejects(decodeImage(png, { height: 0, width: 48, channels: 1 }), RangeError);
  });

  test("the JS fast path for small grayscale PNGs is byte-identical to sharp", async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const noisy = new Uint8Array(randomBytes(48 * 48)).map((v, i) => (seed % 2 ? v : (texture(48, 48, seed)[i] + (v & 3)) & 255));
      for (const compressionLevel of [0, 6, 9]) {
        const png = await sharp(Buffer.from(noisy), { raw: { width: 48, height: 48, channels: 1 } }).toColourspace("b-w").png({ compressionLevel, adaptiveFiltering: true }).toBuffer();
        const fast = decodeSimplePng(png, SPEC);
        assert.ok(fast, "fast path should apply");
        const viaSharp = await sharp(png).grayscale().raw().toBuffer();
        assert.equal(viaSharp.length, 48 * 48);
        assert.deepEqual(Buffer.from(fast), viaSharp);
      }
    }
    // Not applicable (other size, RGB) → undefined, so sharp handles it.
    assert.equal(decodeSimplePng(await encode(texture(40, 40, 1), 40, 40, 1, "png"), SPEC), undefined);
    assert.equal(decodeSimplePng(await encode(new Uint8Array(48 * 48 * 3), 48, 48, 3, "png"), SPEC), undefined);
    // A corrupted CRC is left to sharp, which reports it.
    const png = Buffer.from(await encode(texture(48, 48, 2), 48, 48, 1, "png"));
    png[40] ^= 0xff;
    assert.equal(decodeSimplePng(png, SPEC), undefined);
  });

  test("encodePng is lossless and encodeJpeg produces a JPEG; float input is accepted", async () => {
    const px = texture(48, 48, 7);
    const png = await encodePng(px, 48, 48, 1);
    assert.deepEqual(await decodeImage(png, SPEC), px);
    const jpg = await encodeJpeg(px, 48, 48, 1, { quality: 95 });
    assert.deepEqual([...jpg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    const back = await decodeImage(jpg, SPEC);
    let err = 0;
    for (let i = 0; i < px.length; i++) err += Math.abs(back[i] - px[i]);
    assert.ok(err / px.length < 8, `mean JPEG error ${err / px.length}`);
    const float = Float32Array.from(px, (v) => v / 255);
    assert.deepEqual(await decodeImage(await encodePng(float, 48, 48, 1), SPEC), px);
    const big = await sharp(await encodePng(px, 48, 48, 1, { scaleTo: 192 })).metadata();
    assert.equal(big.width, 192);
    assert.equal(big.height, 192);
    await assert.rejects(encodePng(px, 48, 47, 1), RangeError);
  });
});

describe("loadFolderDataset", () => {
  let root: string;
  let cacheDir: string;
  before(async () => {
    root = join(tmp, "mixed");
    cacheDir = join(tmp, "cache-mixed");
    await makeMixedDataset(root);
  });

  test("maps alias folders, reports unknown folders, bad and ignored files", async () => {
    const progress: [number, number][] = [];
    const ds = await loadFolderDataset(root, { cacheDir: false, memoryCache: false, onProgress: (d, t) => progress.push([d, t]) });
    assert.equal(ds.size, 6);
    assert.equal(ds.height, 48);
    assert.equal(ds.width, 48);
    assert.equal(ds.channels, 1);
    assert.equal(ds.images.length, 6 * 48 * 48);
    assert.deepEqual(ds.classCounts(), { anger: 2, disgust: 0, fear: 0, happiness: 2, sadness: 1, surprise: 1, neutral: 0 });
    assert.deepEqual(ds.paths, ["Happy/h1.png", "Happy/h2.webp", "angry/a1.png", "angry/a2.jpg", "sadness/s1.png", "surprised/u1.jpeg"]);
    assert.deepEqual([...ds.labels].map((l) => EMOTIONS[l]), ["happiness", "happiness", "anger", "anger", "sadness", "surprise"]);
    assert.deepEqual(ds.report.unknownFolders, ["contempt"]);
    assert.ok(!ds.paths.some((p) => p.startsWith("contempt")));
    const skipped = Object.fromEntries(ds.report.skipped.map((s) => [s.path, s.reason]));
    assert.deepEqual(Object.keys(skipped).sort(), ["sadness/corrupt.png", "sadness/empty.png", "surprised/text.jpg"]);
    assert.match(skipped["sadness/corrupt.png"], /not an image/);
    assert.match(skipped["sadness/empty.png"], /empty/);
    assert.match(skipped["surprised/text.jpg"], /text/);
    assert.equal(ds.report.ignoredFiles, 2, "README.md and notes.txt; hidden files are not counted");
    // Pixels: the 48x48 PNG exactly; the transparent image white; the solid-colour JPEG uniform gray.
    assert.deepEqual(ds.image(2), texture(48, 48, 1));
    assert.ok(ds.image(0).every((v) => v === 255));
    const a2 = ds.image(3);
    assert.ok(a2.every((v) => Math.abs(v - a2[0]) <= 2) && a2[0] > 90 && a2[0] < 140, `gray of (200,100,50) was ${a2[0]}`);
    // Progress ends at total and never goes backwards.
    assert.deepEqual(progress.at(-1), [9, 9]);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i][0] >= progress[i - 1][0]);
    assert.throws(() => ds.image(6), RangeError);
  });

  test("wrong layouts give clear errors", async () => {
    const mk = async (...rels: string[]) => {
      const base = await mkdtemp(join(tmp, "layout-"));
      for (const rel of rels) {
        await mkdir(join(base, rel, ".."), { recursive: true });
        if (rel.endsWith("/")) await mkdir(join(base, rel), { recursive: true });
        else await writeFile(join(base, rel), await encode(texture(48, 48, 1), 48, 48, 1, "png"));
      }
      return base;
    };
    const load = (p: string) => loadFolderDataset(p, { cacheDir: false, memoryCache: false });
    await assert.rejects(load(join(tmp, "does-not-exist")), /not found.*one folder per emotion/s);
    const file = join(await mk("x.png"), "x.png");
    await assert.rejects(load(file), /is a file, not a folder/);
    const csv = join(tmp, "some.csv");
    await writeFile(csv, "emotion,pixels,Usage\n");
    await assert.rejects(load(csv), /loadFer2013Csv/);
    await assert.rejects(load(await mk("train/happy/a.png", "val/happy/b.png")), /found train\/ and val\/: pass one of them/);
    await assert.rejects(load(await mk("a.png", "b.png")), /2 image\(s\) directly.*no emotion folders/s);
    await assert.rejects(load(await mk("cats/a.png", "dogs/b.png")), /None of the folders.*cats\/, dogs\//s);
    await assert.rejects(load(await mk("empty/")), /None of the folders/);
    await assert.rejects(load(await mkdtemp(join(tmp, "layout-"))), /is empty/);
    await assert.rejects(load(await mk("happy/")), /contain no/);
  });

  test("disk cache: second load decodes nothing, corrupt cache files are rebuilt, dataset folder untouched", async () => {
    const before = await listTree(root);
    const opts = { cacheDir, memoryCache: false };
    const first = await loadFolderDataset(root, opts);
    assert.equal(first.loadStats.decoded, 8, "6 images + corrupt + text (the empty file is not decoded)");
    assert.equal(first.loadStats.diskCacheHits, 0);
    assert.equal(first.loadStats.cacheWritten, true);
    const packFile = first.loadStats.cacheFile!;
    assert.ok(packFile.startsWith(cacheDir) && existsSync(packFile));

    const second = await loadFolderDataset(root, opts);
    assert.equal(second.loadStats.decoded, 0);
    assert.equal(second.loadStats.diskCacheHits, 8);
    assert.equal(second.loadStats.cacheWritten, false);
    assert.deepEqual(second.images, first.images);
    assert.deepEqual(second.report.skipped, first.report.skipped, "known failures come from the cache with their reasons");
    assert.equal(second.fingerprint(), first.fingerprint());

    // Truncated pack → ignored, rebuilt.
    await truncate(packFile, (await stat(packFile)).size - 10);
    const third = await loadFolderDataset(root, opts);
    assert.match(third.loadStats.cacheIgnoredReason ?? "", /checksum|corrupt|not a pack/);
    assert.equal(third.loadStats.decoded, 8);
    assert.equal(third.loadStats.cacheWritten, true);
    assert.equal(third.fingerprint(), first.fingerprint());
    // Garbage pack → ignored, rebuilt.
    await writeFile(packFile, randomBytes(5000));
    const fourth = await loadFolderDataset(root, opts);
    assert.equal(fourth.loadStats.decoded, 8);
    assert.equal((await loadFolderDataset(root, opts)).loadStats.decoded, 0);

    // One changed file → one decode.
    await writeFile(join(root, "sadness/s1.png"), await encode(texture(48, 48, 33), 48, 48, 1, "png"));
    const changed = await loadFolderDataset(root, opts);
    assert.equal(changed.loadStats.decoded, 1);
    assert.deepEqual(changed.image(4), texture(48, 48, 33));
    assert.notEqual(changed.fingerprint(), first.fingerprint());

    // A different spec is a different pack.
    const rgb = await loadFolderDataset(root, { ...opts, height: 32, width: 32, channels: 3 });
    assert.equal(rgb.loadStats.decoded, 8);
    assert.equal(rgb.images.length, 6 * 32 * 32 * 3);
    assert.notEqual(rgb.loadStats.cacheFile, packFile);

    assert.deepEqual(await listTree(root), before, "nothing is written into the dataset folder");
    const cacheFiles = await listTree(cacheDir);
    assert.ok(!cacheFiles.some((f) => f.endsWith(".tmp")), `temporary files left: ${cacheFiles}`);
  });

  test("memory cache reuses an unchanged dataset and notices changes", async () => {
    const dir = join(tmp, "memory");
    await mkdir(join(dir, "fear"), { recursive: true });
    await writeFile(join(dir, "fear/1.png"), await encode(texture(48, 48, 1), 48, 48, 1, "png"));
    await writeFile(join(dir, "fear/2.png"), await encode(texture(48, 48, 2), 48, 48, 1, "png"));
    const a = await loadFolderDataset(dir, { cacheDir: false });
    const b = await loadFolderDataset(dir, { cacheDir: false });
    assert.equal(a.loadStats.memoryCacheHit, false);
    assert.equal(b.loadStats.memoryCacheHit, true);
    assert.equal(b.images, a.images, "same buffer, no copy");
    const other = await loadFolderDataset(dir, { cacheDir: false, height: 24, width: 24 });
    assert.equal(other.loadStats.memoryCacheHit, false, "another spec is another entry");
    await writeFile(join(dir, "fear/2.png"), await encode(texture(48, 48, 3), 48, 48, 1, "png"));
    await utimes(join(dir, "fear/2.png"), new Date(), new Date(Date.now() + 5000));
    const c = await loadFolderDataset(dir, { cacheDir: false });
    assert.equal(c.loadStats.memoryCacheHit, false);
    assert.deepEqual(c.image(1), texture(48, 48, 3));
    clearDatasetMemoryCache();
    assert.equal((await loadFolderDataset(dir, { cacheDir: false })).loadStats.memoryCacheHit, false);
  });

  test("fingerprint is stable and sensitive to labels and pixels; subset; display", async () => {
    const ds = await loadFolderDataset(root, { cacheDir: false, memoryCache: false });
    const again = await loadFolderDataset(root, { cacheDir: false, memoryCache: false });
    assert.match(ds.fingerprint(), /^[0-9a-f]{64}$/);
    assert.equal(again.fingerprint(), ds.fingerprint());

    const make = (labels: number[], pixel = 0) => {
      const images = new Uint8Array(labels.length * 4).map((_, i) => i * 10);
      images[0] = pixel;
      return new FaceDataset({ root: "/x", height: 2, width: 2, channels: 1, images, labels: Int32Array.from(labels), paths: labels.map((_, i) => `p${i}`) });
    };
    // Pinned: the fingerprint must not change between versions, machines or runs.
    assert.equal(make([0, 3, 6]).fingerprint(), make([0, 3, 6]).fingerprint());
    assert.equal(make([0, 3, 6]).fingerprint(), PINNED_FINGERPRINT);
    assert.notEqual(make([0, 3, 5]).fingerprint(), PINNED_FINGERPRINT, "label change");
    assert.notEqual(make([0, 3, 6], 1).fingerprint(), PINNED_FINGERPRINT, "pixel change");
    assert.throws(() => make([0, 7]), RangeError);

    const sub = ds.subset([5, 0, 0]);
    assert.equal(sub.size, 3);
    assert.deepEqual(sub.paths, [ds.paths[5], ds.paths[0], ds.paths[0]]);
    assert.deepEqual(sub.image(0), ds.image(5));
    assert.deepEqual([...sub.labels], [ds.labels[5], ds.labels[0], ds.labels[0]]);
    assert.notEqual(sub.fingerprint(), ds.fingerprint());
    assert.equal(ds.subset([0, 1, 2, 3, 4, 5]).fingerprint(), ds.fingerprint());
    assert.throws(() => ds.subset([6]), RangeError);

    const items = ds[DISPLAY]();
    const chart = items.find((i) => i.mime === "application/vnd.fernb.chart+json");
    assert.ok(chart, "has a chart");
    const spec = JSON.parse(chart.data as string);
    assert.deepEqual(
      spec.data.values.map((v: { emotion: string; count: number }) => [v.emotion, v.count]),
      EMOTIONS.map((e) => [e, ds.classCounts()[e]]),
    );
    assert.match(JSON.stringify(spec.title), /3 file\(s\) skipped/);
    const text = items.find((i) => i.mime === "text/plain")!.data as string;
    assert.match(text, /6 images/);
    assert.match(text, /Skipped 3 files/);
    assert.match(text, /sadness\/empty\.png: empty/);
    assert.match(text, /contempt\//);
  });

  test("real FER2013 val folder (optional)", async (t) => {
    const real = resolve(__dirname, "../../../shared/data/fer2013/val"); // ../shared beside the checkout
    if (!existsSync(real)) return t.skip("FER2013 not present");
    const ds = await loadFolderDataset(real, { cacheDir: join(tmp, "cache-real"), memoryCache: false });
    assert.equal(ds.size, 3589);
    assert.deepEqual(ds.report.skipped, []);
    assert.deepEqual(ds.report.unknownFolders, []);
    const counts = ds.classCounts();
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 3589);
    assert.ok(EMOTIONS.every((e) => counts[e] > 0));
  });
});

describe("loadFer2013Csv", () => {
  const row = (seed: number) => Array.from(texture(48, 48, seed)).join(" ");
  let csv: string;
  before(async () => {
    csv = join(tmp, "fer.csv");
    const lines = [
      "emotion,pixels,Usage", // 1
      `3,${row(1)},Training`, // 2
      `0,"${row(2)}",PublicTest`, // 3 (quoted pixels)
      `2,${row(3).split(" ").slice(0, 2300).join(" ")},Training`, // 4: too few pixels
      `9,${row(4)},Training`, // 5: bad emotion
      `4,${row(5).replace(/^\d+ \d+/, "1 300")},Training`, // 6: pixel out of range
      `6,${row(6)},PrivateTest`, // 7
      `5,${row(7)}`, // 8: missing field
      `1,${row(8).replace(/ \d+ /, " x7 ")},Training`, // 9: not a number
      "", // blank
    ];
    await writeFile(csv, lines.join("\r\n"));
  });

  test("loads good rows and reports bad rows with line numbers", async () => {
    const ds = await loadFer2013Csv(csv, { memoryCache: false });
    assert.equal(ds.size, 3);
    assert.deepEqual(ds.paths, ["fer.csv#line2", "fer.csv#line3", "fer.csv#line7"]);
    assert.deepEqual([...ds.labels].map((l) => EMOTIONS[l]), ["happiness", "anger", "neutral"]);
    assert.deepEqual(ds.image(0), texture(48, 48, 1));
    assert.deepEqual(ds.image(1), texture(48, 48, 2));
    const skipped = Object.fromEntries(ds.report.skipped.map((s) => [s.path, s.reason]));
    assert.deepEqual(Object.keys(skipped), ["fer.csv#line4", "fer.csv#line5", "fer.csv#line6", "fer.csv#line8", "fer.csv#line9"]);
    assert.match(skipped["fer.csv#line4"], /expected 2304 pixel values.*got 2300/);
    assert.match(skipped["fer.csv#line5"], /emotion '9'/);
    assert.match(skipped["fer.csv#line6"], /pixel 2 is '300'/);
    assert.match(skipped["fer.csv#line8"], /expected 3 comma-separated fields, got 2/);
    assert.match(skipped["fer.csv#line9"], /'x7'/);
  });

  test("filters by usage, resizes on request, rejects wrong files", async () => {
    const train = await loadFer2013Csv(csv, { usage: "Training", memoryCache: false });
    assert.equal(train.size, 1);
    assert.deepEqual(train.paths, ["fer.csv#line2"]);
    assert.equal(train.report.filteredOut, 2);
    const priv = await loadFer2013Csv(csv, { usage: "PrivateTest", memoryCache: false });
    assert.deepEqual(priv.paths, ["fer.csv#line7"]);
    const small = await loadFer2013Csv(csv, { height: 24, width: 24, memoryCache: false });
    assert.equal(small.images.length, 3 * 24 * 24);

    const noUsage = join(tmp, "nousage.csv");
    await writeFile(noUsage, `emotion,pixels\n3,${row(1)}\n`);
    assert.equal((await loadFer2013Csv(noUsage, { memoryCache: false })).size, 1);
    await assert.rejects(loadFer2013Csv(noUsage, { usage: "Training", memoryCache: false }), /no 'Usage' column/);
    const noEmotion = join(tmp, "test.csv");
    await writeFile(noEmotion, `pixels\n${row(1)}\n`);
    await assert.rejects(loadFer2013Csv(noEmotion), /not a FER2013 CSV.*without 'emotion'/s);
    await assert.rejects(loadFer2013Csv(join(tmp, "missing.csv")), /not found/);
    await assert.rejects(loadFer2013Csv(tmp), /is a folder/);
    await assert.rejects(loadFer2013Csv(csv, { usage: "Test" as never }), /usage must be one of/);
  });
});

// sha256("fernb-face-dataset-v1\0" + u32le[n,h,w,c] + i32le labels + pixels), checked independently with Python hashlib.
const PINNED_FINGERPRINT = "77208b17ea31dcdbf19da062a929d5b06e1cbb92170e16360b853a628a9a02f5";
