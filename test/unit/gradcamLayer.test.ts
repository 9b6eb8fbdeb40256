/**
 * Grad-CAM's default layer (≥ 6×6 grid, or the card's), the card's `gradcam` entry, its
 * faithfulness figures, and cards without machine paths: what saveModel writes and what ships.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { createResNet18 } from "../../kernel/fer/resnet";
import { loadModel, saveModel, updateModelCard, type ModelCard } from "../../kernel/fer/modelIO";
import { camLayerCandidates, chooseCamLayer, defaultCamLayer, layerGrid, MIN_CAM_GRID, rememberCard } from "../../kernel/fer/cam/layers";
import { measureCamLayers } from "../../kernel/fer/cam/measure";
import { explain } from "../../kernel/fer/cam/index";
import { faithfulness } from "../../kernel/fer/cam/faithfulness";
import { isMachinePath, machinePathsIn, withoutMachinePaths } from "../../kernel/fer/cardPaths";
import { FaceDataset } from "../../kernel/fer/dataset";
import { EMOTIONS } from "../../kernel/fer/labels";
import { DISPLAY } from "../../kernel/display";

const work = mkdtempSync(path.join(tmpdir(), "fernb-gradcam-layer-"));
const SHIPPED = path.resolve("models/fer2013-resnet18");
const INPUT = { height: 48, width: 48, channels: 1 as const, mean: 0.5, std: 0.25 };

before(async () => {
  await tf.setBackend("cpu");
});

/** A few 48×48 faces: a bright square whose place depends on the label. */
function squares(n: number): FaceDataset {
  const px = 48 * 48;
  const images = new Uint8Array(n * px).fill(40);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 7;
    const y0 = 4 + 5 * (i % 7), x0 = 30 - 4 * (i % 7);
    for (let y = y0; y < y0 + 10; y++) for (let x = x0; x < x0 + 10; x++) images[i * px + y * 48 + x] = 220;
  }
  return new FaceDataset({ root: work, height: 48, width: 48, channels: 1, images, labels, paths: Array.from({ length: n }, (_, i) => `${EMOTIONS[i % 7]}/f${i}.png`) });
}

test("the default Grad-CAM layer of a new ResNet-18 on 48×48 faces is the deepest block output with at least a 6×6 grid, for every stem", () => {
  const expected = { imagenet: "layer2_1_out", "imagenet-nopool": "layer3_1_out", stride2: "layer3_1_out", cifar: "layer4_1_out" } as const;
  for (const stem of ["imagenet", "imagenet-nopool", "stride2", "cifar"] as const) {
    const m = createResNet18({ stem, widths: [4, 4, 4, 4] });
    const pick = chooseCamLayer(m);
    assert.equal(pick.layer, expected[stem], stem);
    assert.deepEqual(pick.grid, [6, 6], stem);
    assert.equal(defaultCamLayer(m), expected[stem], stem);
    // Only residual-block outputs are candidates, in graph order, finest first.
    const grids = camLayerCandidates(m).map((c) => c.grid[0]);
    assert.deepEqual(grids, [...grids].sort((a, b) => b - a), stem);
    m.dispose();
  }
  // The ImageNet stem without its max-pool takes every weight of an ImageNet-stem model, at 2× its resolution.
  const pooled = createResNet18({ widths: [4, 4, 4, 4] });
  const unpooled = createResNet18({ stem: "imagenet-nopool", widths: [4, 4, 4, 4], seed: 7 });
  assert.equal(unpooled.name, "resnet18_imagenet_nopool");
  assert.deepEqual(unpooled.getWeights().map((w) => w.shape), pooled.getWeights().map((w) => w.shape));
  unpooled.setWeights(pooled.getWeights());
  assert.deepEqual(layerGrid(unpooled, "layer1_1_out"), [24, 24]);
  assert.deepEqual(layerGrid(pooled, "layer1_1_out"), [12, 12]);
  pooled.dispose();
  unpooled.dispose();
  // Inputs too small for a 6×6 grid anywhere: the finest grid there is.
  const tiny = createResNet18({ height: 16, width: 16, widths: [4, 4, 4, 4] });
  assert.deepEqual(chooseCamLayer(tiny), { layer: "layer1_0_out", grid: [4, 4] });
  tiny.dispose();
});

