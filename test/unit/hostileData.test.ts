/**
 * Data folders made by someone hostile (issue #16): symbolic links out of the data set, link loops,
 * dangling links, hard links, and names that are JavaScript's own (`__proto__`, `constructor`,
 * `toString`) or awkward (spaces, unicode, newlines). Seeded and deterministic. Whatever happens:
 * nothing is written outside the folder a write belongs to, every image-named file is either
 * loaded/predicted or listed with its reason, and user text is never taken for an emotion because
 * Object.prototype happens to have a member of that name.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { loadFolderDataset } from "../../kernel/fer/dataset";
import { encodePng } from "../../kernel/fer/images";
import { canonicalEmotion, EMOTIONS } from "../../kernel/fer/labels";
import { CurationLedger } from "../../kernel/fer/curation/ledger";
import { exportCurated } from "../../kernel/fer/curation/export";
import { handleReviewMessage, review, REVIEW_MIME } from "../../kernel/fer/curation/review";
import { imageFiles, predictFiles, type PredictionFailure } from "../../kernel/fer/predict";
import { saveModel, updateModelCard } from "../../kernel/fer/modelIO";
import { createResNet18 } from "../../kernel/fer/resnet";
import { Rng } from "../../kernel/fer/rng";
import { safeWritePath, UnsafeWriteError } from "../../kernel/fer/safeWrite";
import { DISPLAY } from "../../kernel/display";

const base = mkdtempSync(path.join(tmpdir(), "fernb-hostile-"));
/** Files a hostile data set points at: they must come out of every test byte for byte as they went in. */
const outside = path.join(base, "outside");
const victim = path.join(outside, "victim.txt");
const rng = new Rng(16);

async function face(file: string): Promise<void> {
  const px = new Uint8Array(64);
  for (let i = 0; i < 64; i++) px[i] = rng.int(256);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, await encodePng(px, 8, 8, 1));
}

/** Every file under `dir` (links not followed) with the sha256 of what it holds or points to. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = lstatSync(p);
      if (s.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = s.isSymbolicLink() ? "link" : createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

let outsideBefore: Record<string, string>;
let n = 0;
/** A fresh data set folder: `happy/` and `sad/` with two faces each. */
async function dataset(): Promise<string> {
  const root = path.join(base, `data-${++n}`);
  for (const rel of ["happy/h0.png", "happy/h1.png", "sad/s0.png", "sad/s1.png"]) await face(path.join(root, rel));
  return root;
}
const load = (root: string) => loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false });

before(async () => {
  await tf.setBackend("cpu");
  mkdirSync(path.join(outside, "dir"), { recursive: true });
  writeFileSync(victim, "the user's own file\n");
  await face(path.join(outside, "face.png"));
  outsideBefore = snapshot(outside);
});

after(() => {
  // The check that matters most, after every test: nothing outside the data sets changed.
  assert.deepEqual(snapshot(outside), outsideBefore, "nothing was written outside the data set");
  rmSync(base, { recursive: true, force: true });
});

