/**
 * Damaged model folders (issue #16, defect 9): every way a model folder can be broken gives an
 * error that names the file and says what is wrong, never a raw tfjs or JavaScript error; a card
 * whose classes are in another order than EMOTIONS is mapped by name, unknown or repeated class
 * names are refused.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { createResNet18 } from "../../kernel/fer/resnet";
import { inspectModelFolder, loadModel, ModelFolderError, saveModel } from "../../kernel/fer/modelIO";
import { EMOTIONS } from "../../kernel/fer/labels";

const work = mkdtempSync(path.join(tmpdir(), "fernb-modelfolder-"));
const good = path.join(work, "good");
const input = { height: 48, width: 48, channels: 1 as const, mean: 0.5, std: 0.25 };

before(async () => {
  await tf.setBackend("cpu");
  await saveModel(createResNet18({ widths: [4, 8, 8, 8], seed: 3 }), good, { name: "tiny", classes: [...EMOTIONS], input, architecture: {} });
});

let n = 0;
/** A copy of the good model folder, damaged by `damage(dir)`. */
function damaged(damage: (dir: string) => void): string {
  const dir = path.join(work, `case-${n++}`);
  cpSync(good, dir, { recursive: true });
  damage(dir);
  return dir;
}

const editJson = (file: string, edit: (j: Record<string, unknown>) => unknown) => writeFileSync(file, JSON.stringify(edit(JSON.parse(readFileSync(file, "utf8")))));

async function loadError(dir: string): Promise<Error> {
  try {
    const { model } = await loadModel(dir);
    model.dispose();
  } catch (e) {
    assert.ok(e instanceof ModelFolderError, `a ModelFolderError, not ${(e as Error).name}: ${(e as Error).message}`);
    return e;
  }
  assert.fail(`${dir} loaded although damaged`);
}

const cases: [string, (dir: string) => void, RegExp][] = [
  ["truncated weights.bin", (d) => truncateSync(path.join(d, "weights.bin"), Math.floor(statSync(path.join(d, "weights.bin")).size * 0.8)), /weights\.bin is truncated: it holds [\d,]+ bytes, but .*model\.json needs [\d,]+ bytes/],
  ["weights.bin too long", (d) => writeFileSync(path.join(d, "weights.bin"), Buffer.concat([readFileSync(path.join(d, "weights.bin")), Buffer.alloc(16)])), /weights\.bin is too long/],
  ["missing weights.bin", (d) => rmSync(path.join(d, "weights.bin")), /weights\.bin is missing: .*model\.json lists it/],
  ["model.json of {}", (d) => writeFileSync(path.join(d, "model.json"), "{}"), /model\.json is not a TensorFlow\.js layers model: it has no "modelTopology"/],
  ["model.json not JSON", (d) => writeFileSync(path.join(d, "model.json"), '{"modelTopology": '), /model\.json is not valid JSON/],
  ["model.json an array", (d) => writeFileSync(path.join(d, "model.json"), "[]"), /model\.json is not a TensorFlow\.js layers model: it must be a JSON object/],
  ["manifest without paths", (d) => editJson(path.join(d, "model.json"), (j) => ({ ...j, weightsManifest: [{ weights: [] }] })), /model\.json .*weightsManifest\[0\] must have "paths" and "weights"/],
  ["manifest path outside the folder", (d) => editJson(path.join(d, "model.json"), (j) => ({ ...j, weightsManifest: (j.weightsManifest as { paths: string[] }[]).map((g) => ({ ...g, paths: ["../good/weights.bin"] })) })), /model\.json .*"\.\.\/good\/weights\.bin", which is outside the model folder/],
  ["manifest with an unknown dtype", (d) => editJson(path.join(d, "model.json"), (j) => ({ ...j, weightsManifest: (j.weightsManifest as { weights: { dtype: string }[] }[]).map((g) => ({ ...g, weights: g.weights.map((w, i) => (i === 0 ? { ...w, dtype: "string" } : w)) })) })), /model\.json .*dtype "string"/],
  ["topology that is not a model", (d) => editJson(path.join(d, "model.json"), (j) => ({ ...j, modelTopology: { class_name: "Nonsense" } })), /model\.json could not be built into a model/],
  ["missing card.json", (d) => rmSync(path.join(d, "card.json")), /has a model but no card\.json/],
  ["card.json not JSON", (d) => writeFileSync(path.join(d, "card.json"), "{ oops"), /card\.json is not valid JSON/],
  ["card.json a link to a device", (d) => { rmSync(path.join(d, "card.json")); symlinkSync("/dev/zero", path.join(d, "card.json")); }, /card\.json is not a regular file/],
  ["model.json a link to a device", (d) => { rmSync(path.join(d, "model.json")); symlinkSync("/dev/zero", path.join(d, "model.json")); }, /model\.json is not a regular file/],
  ["card.json null", (d) => writeFileSync(path.join(d, "card.json"), "null"), /card\.json is not a valid fernb model card: it must be a JSON object/],
  ["card without input", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, input: undefined })), /card\.json .*no "input" object/],
  ["card with channels 2", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, input: { ...input, channels: 2 } })), /card\.json .*"input\.channels" must be 1 .* or 3/],
  ["card with std 0", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, input: { ...input, std: 0 } })), /card\.json .*"input\.std" must be a number above 0/],
  ["card input size unlike the model's", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, input: { ...input, channels: 3 } })), /card\.json says the model takes 48×48 images with 3 channel\(s\), but .*model\.json's model takes 48×48×1/],
  ["card without classes", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, classes: undefined })), /card\.json .*"classes" must list/],
  ["card with an unknown class", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, classes: [...EMOTIONS.slice(0, 6), "contempt"] })), /card\.json .*"contempt", which is not one of fernb's emotions/],
  ["card with a class named constructor", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, classes: [...EMOTIONS.slice(0, 6), "constructor"] })), /card\.json .*"constructor", which is not one of/],
  ["card with a class twice", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, classes: [...EMOTIONS.slice(0, 6), "anger"] })), /card\.json .*lists "anger" twice/],
  ["card with six classes", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, classes: EMOTIONS.slice(0, 6) })), /card\.json .*lists 6 classes; .*missing: neutral/],
  ["card of another format", (d) => editJson(path.join(d, "card.json"), (j) => ({ ...j, format: "keras" })), /card\.json .*"format" is "keras"/],
];