test("saveModel writes the card's gradcam entry and no machine path; loadModel's model explains at the card's layer", async () => {
  const model = createResNet18({ widths: [4, 4, 4, 4], seed: 3 });
  const dir = path.join(work, "model");
  const recipe = { epochs: 2, checkpointDir: path.join(homedir(), ".cache", "fernb", "runs", "fer2013-c3"), log: "C:\\Users\\me\\runs\\x.log", home: "~/runs/y", note: "fer2013/val is relative" };
  const saved = await saveModel(model, dir, { name: "t", classes: [...EMOTIONS], input: INPUT, architecture: {}, training: { recipe, folders: [path.join(homedir(), "faces", "train")] } });
  const written = JSON.parse(readFileSync(path.join(dir, "card.json"), "utf8")) as ModelCard & { training: { recipe: typeof recipe; folders: string[] } };
  assert.deepEqual(written.gradcam, { layer: "layer2_1_out", grid: [6, 6] });
  assert.deepEqual(saved.gradcam, written.gradcam);
  assert.deepEqual(written.training.recipe, { epochs: 2, checkpointDir: "fer2013-c3", log: "x.log", home: "y", note: "fer2013/val is relative" });
  assert.deepEqual(written.training.folders, ["train"]);
  assert.deepEqual(machinePathsIn(written), []);

  // updateModelCard cannot put one back either.
  await updateModelCard(dir, (c) => ({ ...c, metrics: { validation: { data: "/srv/data/fer2013/val" } } }));
  const updated = JSON.parse(readFileSync(path.join(dir, "card.json"), "utf8")) as ModelCard;
  assert.deepEqual(updated.metrics, { validation: { data: "val" } });

  // A card naming another layer: the loaded model explains there unless told otherwise.
  await updateModelCard(dir, (c) => ({ ...c, gradcam: { layer: "layer1_1_out", grid: [12, 12] } }));
  const { model: loaded, card } = await loadModel(dir);
  assert.equal(defaultCamLayer(loaded), "layer1_1_out");
  const faces = squares(3);
  const predictions = faces.paths.map((p, i) => ({ path: p, label: faces.labels[i], predicted: faces.labels[i], probs: Array(7).fill(1 / 7) }));
  const report = explain(loaded, faces, predictions, { normalization: card.input });
  assert.equal(report.layer, "layer1_1_out");
  assert.deepEqual(report.grid, [12, 12]);
  assert.equal(explain(loaded, faces, predictions, { normalization: card.input, layer: "layer3_1_out" }).layer, "layer3_1_out", "a named layer wins");
  // A card naming a layer the model lacks is ignored, not an error.
  rememberCard(loaded, { ...card, gradcam: { layer: "no_such_layer", grid: [9, 9] } });
  assert.equal(defaultCamLayer(loaded), "layer2_1_out");
  model.dispose();
  loaded.dispose();
});

test("the Grad-CAM payload names the layer once and its grid; the summary says what was measured", () => {
  const model = createResNet18({ widths: [4, 4, 4, 4], seed: 4 });
  const faces = squares(2);
  const predictions = faces.paths.map((p, i) => ({ path: p, label: faces.labels[i], predicted: (faces.labels[i] + 1) % 7, probs: Array(7).fill(1 / 7) }));
  const report = explain(model, faces, predictions, { normalization: INPUT });
  const [item] = report[DISPLAY]();
  const payload = JSON.parse(item.data as string) as { title: string; layer: string; grid: number[]; items: { cams: { faithfulness: Record<string, number> }[] }[] };
  assert.equal(payload.layer, "layer2_1_out");
  assert.deepEqual(payload.grid, [6, 6]);
  assert.ok(!payload.title.includes(payload.layer), `the title leaves the layer to the header line: ${payload.title}`);
  const f = payload.items[0].cams[0].faithfulness;
  assert.deepEqual(Object.keys(f).sort(), ["camDrop", "fraction", "randomDrop", "shiftedDrop"]);
  assert.equal(f.fraction, 0.2);
  const summary = report.summary();
  assert.match(summary, /^Grad-CAM at layer layer2_1_out \(6×6 grid\) for 2 faces · hiding the 20% of each face its map marks lowers the model's confidence in that class by -?\d+ points on average; the same area moved elsewhere: -?\d+; 20% random pixels: -?\d+ · \d of 4 maps explain less than random pixels$/);
  model.dispose();
});

test("faithfulness: blanking what the model uses costs more than the same area elsewhere or random pixels", () => {
  // A model that only looks at the top-left 12×12 corner: its mean brightness is the class-0 logit.
  const input = tf.input({ shape: [48, 48, 1] });
  const crop = tf.layers.cropping2D({ cropping: [[0, 36], [0, 36]] }).apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(crop) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 7, kernelInitializer: tf.initializers.constant({ value: 0 }), biasInitializer: "zeros", name: "fc" }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: tf.layers.activation({ activation: "softmax" }).apply(logits) as tf.SymbolicTensor });
  const fc = model.getLayer("fc");
  fc.setWeights([tf.tensor2d([[8, 0, 0, 0, 0, 0, 0]]), tf.zeros([7])]);
  const x = tf.fill([1, 48, 48, 1], 1) as tf.Tensor4D;
  const cam = new Float32Array(48 * 48);
  for (let y = 0; y < 22; y++) for (let xx = 0; xx < 22; xx++) cam[y * 48 + xx] = 1; // marks the corner (≥ 20% of the face)
  const f = faithfulness(model, x, cam, 0);
  assert.ok(f.camDrop > 0.5, `hiding the corner drops class 0 by ${f.camDrop}`);
  assert.ok(f.camDrop > f.shiftedDrop! + 0.3 && f.camDrop > f.randomDrop + 0.3, JSON.stringify(f));
  x.dispose();
  model.dispose();
});

