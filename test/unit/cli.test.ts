/**
 * The `fernb` command line (dist/cli.js, built by `npm test`): run, evaluate, predict, as a user
 * would call them.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs";
import { parseNotebook, serializeNotebook, type NotebookCell } from "../../extension/notebookFormat";
import { createResNet18 } from "../../kernel/fer/resnet";
import { saveModel } from "../../kernel/fer/modelIO";
import { EMOTIONS } from "../../kernel/fer/labels";

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
  const source = serializeNotebook({ metadata: {}, cells: [{ kind: "markdown", language: "markdown", source: "# t" }, code("const x: number = 20;\nconsole.log('x is', x);"), code("display.html('<i>hi</i>');\nx + 1")] });
  writeFileSync(file, source);
  const r = await fernb(["run", file]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /\[1\/2\] Cell 2/);
  assert.match(r.stdout, /x is 20/);
  assert.deepEqual(readFileSync(file), Buffer.from(source), "source untouched");
  const executed = parseNotebook(readFileSync(path.join(work, "ok.executed.fernb")));
  const texts = executed.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items.map((i) => `${i.mime}:${new TextDecoder().decode(i.data)}`)));
  assert.ok(texts.includes("application/vnd.code.notebook.stdout:x is 20\n"), JSON.stringify(texts));
  assert.ok(texts.includes("text/html:<i>hi</i>"));
  assert.ok(texts.includes("text/plain:21"));
  assert.deepEqual(executed.cells.map((c) => c.execution?.order), [undefined, 1, 2]);
});

test("fernb run: a failing cell stops the run with its error and a non-zero exit code", async () => {
  const file = path.join(work, "bad.fernb");
  writeFileSync(file, serializeNotebook({ metadata: {}, cells: [code("console.log('before');"), code("const y = 1;\nthrow new Error('cell two broke');"), code("console.log('never');")] }));
  const out = path.join(work, "bad-out.fernb");
  const r = await fernb(["run", file, "--out", out]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /Cell 2 failed: Error: cell two broke/);
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
  const scores = json.suspects.map((s: { score: number }) => s.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => a - b), "least confident (most suspicious) first");
  const bad = await fernb(["audit", "--data", "faces", "--folds", "1"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--folds must be at least 2/);
});

test("notebooks/curate.fernb runs the curation loop headlessly: label issues, leaks, review grid, summary, export; the data set is untouched", { timeout: 300_000 }, async () => {
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

function listFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).sort().map((f) => {
    const full = path.join(root, f);
    return statSync(full).isFile() ? `${f}:${readFileSync(full).length}` : f;
  });
}