test("a ledger that is a symbolic link out of the data set is never appended to (notebook and review grid)", async () => {
  const root = await dataset();
  symlinkSync(victim, path.join(root, ".fernb-ledger.jsonl"));
  // Loading is not stopped by it: the raw data, with the ledger listed as not applied (never read).
  const ds = await load(root);
  assert.equal(ds.size, 4);
  assert.equal(ds.curation, undefined);
  const note = ds.report.skipped.find((s) => s.path === ".fernb-ledger.jsonl");
  assert.ok(note && /curation ledger not applied: Refusing to read .*symbolic link to .*victim\.txt/.test(note.reason), JSON.stringify(ds.report.skipped));
  assert.match(ds.summary(), /\.fernb-ledger\.jsonl: curation ledger not applied/);
  const ledger = await CurationLedger.open(ds);
  await assert.rejects(ledger.exclude(ds.paths[0]), (e: Error) => e instanceof UnsafeWriteError && /Refusing to write the curation ledger/.test(e.message) && /symbolic link to .*victim\.txt/.test(e.message) && e.message.includes(path.join(root, ".fernb-ledger.jsonl")));
  await assert.rejects(ledger.relabel(ds.paths[0], "sadness"), UnsafeWriteError);
  await assert.rejects(ledger.read(), /Refusing to read the curation ledger/);
  // The review grid reads and appends through the same ledger: refused in the same words.
  await assert.rejects(review(ds), /symbolic link to .*victim\.txt/);
  assert.equal(readFileSync(victim, "utf8"), "the user's own file\n");

  // A link that appears after the grid was opened: the decision is refused, nothing written.
  rmSync(path.join(root, ".fernb-ledger.jsonl"));
  const grid = await review(await load(root));
  const { reviewId } = JSON.parse((grid as unknown as { [DISPLAY](): { mime: string; data: string }[] })[DISPLAY]().find((i) => i.mime === REVIEW_MIME)!.data);
  symlinkSync(victim, path.join(root, ".fernb-ledger.jsonl"));
  const reply = await handleReviewMessage({ reviewId, action: "exclude", path: "happy/h0.png" });
  assert.equal(reply.ok, false);
  assert.match((reply as { error: string }).error, /symbolic link to .*victim\.txt/);
  assert.equal(readFileSync(victim, "utf8"), "the user's own file\n");
});

test("a dangling ledger link, a ledger link loop and a hard-linked ledger are refused; a link inside the data set is followed", async () => {
  const root = await dataset();
  const ledgerFile = path.join(root, ".fernb-ledger.jsonl");
  const planted = path.join(outside, "planted.jsonl");
  symlinkSync(planted, ledgerFile);
  await assert.rejects((await CurationLedger.open(await load(root))).exclude("happy/h0.png"), /does not exist/);
  assert.equal(existsSync(planted), false, "the link's target was not created");

  rmSync(ledgerFile);
  symlinkSync(".fernb-ledger.jsonl", ledgerFile); // a loop
  const looped = await load(root); // not fatal: loaded raw, with a word
  assert.equal(looped.size, 4);
  assert.ok(looped.report.skipped.some((s) => s.path === ".fernb-ledger.jsonl" && /ledger not applied.*loop/.test(s.reason)), JSON.stringify(looped.report.skipped));
  await assert.rejects((await CurationLedger.open(looped)).exclude("happy/h0.png"), /loop/);

  rmSync(ledgerFile);
  const hard = path.join(outside, "hard.jsonl");
  writeFileSync(hard, "");
  linkSync(hard, ledgerFile);
  await assert.rejects((await CurationLedger.open(await load(root))).exclude("happy/h0.png"), /hard links/);
  assert.equal(readFileSync(hard, "utf8"), "");
  rmSync(hard);
  rmSync(ledgerFile);

  // A link that stays inside the data set is fine: the decision lands in its target.
  mkdirSync(path.join(root, "notes"));
  symlinkSync(path.join("notes", "decisions.jsonl"), ledgerFile);
  writeFileSync(path.join(root, "notes", "decisions.jsonl"), "");
  await (await CurationLedger.open(await load(root))).exclude("happy/h0.png");
  assert.equal(readFileSync(path.join(root, "notes", "decisions.jsonl"), "utf8").trim().split("\n").length, 1);
  const curated = await load(root);
  assert.deepEqual(curated.paths, ["happy/h1.png", "sad/s0.png", "sad/s1.png"]);
});