test("measureCamLayers scores every candidate layer on a data set", async () => {
  const model = createResNet18({ widths: [4, 4, 4, 4], seed: 6 });
  const faces = squares(5);
  const r = await measureCamLayers(model, faces, { normalization: INPUT, layers: ["layer2_1_out", "layer4_1_out"], count: 4 });
  assert.deepEqual(r.map((x) => [x.layer, x.grid, x.faces]), [["layer2_1_out", [6, 6], 4], ["layer4_1_out", [2, 2], 4]]);
  for (const x of r) {
    for (const v of [x.camDrop, x.randomDrop, x.shiftedDrop]) assert.ok(v >= -1 && v <= 1, JSON.stringify(x));
    for (const v of [x.beatsRandom, x.beatsShifted, x.empty]) assert.ok(v >= 0 && v <= 1, JSON.stringify(x));
  }
  model.dispose();
});

test("machine paths: what counts as one, and the shipped card has none", () => {
  for (const p of [path.join(homedir(), ".cache", "x"), "/home/me", "~/runs", "~", "C:\\Users\\me", "D:/data", "\\\\server\\share", "file:///tmp/x"]) assert.ok(isMachinePath(p), p);
  for (const p of ["fer2013/val", "fer2013-c3", "AMD EPYC", "linux x64", "validation macro-F1 (the val split below)", "a/b"]) assert.ok(!isMachinePath(p), p);
  assert.deepEqual(withoutMachinePaths({ a: ["/x/y/z", 3, null], b: { c: "/" } }), { a: ["z", 3, null], b: {} });

  const text = readFileSync(path.join(SHIPPED, "card.json"), "utf8");
  const card = JSON.parse(text) as ModelCard;
  assert.deepEqual(machinePathsIn(card), [], "no absolute path in the shipped card");
  assert.doesNotMatch(text, /\/root\b|\/home\/|\/Users\/|[A-Za-z]:\\\\|~\//, "no home folder in the shipped card");
});

test("the shipped card records a Grad-CAM layer of at least 6×6 that its model has, with the measured faithfulness", async () => {
  const { model, card } = await loadModel(SHIPPED);
  const g = card.gradcam!;
  assert.ok(g, "card.gradcam");
  assert.ok(Math.min(...g.grid) >= MIN_CAM_GRID, `grid ${g.grid}`);
  assert.deepEqual(layerGrid(model, g.layer), g.grid, "the grid is the layer's own");
  assert.equal(defaultCamLayer(model), g.layer, "explain and review use it by default");
  // The choice was measured: the figures and what they were measured on are in the card.
  const f = g.faithfulness as { data: string; camDrop: number; shiftedDrop: number; randomDrop: number; beatsShifted: number };
  assert.match(f.data, /fer2013\/val, \d+ random faces/);
  assert.ok(f.camDrop > f.shiftedDrop && f.beatsShifted > 0.5, "the maps beat the same region moved elsewhere");
  model.dispose();
});
