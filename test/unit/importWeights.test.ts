import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { createResNet18 } from "../../kernel/fer/resnet";
import { fernbWeightName, importResNet18Weights, type SourceTensor } from "../../kernel/fer/importWeights";
import { Rng } from "../../kernel/fer/rng";

const widths: [number, number, number, number] = [4, 8, 8, 8];

/** A torchvision-style state dict for a ResNet-18 with these widths, 3-channel input, 1000 classes. */
function torchvisionStateDict(): Map<string, SourceTensor> {
  const rng = new Rng(11);
  const t = (...shape: number[]): SourceTensor => ({ shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)) });
  const sd = new Map<string, SourceTensor>();
  const bn = (p: string, c: number) => {
    sd.set(`${p}.weight`, t(c));
    sd.set(`${p}.bias`, t(c));
    sd.set(`${p}.running_mean`, t(c));
    sd.set(`${p}.running_var`, { shape: [c], values: Float32Array.from({ length: c }, () => rng.uniform(0.5, 2)) });
  };
  sd.set("conv1.weight", t(widths[0], 3, 7, 7));
  bn("bn1", widths[0]);
  let cin = widths[0];
  for (let s = 0; s < 4; s++) {
    for (let b = 0; b < 2; b++) {
      const p = `layer${s + 1}.${b}`;
      sd.set(`${p}.conv1.weight`, t(widths[s], cin, 3, 3));
      bn(`${p}.bn1`, widths[s]);
      sd.set(`${p}.conv2.weight`, t(widths[s], widths[s], 3, 3));
      bn(`${p}.bn2`, widths[s]);
      if (b === 0 && s > 0) {
        sd.set(`${p}.downsample.0.weight`, t(widths[s], cin, 1, 1));
        bn(`${p}.downsample.1`, widths[s]);
      }
      cin = widths[s];
    }
  }
  sd.set("fc.weight", t(1000, widths[3]));
  sd.set("fc.bias", t(1000));
  return sd;
}

function safetensorsBytes(sd: Map<string, SourceTensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, t] of sd) {
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.values.length * 4] };
    offset += t.values.length * 4;
  }
  header["layer1.0.bn1.num_batches_tracked"] = { dtype: "I64", shape: [], data_offsets: [offset, offset + 8] };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset + 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of sd.values()) {
    out.set(new Uint8Array(t.values.buffer), at);
    at += t.values.length * 4;
  }
  return out;
}

/** Minimal protobuf writer for an ONNX ModelProto holding only graph initializers. */
function onnxBytes(sd: Map<string, SourceTensor>): Uint8Array {
  const varint = (n: number) => {
    const b: number[] = [];
    while (n > 127) {
      b.push((n % 128) | 128);
      n = Math.floor(n / 128);
    }
    b.push(n);
    return b;
  };
  const field = (num: number, payload: number[] | Uint8Array) => [...varint(num * 8 + 2), ...varint(payload.length), ...payload];
  const graph: number[] = [];
  let k = 0;
  for (const [name, t] of sd) {
    const tensor: number[] = [];
    for (const d of t.shape) tensor.push(...varint(8), ...varint(d)); // dims, unpacked
    tensor.push(...varint(16), ...varint(1)); // data_type FLOAT
    tensor.push(...field(8, [...new TextEncoder().encode(name)]));
    // Alternate raw_data and float_data encodings.
    tensor.push(...field(k++ % 2 ? 9 : 4, [...new Uint8Array(t.values.buffer)]));
    graph.push(...field(5, tensor));
  }
  return Uint8Array.from([...varint(8), ...varint(8), ...field(7, graph)]); // ir_version, graph
}

before(async () => {
  await tf.setBackend("cpu");
});

test("torchvision names map to fernb's layer names", () => {
  assert.equal(fernbWeightName("conv1.weight"), "conv1/kernel");
  assert.equal(fernbWeightName("bn1.running_var"), "bn1/moving_variance");
  assert.equal(fernbWeightName("layer3.1.bn2.weight"), "layer3_1_bn2/gamma");
  assert.equal(fernbWeightName("layer2.0.downsample.0.weight"), "layer2_0_downsample_0/kernel");
  assert.equal(fernbWeightName("layer2.0.downsample.1.bias"), "layer2_0_downsample_1/beta");
  assert.equal(fernbWeightName("module.fc.bias"), "fc/bias");
  assert.equal(fernbWeightName("layer1.0.bn1.num_batches_tracked"), undefined);
});