test("curated exports, model folders and --out files never write through a link out of their folder", async () => {
  const root = await dataset();
  const ds = await load(root);
  // An export folder whose class folder is a link elsewhere.
  const out = path.join(base, `export-${n}`);
  mkdirSync(out);
  symlinkSync(path.join(outside, "dir"), path.join(out, "happiness"));
  await assert.rejects(exportCurated(ds, undefined, out, { allowNonEmpty: true }), (e: Error) => e instanceof UnsafeWriteError && /export folder/.test(e.message) && e.message.includes(path.join(out, "happiness")));
  // An export folder that is a link into the data set.
  const into = path.join(base, `into-${n}`);
  symlinkSync(path.join(root, "happy"), into);
  await assert.rejects(exportCurated(ds, undefined, into), /inside the dataset/);
  assert.deepEqual(readdirSync(path.join(root, "happy")).sort(), ["h0.png", "h1.png"]);
  // A dangling link where the manifest goes.
  const out2 = path.join(base, `export2-${n}`);
  mkdirSync(out2);
  symlinkSync(path.join(outside, "manifest-planted.json"), path.join(out2, "manifest.json"));
  await assert.rejects(exportCurated(ds, undefined, out2, { allowNonEmpty: true }), /already exists/);
  assert.equal(existsSync(path.join(outside, "manifest-planted.json")), false);

  // A model folder whose files link elsewhere.
  const model = createResNet18({ height: 8, width: 8, channels: 1, stem: "cifar", widths: [4, 4, 4, 4], seed: 1 });
  const card = { name: "tiny", classes: [...EMOTIONS], input: { height: 8, width: 8, channels: 1 as const, mean: 0.5, std: 0.25 }, architecture: {} };
  const modelDir = path.join(base, `model-${n}`);
  mkdirSync(modelDir);
  symlinkSync(victim, path.join(modelDir, "weights.bin"));
  await assert.rejects(saveModel(model, modelDir, card, { overwrite: true }), (e: Error) => e instanceof UnsafeWriteError && e.message.includes("weights.bin"));
  rmSync(path.join(modelDir, "weights.bin"));
  await saveModel(model, modelDir, card, { overwrite: true });
  const cardElsewhere = path.join(outside, "card.json");
  writeFileSync(cardElsewhere, readFileSync(path.join(modelDir, "card.json")));
  rmSync(path.join(modelDir, "card.json"));
  symlinkSync(cardElsewhere, path.join(modelDir, "card.json"));
  const cardBefore = readFileSync(cardElsewhere, "utf8");
  await assert.rejects(updateModelCard(modelDir, (c) => ({ ...c, name: "changed" })), UnsafeWriteError);
  assert.equal(readFileSync(cardElsewhere, "utf8"), cardBefore);
  rmSync(cardElsewhere);
  model.dispose();

  // The helper every writer (ledger, export, model files, checkpoints, `fernb run --out/--html`) calls.
  const folder = path.join(base, `out-${n}`);
  mkdirSync(folder);
  symlinkSync(victim, path.join(folder, "executed.fernb"));
  symlinkSync(path.join(outside, "nothing-yet"), path.join(folder, "dangling.fernb"));
  symlinkSync("self.fernb", path.join(folder, "self.fernb"));
  symlinkSync(outside, path.join(folder, "elsewhere"));
  assert.throws(() => safeWritePath(path.join(folder, "executed.fernb")), /symbolic link to .*victim\.txt/);
  assert.throws(() => safeWritePath(path.join(folder, "dangling.fernb")), /does not exist/);
  assert.throws(() => safeWritePath(path.join(folder, "self.fernb")), /loop/);
  assert.throws(() => safeWritePath(path.join(folder, "elsewhere", "x.fernb"), folder), /its folder leads, through a symbolic link/);
  assert.equal(safeWritePath(path.join(folder, "new.fernb")), path.join(folder, "new.fernb"));
});

