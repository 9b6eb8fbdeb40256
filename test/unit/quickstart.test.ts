/**
 * `npm start` runs notebooks/quickstart.fernb headless: it must start from the shipped FER2013 model
 * and show a model worth looking at. Runs the real notebook with the real CLI (dist/cli.js, built by
 * `npm test`) on the bundled sample, leaving the sample and the notebook untouched.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseNotebook } from "../../extension/notebookFormat";

const cli = path.resolve("dist/cli.js");
const work = mkdtempSync(path.join(tmpdir(), "fernb-quickstart-test-"));

function listFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).sort().map((f) => {
    const full = path.join(root, f);
    return statSync(full).isFile() ? `${f}:${statSync(full).size}` : f;
  });
}

test("the quick start evaluates the shipped model (≥ 50% on the sample's validation faces), fine-tunes it, and explains it at the card's ≥ 6×6 Grad-CAM layer", { timeout: 900_000 }, async () => {
  const notebook = path.resolve("notebooks/quickstart.fernb");
  const source = readFileSync(notebook);
  const sample = path.resolve("notebooks/data/sample");
  const sampleBefore = listFiles(sample);
  const out = path.join(work, "quickstart.executed.fernb");
  const html = path.join(work, "quickstart.report.html");
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, "run", notebook, "--out", out, "--html", html], { env: { ...process.env, FERNB_CACHE_DIR: path.join(work, "cache") }, timeout: 880_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stderr + r.stdout.slice(-4000));

  const executed = parseNotebook(readFileSync(out));
  const items = executed.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items));
  const text = (mime: string) => items.filter((i) => i.mime === mime).map((i) => Buffer.from(i.data).toString("utf8"));
  const stdout = text("application/vnd.code.notebook.stdout").join("");
  // It is the shipped model, with its card's Grad-CAM layer.
  assert.match(stdout, /: resnet18_\w+, Grad-CAM at layer\d_\d_out \(\d+×\d+ grid\)/);
  // Before: the shipped model on the 105 validation faces, single crop.
  const before = /n=105 accuracy ([\d.]+)%/.exec(stdout);
  assert.ok(before, stdout.slice(0, 3000));
  assert.ok(Number(before[1]) >= 50, `the quick start's model scores ${before[1]}% on the sample's validation faces (needs ≥ 50%)`);
  // After fine-tuning: the confusion matrix shown is of a model still ≥ 50% (not a model that calls everything one class).
  const confusion = text("application/vnd.fernb.confusion+json").map((d) => JSON.parse(d) as { n: number; accuracy: number; counts: number[][] });
  assert.equal(confusion.length, 1, "one confusion matrix: the model after fine-tuning");
  assert.equal(confusion[0].n, 105);
  assert.ok(confusion[0].accuracy >= 0.5, `after fine-tuning: ${confusion[0].accuracy}`);
  const predictedClasses = confusion[0].counts[0].map((_, p) => confusion[0].counts.reduce((a, row) => a + row[p], 0)).filter((n) => n > 0).length;
  assert.ok(predictedClasses >= 6, `it predicts ${predictedClasses} of the 7 classes`);
  const changed = text("text/markdown").join("\n");
  assert.match(changed, /\| accuracy, single crop \| [\d.]+% \| [\d.]+% \|/);
  assert.match(stdout, /Changed answers: \d+ wrong before and right now, \d+ right before and wrong now\./);
  // Grad-CAM at the card's layer, at least 6×6; the review grid uses the same layer.
  const gradcam = text("application/vnd.fernb.gradcam+json").map((d) => JSON.parse(d) as { layer: string; grid: number[]; items: unknown[] });
  assert.equal(gradcam.length, 1);
  const card = JSON.parse(readFileSync(path.resolve("models/fer2013-resnet18/card.json"), "utf8")) as { gradcam: { layer: string; grid: number[] } };
  assert.equal(gradcam[0].layer, card.gradcam.layer);
  assert.deepEqual(gradcam[0].grid, card.gradcam.grid);
  assert.ok(Math.min(...gradcam[0].grid) >= 6);
  assert.equal(gradcam[0].items.length, 6);
  const reviewGrid = text("application/vnd.fernb.review+json").map((d) => JSON.parse(d) as { cam?: { layer: string } });
  assert.equal(reviewGrid.length, 1);
  assert.equal(reviewGrid[0].cam?.layer, card.gradcam.layer);
  // The report was written; the notebook and the sample were not touched.
  assert.ok(statSync(html).size > 10_000);
  assert.deepEqual(readFileSync(notebook), source);
  assert.deepEqual(listFiles(sample), sampleBefore);
});
