/**
 * Exact, cheap trainer check against PyTorch: the same initial weights, the same batches, the same
 * learning rates, a few optimizer steps of fernb's real training step (createTrainingStep: training-
 * mode forward, label-smoothed loss, gradients, SGD Nesterov with weight decay on kernels), and
 * bench/parity_step.py repeats them in PyTorch on a model with TensorFlow's "same" padding and
 * reports, per step, how far the two trainers' losses, weights and batch-norm statistics are apart
 * (relative to the size of the update), then the eval-mode logits. Seconds, not epochs. Usage:
 *   node --import tsx bench/parity_step.ts [steps=3] [seed=1] [lr=0.05] [stem=imagenet] [init=pytorch|he]
 * Real faces from FERNB_FER2013/train when they are there, else random pixels.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createResNet18, initBackend, loadFolderDataset, tf, type Stem } from "../kernel/fer/index";
import { createTrainingStep, DEFAULT_TRAIN_OPTIONS } from "../kernel/fer/train";
import { logitsModel } from "../kernel/fer/resnet";

async function main(): Promise<void> {
  const a = Object.fromEntries(process.argv.slice(2).map((s) => s.split("=", 2) as [string, string]));
  const steps = Number(a.steps ?? 3);
  const seed = Number(a.seed ?? 1);
  const lr = Number(a.lr ?? 0.05);
  const batch = 64;
  const backend = await initBackend();
  const root = process.env.FERNB_FER2013 ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-parity-step-"));
  const x = new Float32Array(steps * batch * 48 * 48);
  const y = new Uint8Array(steps * batch);
  if (fs.existsSync(path.join(root, "train"))) {
    const all = await loadFolderDataset(path.join(root, "train"));
    for (let i = 0; i < steps * batch; i++) {
      const j = (i * 7919) % all.size;
      const img = all.image(j);
      for (let k = 0; k < 2304; k++) x[i * 2304 + k] = (img[k] / 255 - 0.5) / 0.25;
      y[i] = all.labels[j];
    }
  } else {
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 12.9898) * 2;
    for (let i = 0; i < y.length; i++) y[i] = (i * 5) % 7;
  }
  fs.writeFileSync(path.join(dir, "x.bin"), Buffer.from(x.buffer));
  fs.writeFileSync(path.join(dir, "y.bin"), y);

  const model = createResNet18({ seed, stem: (a.stem ?? "imagenet") as Stem, ...(a.init ? { init: a.init as "pytorch" | "he" } : {}) });
  const dump = (name: string) => {
    const layers: object[] = [];
    const parts: Buffer[] = [];
    let offset = 0;
    for (const layer of model.layers) {
      for (const [k, w] of layer.getWeights().entries()) {
        const data = w.dataSync() as Float32Array;
        layers.push({ layer: layer.name, index: k, shape: w.shape, offset });
        parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        offset += data.length;
      }
    }
    fs.writeFileSync(path.join(dir, `${name}.bin`), Buffer.concat(parts));
    return layers;
  };
  const evalLogits = (name: string) => {
    const out = tf.tidy(() => logitsModel(model).predict(tf.tensor4d(x.subarray(0, batch * 2304), [batch, 48, 48, 1])) as tf.Tensor);
    fs.writeFileSync(path.join(dir, `${name}.bin`), Buffer.from((out.dataSync() as Float32Array).buffer));
    out.dispose();
  };
  const manifest = dump("w0");
  evalLogits("eval0");
  const options = { ...DEFAULT_TRAIN_OPTIONS };
  const { step } = createTrainingStep(model, options);
  const losses: number[] = [];
  const lrs: number[] = [];
  for (let s = 0; s < steps; s++) {
    const xb = tf.tensor4d(x.subarray(s * batch * 2304, (s + 1) * batch * 2304), [batch, 48, 48, 1]);
    const yb = tf.tensor1d(Int32Array.from(y.subarray(s * batch, (s + 1) * batch)), "int32");
    const stepLr = lr * (s + 1) / steps;
    const { loss } = await step(xb, yb, stepLr);
    losses.push(loss);
    lrs.push(stepLr);
    tf.dispose([xb, yb]);
    dump(`w${s + 1}`);
  }
  evalLogits(`eval${steps}`);
  fs.writeFileSync(
    path.join(dir, "fernb.json"),
    JSON.stringify({ backend: backend.description, stem: a.stem ?? "imagenet", steps, batch, lrs, losses, manifest, momentum: options.momentum, weightDecay: options.weightDecay, labelSmoothing: options.labelSmoothing }),
  );
  try {
    execFileSync("/usr/bin/python3", [path.join(__dirname, "parity_step.py"), dir], { stdio: "inherit" });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