test("folders and labels named after Object.prototype's members are not emotions", async () => {
  const root = await dataset();
  const names = Object.getOwnPropertyNames(Object.prototype).filter((name) => name !== "__proto__");
  for (const name of [...names, "__proto__", "Constructor", " toString "]) {
    assert.equal(canonicalEmotion(name), undefined, name);
    if (name.trim() === name) await face(path.join(root, name, "x.png"));
  }
  const ds = await load(root);
  assert.deepEqual(ds.paths, ["happy/h0.png", "happy/h1.png", "sad/s0.png", "sad/s1.png"]);
  assert.deepEqual([...ds.labels], [3, 3, 4, 4]);
  for (const name of [...names, "__proto__"]) assert.ok(ds.report.unknownFolders.includes(name), `${name}/ is reported as not an emotion`);

  const ledger = await CurationLedger.open(ds);
  for (const label of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
    await assert.rejects(ledger.relabel("happy/h0.png", label), (e: Error) => e instanceof RangeError && /newLabel must be one of anger, disgust/.test(e.message) && e.message.includes(JSON.stringify(label)), label);
  }
  assert.equal(existsSync(ledger.file), false, "nothing was written for the refused labels");
  // A ledger line naming such a label (written by hand) is reported as invalid, never applied.
  const line = { v: 1, time: new Date(0).toISOString(), path: "happy/h0.png", hash: "x", oldLabel: "happiness", action: "relabel", newLabel: "constructor", source: "manual", id: "hand-1" };
  writeFileSync(ledger.file, JSON.stringify(line) + "\n" + JSON.stringify({ ...line, id: "hand-2", oldLabel: "__proto__", action: "exclude", newLabel: undefined }) + "\n");
  const read = await ledger.read();
  assert.equal(read.entries.length, 0);
  assert.deepEqual(read.report.invalidLines.map((l) => l.line), [1, 2]);
  assert.match(read.report.invalidLines[0].reason, /newLabel "constructor", not an emotion/);
});

test("images with spaces, unicode and newlines in their names load, and decisions about them replay", async () => {
  const root = await dataset();
  const odd = ["happy/a face.png", "happy/visage-été-😀.png", "happy/two\nlines.png", "sad/ tab\there .png"];
  for (const rel of odd) await face(path.join(root, rel));
  const ds = await load(root);
  for (const rel of odd) assert.ok(ds.paths.includes(rel), JSON.stringify(rel));
  assert.equal(ds.size, 8);
  const ledger = await CurationLedger.open(ds);
  await ledger.exclude("happy/two\nlines.png");
  await ledger.relabel("happy/visage-été-😀.png", "surprise");
  const curated = await load(root);
  assert.equal(curated.size, 7);
  assert.equal(curated.paths.includes("happy/two\nlines.png"), false);
  assert.equal(curated.label(curated.paths.indexOf("happy/visage-été-😀.png")), "surprise");
  assert.equal(readFileSync(ledger.file, "utf8").trim().split("\n").length, 2, "one line per decision, even for a name with a newline");
});

test("a `#` in a file name does not make an image a CSV row: hashed and exported as a file, its links checked", async () => {
  const root = await dataset();
  // 16×16, so a re-encoded copy (the dataset holds 8×8 pixels) would differ from the file.
  const px = new Uint8Array(256).map((_, i) => (i * 7) % 256);
  writeFileSync(path.join(root, "happy", "a#line1.png"), await encodePng(px, 16, 16, 1));
  symlinkSync(path.join(outside, "face.png"), path.join(root, "sad", "b#line2.png"));
  const ds = await load(root);
  assert.ok(ds.paths.includes("happy/a#line1.png") && ds.paths.includes("sad/b#line2.png"));
  const ledger = await CurationLedger.open(ds);
  const entry = await ledger.exclude("happy/a#line1.png");
  assert.equal(entry.hash, createHash("sha256").update(readFileSync(path.join(root, "happy", "a#line1.png"))).digest("hex"), "the file's sha256, not a pixel hash");
  await ledger.undo(entry);
  const out = path.join(base, `export-hash-${n}`);
  await exportCurated(await load(root), undefined, out);
  assert.deepEqual(readFileSync(path.join(out, "happiness", "a#line1.png")), readFileSync(path.join(root, "happy", "a#line1.png")), "copied byte for byte");
  // The review grid's check that a file resolves inside the data set applies to it too.
  const grid = await review(await load(root));
  const { reviewId } = JSON.parse((grid as unknown as { [DISPLAY](): { mime: string; data: string }[] })[DISPLAY]().find((i) => i.mime === REVIEW_MIME)!.data);
  const reply = await handleReviewMessage({ reviewId, action: "exclude", path: "sad/b#line2.png" });
  assert.equal(reply.ok, false);
  assert.match((reply as { error: string }).error, /resolves outside the dataset root/);
});