for (const format of ["safetensors", "onnx"] as const) {
  test(`imports ImageNet-style ResNet-18 weights from ${format}: layouts converted, first conv made grayscale, classifier kept`, async () => {
    const sd = torchvisionStateDict();
    const file = path.join(mkdtempSync(path.join(tmpdir(), "fernb-import-")), `resnet18.${format}`);
    writeFileSync(file, format === "onnx" ? onnxBytes(sd) : safetensorsBytes(sd));
    const model = createResNet18({ widths, stem: "imagenet", channels: 1 });
    const fcBefore = model.getLayer("fc").getWeights()[0].dataSync().slice();
    const report = await importResNet18Weights(model, file);
    const expectedLoaded = [...sd.keys()].filter((n) => !n.startsWith("fc.")).length;
    assert.equal(report.loaded.length, expectedLoaded);
    assert.ok(report.kept.some((k) => k.weight === "fc/kernel" && /1000 classes/.test(k.reason)));
    assert.deepEqual(model.getLayer("fc").getWeights()[0].dataSync(), fcBefore, "classifier untouched");

    // conv1: OIHW [4,3,7,7] → HWIO [7,7,1,4], RGB summed.
    const src = sd.get("conv1.weight")!;
    const k1 = model.getLayer("conv1").getWeights()[0];
    assert.deepEqual(k1.shape, [7, 7, 1, 4]);
    const kv = k1.dataSync();
    for (const [o, y, x] of [[0, 0, 0], [3, 6, 2], [1, 4, 5]]) {
      const sum = [0, 1, 2].reduce((acc, c) => acc + src.values[((o * 3 + c) * 7 + y) * 7 + x], 0);
      assert.ok(Math.abs(kv[(y * 7 + x) * 4 + o] - sum) < 1e-5, `conv1[${y},${x},0,${o}]`);
    }
    // A 3×3 conv: [O,I,3,3] → [3,3,I,O].
    const c = sd.get("layer2.1.conv2.weight")!;
    const k2 = model.getLayer("layer2_1_conv2").getWeights()[0];
    assert.deepEqual(k2.shape, [3, 3, 8, 8]);
    assert.ok(Math.abs(k2.dataSync()[((2 * 3 + 1) * 8 + 5) * 8 + 6] - c.values[((6 * 8 + 5) * 3 + 2) * 3 + 1]) < 1e-6);
    // Batch norm statistics.
    const [gamma, beta, mean, variance] = model.getLayer("layer4_0_downsample_1").getWeights().map((w) => Array.from(w.dataSync()));
    assert.deepEqual(gamma, Array.from(sd.get("layer4.0.downsample.1.weight")!.values));
    assert.deepEqual(beta, Array.from(sd.get("layer4.0.downsample.1.bias")!.values));
    assert.deepEqual(mean, Array.from(sd.get("layer4.0.downsample.1.running_mean")!.values));
    assert.deepEqual(variance, Array.from(sd.get("layer4.0.downsample.1.running_var")!.values));
    const probs = model.predict(tf.ones([1, 48, 48, 1])) as tf.Tensor;
    assert.ok(Number.isFinite(probs.sum().dataSync()[0]));
  });
}

test("a file that is not weights, or whose names do not match, gets a clear error", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fernb-import-"));
  const model = createResNet18({ widths });
  writeFileSync(path.join(dir, "bad.safetensors"), "hello world, these are not weights");
  await assert.rejects(importResNet18Weights(model, path.join(dir, "bad.safetensors")), /not a safetensors file/);
  const other = new Map<string, SourceTensor>([["encoder.block.0.weight", { shape: [2], values: new Float32Array(2) }]]);
  writeFileSync(path.join(dir, "other.safetensors"), safetensorsBytes(other));
  await assert.rejects(importResNet18Weights(model, path.join(dir, "other.safetensors")), /No weight of other\.safetensors matched/);
});
