/**
 * The `fernb` command line (dist/cli.js, built by `npm test`): run, evaluate, predict, as a user
 * would call them.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs";
import { parseNotebook, serializeNotebook, type NotebookCell } from "../../extension/notebookFormat";
import { createResNet18 } from "../../kernel/fer/resnet";
import { saveModel } from "../../kernel/fer/modelIO";
import { EMOTIONS } from "../../kernel/fer/labels";
import { writeOutputFileSync } from "../../cli/output";

const cli = path.resolve("dist/cli.js");
const work = mkdtempSync(path.join(tmpdir(), "fernb-cli-test-"));

function fernb(args: string[], cwd = work, env: Record<string, string> = {}, timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd, env: { ...process.env, FERNB_CACHE_DIR: path.join(work, "cache"), ...env }, timeout }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const code = (source: string): NotebookCell => ({ kind: "code", language: "typescript", source });

before(async () => {
  await tf.setBackend("cpu");
  // A small model with a card, and a folder data set of 14 faces (2 per emotion, varied sizes and formats).
  const model = createResNet18({ widths: [4, 8, 8, 8], seed: 5 });
  await saveModel(model, path.join(work, "model"), { name: "tiny", classes: [...EMOTIONS], input: { height: 48, width: 48, channels: 1, mean: 0.5, std: 0.25 }, architecture: {} });
  const folders = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  for (const [k, folder] of folders.entries()) {
    mkdirSync(path.join(work, "faces", folder), { recursive: true });
    for (let i = 0; i < 2; i++) {
      const size = 40 + 20 * i;
      const img = sharp({ create: { width: size, height: size, channels: 3, background: { r: 30 * k, g: 100, b: 200 - 20 * k } } });
      await (i === 0 ? img.png() : img.jpeg()).toFile(path.join(work, "faces", folder, `face${i}.${i === 0 ? "png" : "jpg"}`));
    }
  }
});

test("fernb run: runs every cell, writes the executed notebook, leaves the source untouched", async () => {
  const file = path.join(work, "ok.fernb");
  // Metadata with a `__proto__` key (issue #16, defect 10) must come through the run and the save as a key.
  const withProto = JSON.parse('{"__proto__": {"keep": true}, "tags": ["t"]}') as Record<string, unknown>;
  const source = serializeNotebook({ metadata: withProto, cells: [{ kind: "markdown", language: "markdown", source: "# t" }, { ...code("const x: number = 20;\nconsole.log('x is', x);"), metadata: withProto }, code("display.html('<i>hi</i>');\nx + 1")] });
  writeFileSync(file, source);
  const r = await fernb(["run", file]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Cell \[1\] of 2: const x/);
  assert.match(r.stdout, /x is 20/);
  assert.deepEqual(readFileSync(file), Buffer.from(source), "source untouched");
  const executed = parseNotebook(readFileSync(path.join(work, "ok.executed.fernb")));
  const texts = executed.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items.map((i) => `${i.mime}:${new TextDecoder().decode(i.data)}`)));
  assert.ok(texts.includes("application/vnd.code.notebook.stdout:x is 20\n"), JSON.stringify(texts));
  assert.ok(texts.includes("text/html:<i>hi</i>"));
  assert.ok(texts.includes("text/plain:21"));
  assert.deepEqual(executed.cells.map((c) => c.execution?.order), [undefined, 1, 2]);
  const written = JSON.parse(readFileSync(path.join(work, "ok.executed.fernb"), "utf8"));
  assert.ok(Object.hasOwn(written.metadata, "__proto__") && Object.hasOwn(written.cells[1].metadata, "__proto__"), "__proto__ metadata keys kept");
  assert.deepEqual(written.cells[1].metadata.__proto__, { keep: true });
});

test("fernb run: a failing cell stops the run with its error and a non-zero exit code", async () => {
  const file = path.join(work, "bad.fernb");
  writeFileSync(file, serializeNotebook({ metadata: {}, cells: [code("console.log('before');"), code("const y = 1;\nthrow new Error('cell two broke');"), code("console.log('never');")] }));
  const out = path.join(work, "bad-out.fernb");
  const r = await fernb(["run", file, "--out", out]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /Cell \[2\] failed: Error: cell two broke/);
  assert.doesNotMatch(r.stdout, /never/);
  const executed = parseNotebook(readFileSync(out));
  assert.equal(executed.cells[1].execution?.success, false);
  assert.match(new TextDecoder().decode(executed.cells[1].outputs![0].items[0].data), /cell two broke/);
  assert.equal(executed.cells[2].execution, undefined, "later cells did not run");
});

test("fernb run: a malformed notebook is a clear error", async () => {
  const file = path.join(work, "broken.fernb");
  writeFileSync(file, '{"fernb": 1, "cells": [');
  const r = await fernb(["run", file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /broken\.fernb is not a valid fernb notebook: .*left unchanged/);
});

test("fernb evaluate --json: metrics on a folder data set, one JSON object last", async () => {
  const r = await fernb(["evaluate", "--model", "model", "--data", "faces", "--json", "--tta", "flip"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  const json = JSON.parse(lines[lines.length - 1]);
  assert.equal(json.n, 14);
  assert.equal(json.perClass.length, 7);
  assert.equal(json.confusion.flat().reduce((a: number, b: number) => a + b, 0), 14);
  assert.ok(json.accuracy >= 0 && json.accuracy <= 1);
  assert.ok(typeof json.macroF1 === "number");
  assert.ok(json.tta.flip, "TTA reported beside single crop");
});

test("fernb evaluate: clear errors for a missing model or data folder", async () => {
  const noModel = await fernb(["evaluate", "--model", "nope", "--data", "faces"]);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /No model found in nope/);
  const noData = await fernb(["evaluate", "--model", "model"]);
  assert.match(noData.stderr, /needs --data/);
});

test("fernb predict: seven probabilities per image, any size or format; unreadable files reported", async () => {
  writeFileSync(path.join(work, "not-an-image.png"), "hello");
  const r = await fernb(["predict", "--model", "model", "faces/happy", "not-an-image.png", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(json.predictions.length, 2);
  for (const p of json.predictions) {
    const total = Object.values(p.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-4);
    assert.ok(EMOTIONS.includes(p.top));
  }
  assert.equal(json.failures.length, 1);
  assert.match(json.failures[0].error, /not an image|text/i);
  const text = await fernb(["predict", "--model", "model", "faces/sad/face1.jpg"]);
  assert.match(text.stdout, /face1\.jpg: \w+ \(\d+\.\d%\)/);
});

test("fernb audit --model --json: suspects ranked most suspicious first, with suggested labels", async () => {
  const r = await fernb(["audit", "--data", "faces", "--model", "model", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(json.n, 14);
  assert.ok(Array.isArray(json.suspects) && json.suspects.length > 0, "an untrained model disagrees with most labels");
  for (const s of json.suspects) {
    assert.ok(EMOTIONS.includes(s.label) && EMOTIONS.includes(s.suggested), JSON.stringify(s));
    assert.notEqual(s.label, s.suggested);
    assert.match(s.path, /^\w+\/face\d\.(png|jpg)$/);
  }
  // The default ranking: the image of a near-duplicate pair labelled otherwise first (these flat
  // test faces are all near duplicates), then the least confident (most suspicious) first.
  assert.equal(json.ranking.method, "loss");
  const leads = json.suspects.filter((s: { duplicateConflict?: boolean }) => s.duplicateConflict).length;
  assert.ok(json.suspects.slice(0, leads).every((s: { duplicateConflict?: boolean }) => s.duplicateConflict), "duplicate conflicts lead");
  for (const part of [json.suspects.slice(0, leads), json.suspects.slice(leads)]) {
    const scores = part.map((s: { score: number }) => s.score);
    assert.deepEqual(scores, [...scores].sort((a, b) => a - b), "least confident (most suspicious) first");
  }
  const bad = await fernb(["audit", "--data", "faces", "--folds", "1"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--folds must be at least 2/);
});

test("notebooks/curate.fernb runs the curation loop headlessly: label issues, leaks, review grid, embedding map, summary, export; the data set is untouched", { timeout: 300_000 }, async () => {
  const dir = path.join(work, "curate");
  mkdirSync(path.join(dir, "data"), { recursive: true });
  cpSync(path.resolve("notebooks/curate.fernb"), path.join(dir, "curate.fernb"));
  cpSync(path.resolve("notebooks/data/sample"), path.join(dir, "data", "sample"), { recursive: true });
  const before = listFiles(path.join(dir, "data", "sample"));
  const r = await fernb(["run", "curate.fernb", "--out", "curate.executed.fernb"], dir, { FERNB_FOLDS: "2", FERNB_EPOCHS: "1" }, 280_000);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const executed = parseNotebook(readFileSync(path.join(dir, "curate.executed.fernb")));
  const mimes = executed.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items.map((i) => i.mime)));
  assert.ok(mimes.includes("application/vnd.fernb.review+json"), mimes.join(", "));
  // The embedding map of the 280 training faces (UMAP: few enough points), with the suspects marked.
  const mapItem = executed.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items)).find((i) => i.mime === "application/vnd.fernb.embedding+json");
  assert.ok(mapItem, `no embedding map output: ${mimes.join(", ")}`);
  const map = JSON.parse(Buffer.from(mapItem.data).toString("utf8")) as { n: number; projection: { method: string }; xy: string; suspects: number[] };
  assert.equal(map.n, 280);
  assert.equal(map.projection.method, "umap");
  assert.equal(Buffer.from(map.xy, "base64").length, 4 * 280);
  assert.ok(map.suspects.length > 0, "suspects marked");
  const text = executed.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items.filter((i) => i.mime === "text/plain").map((i) => Buffer.from(i.data).toString("utf8")))).join("\n");
  assert.match(text, /280 images; about \d+ labels look wrong/);
  assert.match(text, /Curation of 280 images/);
  const exported = /exported 280 faces \(0 relabelled, 0 left out\) to (.+)/.exec(r.stdout);
  assert.ok(exported, r.stdout);
  const manifest = JSON.parse(readFileSync(path.join(exported[1].trim(), "manifest.json"), "utf8")) as { total: number };
  assert.equal(manifest.total, 280);
  // Nothing in the data set was written, moved or deleted (no review decisions were made headlessly).
  assert.deepEqual(listFiles(path.join(dir, "data", "sample")), before);
});

test("fernb predict --json on a pipe: output far over 64 KiB arrives whole (the process waits for stdout to drain)", async () => {
  const dir = path.join(work, "many");
  mkdirSync(dir, { recursive: true });
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toBuffer();
  const long = "a-rather-long-file-name-so-that-every-prediction-takes-room-".repeat(2);
  for (let i = 0; i < 600; i++) writeFileSync(path.join(dir, `${long}${String(i).padStart(3, "0")}.png`), png);
  // A real OS pipe (as in `fernb … --json | cat`), read by a consumer that takes its time between
  // chunks: a writer that exits without waiting for the pipe to drain loses everything past the
  // pipe's 64 KiB buffer. (execFile's own stdout is a socket pair, which hides the problem.)
  const slowReader = "process.stdin.on('data', (c) => { process.stdin.pause(); process.stdout.write(c); setTimeout(() => process.stdin.resume(), 3); });";
  const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const pipeline = `${q(process.execPath)} ${q(cli)} predict --model model many --json | ${q(process.execPath)} -e ${q(slowReader)}`;
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile("bash", ["-o", "pipefail", "-c", pipeline], { cwd: work, env: { ...process.env, FERNB_CACHE_DIR: path.join(work, "cache") }, maxBuffer: 64 << 20, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }));
  });
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
  assert.ok(Buffer.byteLength(r.stdout) > 200 * 1024, `output larger than three pipe buffers (${Buffer.byteLength(r.stdout)} bytes)`);
  assert.ok(r.stdout.endsWith("}\n"), `the JSON line ends: …${r.stdout.slice(-40)}`);
  const json = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(json.predictions.length, 600);
});

test("every bad argument of every command is refused before any work: clear message, usage, exit 2, nothing written", async () => {
  writeFileSync(path.join(work, "args.fernb"), serializeNotebook({ metadata: {}, cells: [code("console.log('ran');")] }));
  writeFileSync(path.join(work, "deep.fernb"), `{"fernb": 1, "cells": [{"kind": "code", "source": "console.log('ran')", "metadata": ${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}]}`);
  writeFileSync(path.join(work, "blocked.fernb"), serializeNotebook({ metadata: {}, cells: [code("console.log('ran');")] }));
  mkdirSync(path.join(work, "blocked.executed.fernb"), { recursive: true });
  const broken = path.join(work, "broken-model");
  cpSync(path.join(work, "model"), broken, { recursive: true });
  truncateSync(path.join(broken, "weights.bin"), 1000);
  const ev = ["evaluate", "--model", "model", "--data", "faces"];
  const au = ["audit", "--data", "faces"];
  const usage = true;
  const cases: [string[], RegExp, boolean][] = [
    [["frobnicate"], /Unknown command "frobnicate"/, usage],
    [["run"], /fernb run needs a notebook file/, usage],
    [["run", "args.fernb", "other.fernb"], /takes one notebook; unexpected "other\.fernb"/, usage],
    [["run", "nope.fernb"], /No such notebook: nope\.fernb/, usage],
    [["run", "faces"], /faces is a folder, not a notebook/, usage],
    [["run", "/dev/zero"], /\/dev\/zero is not a regular file .* cannot be a notebook/, usage],
    [["run", "args.fernb", "--out", "missing/dir/x.fernb"], /--out missing\/dir\/x\.fernb: the folder .*missing\/dir does not exist/, usage],
    [["run", "args.fernb", "--out", "faces"], /--out faces names a folder; give a file name/, usage],
    [["run", "args.fernb", "--out", "new-folder/"], /names a folder/, usage],
    [["run", "args.fernb", "--out"], /--out needs a value/, usage],
    [["run", "args.fernb", "--out="], /--out needs a value/, usage],
    [["run", "args.fernb", "--out", "/dev/null"], /not a regular file/, usage],
    [["run", "args.fernb", "--html", "missing/r.html"], /--html missing\/r\.html: the folder .* does not exist/, usage],
    [["run", "args.fernb", "--html", "args.fernb"], /--html args\.fernb names the notebook itself/, usage],
    [["run", "args.fernb", "--out", "a.fernb", "--html", "a.fernb"], /--html and --out name the same file/, usage],
    [["run", "args.fernb", "--out", "a.fernb", "--out", "b.fernb"], /--out is given more than once/, usage],
    [["run", "args.fernb", "--bogus"], /Unknown option "--bogus" for fernb run/, usage],
    [["run", "args.fernb", "-o", "x.fernb"], /Unknown option "-o"/, usage],
    [["run", "blocked.fernb"], /The executed notebook cannot be written beside the notebook \(blocked\.executed\.fernb names a folder.*choose where with --out <file>/, usage],
    [["run", "deep.fernb"], /deep\.fernb is not a valid fernb notebook: it nests more than 100 levels/, false],
    [[...ev, "--tta"], /--tta needs a value/, usage],
    [[...ev, "--tta", "crop"], /Unknown --tta "crop"/, usage],
    [[...ev, "--tta", "flip,flip"], /--tta lists flip twice/, usage],
    [[...ev, "--tta", "flip,"], /Unknown --tta ""/, usage],
    [[...ev, "--backend", "gpu"], /--backend must be one of .*wasm.*, not "gpu"/, usage],
    [[...ev, "--json=yes"], /--json takes no value/, usage],
    [[...ev, "extra"], /fernb evaluate takes no file arguments/, usage],
    [["evaluate", "--data", "faces"], /needs --model/, usage],
    [["evaluate", "--model", "model"], /needs --data/, usage],
    [["evaluate", "--model", "model", "--data", "nope"], /No such data folder: nope/, usage],
    [["evaluate", "--model", "model", "--data", "args.fernb"], /args\.fernb is not a folder/, usage],
    [["evaluate", "--model", "nope", "--data", "faces"], /No model found in nope/, false],
    [["evaluate", "--model", "broken-model", "--data", "faces"], /broken-model\/weights\.bin is truncated/, false],
    [["predict", "--model", "model"], /needs one or more images or folders/, usage],
    [["predict", "--model", "model", "nope.png"], /No such image or folder: "nope\.png"/, usage],
    [["predict", "--model"], /--model needs a value/, usage],
    [["predict", "--model", "broken-model", "faces"], /broken-model\/weights\.bin is truncated/, false],
    [[...au, "--limit", "-1"], /--limit must be a whole number at least 1, not "-1"/, usage],
    [[...au, "--limit", "0"], /--limit must be a whole number at least 1, not "0"/, usage],
    [[...au, "--limit", "1.5"], /--limit must be a whole number/, usage],
    [[...au, "--limit", "1e3"], /--limit must be a whole number/, usage],
    [[...au, "--limit"], /--limit needs a value/, usage],
    [[...au, "--folds", "1"], /--folds must be at least 2/, usage],
    [[...au, "--folds", "x"], /--folds must be a whole number from 2/, usage],
    [[...au, "--epochs", "0"], /--epochs must be a whole number from 1/, usage],
    [[...au, "--model", "model", "--folds", "3"], /--folds is for cross-validation training; it cannot be combined with --model/, usage],
    [[...au, "--model", "broken-model"], /weights\.bin is truncated/, false],
    [["audit", "--data", "nope"], /No such data folder: nope/, usage],
    [["audit"], /needs --data/, usage],
  ];
  const before = readdirSync(work).sort();
  for (let i = 0; i < cases.length; i += 4) {
    await Promise.all(cases.slice(i, i + 4).map(async ([args, message, withUsage]) => {
      const r = await fernb(args);
      const what = `fernb ${args.join(" ")}: ${r.stderr}`;
      assert.equal(r.code, 2, what);
      assert.match(r.stderr, message, what);
      if (withUsage) assert.match(r.stderr, /Usage:\n {2}fernb /, what);
      // Refused before any work: no backend chosen, no kernel started, no cell run, no training.
      assert.doesNotMatch(r.stderr, /^backend:/m, what);
      assert.doesNotMatch(r.stdout, /Kernel ready|ran|fold/, what);
    }));
  }
  assert.deepEqual(readdirSync(work).sort(), before, "nothing written: no output, no stray temporary file");
});

test("writeOutputFileSync: a write that fails leaves no temporary file behind and says which file", () => {
  const dir = path.join(work, "out-fail");
  mkdirSync(path.join(dir, "target.fernb"), { recursive: true }); // a folder where the file should go: rename fails
  assert.throws(() => writeOutputFileSync(path.join(dir, "target.fernb"), new Uint8Array([1, 2, 3])), /could not write .*target\.fernb/);
  assert.deepEqual(readdirSync(dir), ["target.fernb"], "no .tmp file left");
  writeOutputFileSync(path.join(dir, "ok.fernb"), new Uint8Array([1, 2, 3]));
  assert.deepEqual([...readFileSync(path.join(dir, "ok.fernb"))], [1, 2, 3]);
  assert.ok(!existsSync(path.join(dir, "missing", "x")), "sanity");
});

function listFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).sort().map((f) => {
    const full = path.join(root, f);
    return statSync(full).isFile() ? `${f}:${readFileSync(full).length}` : f;
  });
}