test("symbolic links among the images: loops, dangling links and links to folders are listed with their reason, never fatal; links to faces elsewhere load", async () => {
  const root = await dataset();
  symlinkSync("loop.png", path.join(root, "happy", "loop.png"));
  symlinkSync(path.join(outside, "gone.png"), path.join(root, "happy", "dangling.png"));
  symlinkSync(path.join(outside, "face.png"), path.join(root, "sad", "elsewhere.png"));
  symlinkSync(path.join(outside, "dir"), path.join(root, "sad", "folder.png"));
  symlinkSync("neutral", path.join(root, "neutral")); // a folder link loop named like an emotion
  const ds = await load(root);
  assert.deepEqual(ds.paths, ["happy/h0.png", "happy/h1.png", "sad/elsewhere.png", "sad/s0.png", "sad/s1.png"]);
  const reasons = Object.fromEntries(ds.report.skipped.map((s) => [s.path, s.reason]));
  assert.match(reasons["happy/loop.png"], /symbolic link loop/);
  assert.match(reasons["happy/dangling.png"], /symbolic link to a file that does not exist/);
  assert.ok(ds.report.ignoredExamples!.includes("sad/folder.png/ (nested folder)"), JSON.stringify(ds.report.ignoredExamples));
  // Every image-named entry is accounted for: loaded, or listed with its reason.
  const named = ["happy", "sad"].flatMap((d) => readdirSync(path.join(root, d)).map((f) => `${d}/${f}`)).sort();
  assert.deepEqual([...ds.paths, ...ds.report.skipped.map((s) => s.path), "sad/folder.png"].sort(), named);
  assert.match(ds.summary(), /Skipped 2 files that could not be loaded/);
});

test("fernb predict's file list keeps every image: hidden entries do not shift it, loops and folder cycles are reported", async () => {
  const root = await dataset();
  writeFileSync(path.join(root, ".fernb-ledger.jsonl"), "");
  writeFileSync(path.join(root, ".DS_Store"), "");
  await face(path.join(root, "happy", ".hidden.png"));
  symlinkSync("loop.png", path.join(root, "sad", "loop.png"));
  symlinkSync("..", path.join(root, "sad", "cycle")); // a folder link back up: listed once
  symlinkSync(path.join(outside, "gone.png"), path.join(root, "dangling.png"));
  await face(path.join(root, "sub folder é", "x y.png"));
  const files = await imageFiles([root]);
  const rel = files.map((f) => path.relative(root, f)).sort();
  assert.deepEqual(rel, ["dangling.png", "happy/h0.png", "happy/h1.png", "sad/loop.png", "sad/s0.png", "sad/s1.png", "sub folder é/x y.png"]);
  // What cannot be read is reported by predictFiles with its reason, not dropped.
  const model = createResNet18({ height: 8, width: 8, channels: 1, stem: "cifar", widths: [4, 4, 4, 4], seed: 2 });
  const card = { input: { height: 8, width: 8, channels: 1 as const, mean: 0.5, std: 0.25 } } as Parameters<typeof predictFiles>[1];
  const { predictions, failures } = await predictFiles(model, card, files);
  model.dispose();
  assert.equal(predictions.length + failures.length, files.length);
  const why = Object.fromEntries(failures.map((f) => [path.relative(root, f.path), f.error]));
  assert.deepEqual(Object.keys(why).sort(), ["dangling.png", "sad/loop.png"]);
  assert.match(why["sad/loop.png"], /symbolic link loop/);
  assert.match(why["dangling.png"], /not found/);
  // A folder that cannot be listed is reported too (when the caller collects failures).
  const locked = path.join(root, "locked");
  mkdirSync(locked);
  await face(path.join(locked, "z.png"));
  const { chmodSync } = await import("node:fs");
  chmodSync(locked, 0o000);
  try {
    let readable = true;
    try {
      readdirSync(locked);
    } catch {
      readable = false;
    }
    if (!readable) {
      // (root can read anything, so this part only runs for an ordinary user)
      const unlisted: PredictionFailure[] = [];
      const again = await imageFiles([root], unlisted);
      assert.equal(again.length, files.length);
      assert.deepEqual(unlisted.map((f) => [path.relative(root, f.path), /permission denied/.test(f.error)]), [["locked", true]]);
      await assert.rejects(imageFiles([root]), /Cannot list .*locked/);
    }
  } finally {
    chmodSync(locked, 0o755);
  }
});