for (const [name, damage, message] of cases) {
  test(`a damaged model folder is refused with the file named: ${name}`, async () => {
    const dir = damaged(damage);
    const e = await loadError(dir);
    assert.match(e.message, message);
    assert.ok(e.message.includes(dir), `the message names the folder's file: ${e.message}`);
    // inspectModelFolder (what the CLI checks before any work) finds the same problems, except those
    // only the built model shows.
    if (!/could not be built|says the model takes/.test(e.message)) await assert.rejects(inspectModelFolder(dir), (x: Error) => x.message === e.message);
  });
}

test("a missing or non-folder model path is a clear error", async () => {
  await assert.rejects(loadModel(path.join(work, "nope")), /No model found in .*nope: the folder does not exist/);
  writeFileSync(path.join(work, "file"), "x");
  await assert.rejects(loadModel(path.join(work, "file")), /is not a model folder: it is a file/);
});

test("a card whose classes are in another order than EMOTIONS is mapped by name: same probabilities per emotion", async () => {
  const order = ["neutral", "surprise", "sadness", "happiness", "fear", "disgust", "anger"];
  // The same weights, with the final layer's columns stored in `order` (as another tool might save them).
  const source = await loadModel(good);
  const fc = source.model.getLayer("fc");
  const [kernel, bias] = fc.getWeights();
  const perm = tf.tensor1d(order.map((c) => EMOTIONS.indexOf(c as never)), "int32");
  fc.setWeights([tf.gather(kernel, perm, 1), tf.gather(bias, perm, 0)]);
  const dir = path.join(work, "reordered");
  await saveModel(source.model, dir, { ...source.card, classes: order as never });
  const x = tf.randomUniform([3, 48, 48, 1], 0, 1, "float32", 7);
  const reference = (await loadModel(good)).model.predict(x) as tf.Tensor;
  const loaded = await loadModel(dir);
  assert.deepEqual(loaded.card.classes, [...EMOTIONS], "the card handed out lists EMOTIONS, the model's columns now in that order");
  const mapped = loaded.model.predict(x) as tf.Tensor;
  const a = await reference.array() as number[][];
  const b = await mapped.array() as number[][];
  for (let i = 0; i < 3; i++) for (let j = 0; j < EMOTIONS.length; j++) assert.ok(Math.abs(a[i][j] - b[i][j]) < 1e-5, `image ${i}, ${EMOTIONS[j]}: ${a[i][j]} vs ${b[i][j]}`);
  // Without the mapping the columns would differ (the order is not a symmetry of this model).
  const stored = (await (source.model.predict(x) as tf.Tensor).array()) as number[][];
  assert.ok(stored[0].some((v, j) => Math.abs(v - a[0][j]) > 1e-4), "the stored order really differs");
});

test("damaged safetensors weight files name the tensor and what is wrong, never a raw TypeError or RangeError", async () => {
  const { readSafetensors } = await import("../../kernel/fer/importWeights");
  const file = (header: unknown, data: Uint8Array) => {
    const h = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + h.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(data, 8 + h.length);
    return out;
  };
  const data = new Uint8Array(16);
  assert.equal(readSafetensors(file({ "conv1.weight": { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] } }, data), "ok.safetensors").get("conv1.weight")?.values.length, 4);
  const cases: [unknown, RegExp][] = [
    [{ "conv1.weight": { dtype: "F32", shape: [4, 4], data_offsets: [0, 16] } }, /bad\.safetensors: tensor conv1\.weight has 16 bytes of data, but its shape \[4,4\] of F32 needs 64/],
    [{ "conv1.weight": { dtype: "F32", shape: [2, 2] } }, /bad\.safetensors: the header entry of tensor "conv1\.weight" is damaged/],
    [{ "conv1.weight": "x" }, /the header entry of tensor "conv1\.weight" is damaged/],
    [{ "conv1.weight": { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, /is damaged/],
    [[1, 2], /its header is not a JSON object/],
    [{ "conv1.weight": { dtype: "F32", shape: [8], data_offsets: [0, 32] } }, /points outside the file/],
  ];
  for (const [header, message] of cases) assert.throws(() => readSafetensors(file(header, data), "bad.safetensors"), message, JSON.stringify(header));
});