function fernb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.resolve("dist/cli.js"), ...args], { timeout: 300_000, env: { ...process.env, FERNB_CACHE_DIR: path.join(base, "cache"), FERNB_BACKEND: "cpu" } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

test("fernb evaluate and fernb audit --model warn in the same words about unreadable files and folders that are not emotions", { timeout: 600_000 }, async () => {
  const root = await dataset();
  for (const e of ["angry", "fear"]) await face(path.join(root, e, "f.png"));
  writeFileSync(path.join(root, "happy", "broken.png"), "not a png");
  symlinkSync("loop.png", path.join(root, "sad", "loop.png"));
  await face(path.join(root, "constructor", "c.png"));
  const model = createResNet18({ height: 8, width: 8, channels: 1, stem: "cifar", widths: [4, 4, 4, 4], seed: 3 });
  const modelDir = path.join(base, `cli-model-${n}`);
  await saveModel(model, modelDir, { name: "tiny", classes: [...EMOTIONS], input: { height: 8, width: 8, channels: 1, mean: 0.5, std: 0.25 }, architecture: {} });
  model.dispose();
  // The warnings about what the load left out (audit may add its own about the model).
  const warnings = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("warning: ") && /left out/.test(l)).sort();
  const ev = await fernb(["evaluate", "--model", modelDir, "--data", root, "--json"]);
  assert.equal(ev.code, 0, ev.stderr);
  const au = await fernb(["audit", "--model", modelDir, "--data", root, "--json"]);
  assert.equal(au.code, 0, au.stderr);
  for (const r of [ev, au]) {
    const w = warnings(r.stderr);
    assert.equal(w.length, 2, r.stderr);
    assert.match(w.join("\n"), /folders that are not emotions were left out: constructor/);
    assert.match(w.join("\n"), /2 file\(s\) could not be read and were left out \(happy\/broken\.png: .*; sad\/loop\.png: .*symbolic link loop/);
  }
  assert.deepEqual(warnings(au.stderr), warnings(ev.stderr), "the same words");

  // fernb predict goes on past what it cannot read, given by name or found in a folder, and says why.
  writeFileSync(path.join(root, ".fernb-ledger.jsonl"), "");
  const pr = await fernb(["predict", "--model", modelDir, path.join(root, "sad", "loop.png"), root, "--json"]);
  assert.equal(pr.code, 0, pr.stderr);
  const pj = JSON.parse(pr.stdout.trim().split("\n").pop()!) as { predictions: { path: string }[]; failures: { path: string; error: string }[] };
  const predicted = pj.predictions.map((p) => path.relative(root, p.path)).sort();
  assert.deepEqual(predicted, ["angry/f.png", "constructor/c.png", "fear/f.png", "happy/h0.png", "happy/h1.png", "sad/s0.png", "sad/s1.png"]);
  const failed = pj.failures.map((f) => [path.relative(root, f.path), f.error]);
  assert.deepEqual(failed.map(([p]) => p).sort(), ["happy/broken.png", "sad/loop.png", "sad/loop.png"]);
  for (const [p, error] of failed) if (p === "sad/loop.png") assert.match(error, /symbolic link loop|ELOOP/);
  const missing = await fernb(["predict", "--model", modelDir, path.join(root, "nothing-here.png")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /No such image or folder/);
  assert.equal(JSON.parse(ev.stdout.trim().split("\n").pop()!).n, 6);
  assert.equal(JSON.parse(au.stdout.trim().split("\n").pop()!).n, 6);
});
