/**
 * Trainer parity: fernb's trainer (kernel/fer/train.ts, ResNet-18 of kernel/fer/resnet.ts) against
 * PyTorch (bench/recipe.py, ResNet-18 of bench/torch_resnet18.py) on identical inputs and the same
 * recipe: FER2013 Training minus 3,000 held-out faces (bench/faceSplit.ts, Rng(2024)); every epoch
 * the same faces through fernb's "standard" augmenter, for both; SGD Nesterov lr 0.05, momentum
 * 0.9, warm-up 0.3 epochs then cosine, label smoothing 0.1, weight decay 5e-4 on kernels, batch 64;
 * inputs normalised by the training faces' mean and std. Each seed seeds both trainers (their own
 * initialisation and shuffling). Prints a line per run and one JSON line last with both held-out
 * accuracies (%) and their difference. Usage:
 *   npm run bench:parity -- [epochs=2] [seeds=1,2] [only=fernb|pytorch]
 *     fernb's model:  [init=pytorch|he] [zeroGamma=0|1]   (default: DEFAULT_RESNET's)
 *     PyTorch's side: [torch=reference|fernb-net|fernb-init] (fernb-net: fernb's exact network,
 *       TensorFlow padding, PyTorch's init; fernb-init: that network from fernb's initial weights)
 * FERNB_FER2013 names the data folder (default ../shared/data/fer2013). CPU: about 4 + 10 minutes
 * per seed and epoch on 2 cores (PyTorch + fernb).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createResNet18, DEFAULT_RESNET, datasetNormalization, initBackend, predictProbabilities, tf, train, type TrainingData } from "../kernel/fer/index";
import { FACE_BYTES, loadFaceSplit, writeFaceSplit } from "./faceSplit";

/** Faces served from byte buffers; `epoch` picks which buffer (the augmented pass of that epoch). */
class ByteFaces implements TrainingData {
  readonly height = 48;
  readonly width = 48;
  readonly channels = 1;
  epoch = 0;
  constructor(
    private readonly passes: Buffer[],
    readonly labels: Int32Array,
    private readonly name: string,
  ) {}
  get size(): number {
    return this.labels.length;
  }
  image(i: number): Uint8Array {
    const pass = this.passes[Math.min(this.epoch, this.passes.length - 1)];
    return pass.subarray(i * FACE_BYTES, (i + 1) * FACE_BYTES);
  }
  fingerprint(): string {
    return this.name;
  }
}

/** fernb's weights as bench/fernb_torch.py reads them: <prefix>.json (manifest) and <prefix>.bin. */
function writeWeights(model: tf.LayersModel, prefix: string): void {
  const manifest: object[] = [];
  const parts: Buffer[] = [];
  let offset = 0;
  for (const layer of model.layers) {
    for (const [index, w] of layer.getWeights().entries()) {
      const data = w.dataSync() as Float32Array;
      manifest.push({ layer: layer.name, index, shape: w.shape, offset });
      parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      offset += data.length;
    }
  }
  fs.writeFileSync(`${prefix}.json`, JSON.stringify(manifest));
  fs.writeFileSync(`${prefix}.bin`, Buffer.concat(parts));
}

const pct = (x: number) => Math.round(x * 1000) / 10;

async function main(): Promise<void> {
  const a = Object.fromEntries(process.argv.slice(2).map((s) => s.split("=", 2) as [string, string]));
  const known = ["epochs", "seeds", "only", "init", "zeroGamma", "torch"];
  for (const k of Object.keys(a)) if (!known.includes(k)) throw new Error(`Unknown option "${k}": use ${known.join(", ")} (name=value).`);
  const epochs = Number(a.epochs ?? 2);
  const seeds = (a.seeds ?? "1,2").split(",").map(Number);
  if (!(epochs > 0) || !Number.isInteger(epochs) || seeds.some((s) => !Number.isInteger(s))) throw new Error("epochs must be a whole number > 0 and seeds whole numbers, e.g. epochs=2 seeds=1,2.");
  const torchSide = a.torch ?? "reference";
  if (!["reference", "fernb-net", "fernb-init"].includes(torchSide)) throw new Error(`torch=${torchSide}: choose reference, fernb-net or fernb-init.`);
  const modelOptions = {
    ...(a.init ? { init: a.init as "pytorch" | "he" } : {}),
    ...(a.zeroGamma !== undefined ? { zeroInitResidual: a.zeroGamma === "1" } : {}),
  };
  const root = process.env.FERNB_FER2013 ?? path.resolve(__dirname, "../../shared/data/fer2013");
  if (!fs.existsSync(path.join(root, "train"))) throw new Error(`No FER2013 training folder at ${path.join(root, "train")}: set FERNB_FER2013 to the folder that holds train/.`);
  const backend = await initBackend();
  const split = await loadFaceSplit(root, epochs);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-parity-"));
  const results: { seed: number; pytorch?: number; fernb?: number; pytorchMinutes?: number; fernbMinutes?: number }[] = [];
  try {
    writeFaceSplit(split, dir);
    const labelsOf = (indices: number[]) => Int32Array.from(indices, (j) => split.all.labels[j]);
    const trainFaces = new ByteFaces(split.augmented, labelsOf(split.train), `parity-train-${epochs}`);
    const raw = (indices: number[]) => {
      const x = Buffer.alloc(indices.length * FACE_BYTES);
      indices.forEach((j, k) => x.set(split.all.image(j), k * FACE_BYTES));
      return x;
    };
    const heldOut = new ByteFaces([raw(split.heldOut)], labelsOf(split.heldOut), "parity-heldout");
    // As recipe.py: mean and std of the (unaugmented) training faces.
    const norm = datasetNormalization(new ByteFaces([raw(split.train)], trainFaces.labels, "parity-raw"));
    process.stderr.write(`[parity] ${backend.description} · ${split.train.length} training faces, ${split.heldOut.length} held out · ${epochs} epoch(s) · seeds ${seeds.join(", ")}\n`);
    for (const seed of seeds) {
      const row: (typeof results)[number] = { seed };
      const model = createResNet18({ seed, ...modelOptions });
      if (a.only !== "fernb") {
        const extra = torchSide === "reference" ? [] : ["net=fernb"];
        if (torchSide === "fernb-init") {
          writeWeights(model, path.join(dir, `init${seed}`));
          extra.push(`init=${path.join(dir, `init${seed}`)}`);
        }
        const t = Date.now();
        const out = execFileSync("/usr/bin/python3", [path.join(__dirname, "recipe.py"), dir, "aug=fernb", `epochs=${epochs}`, `seed=${seed}`, "opt=sgd", "lr=0.05", "ls=0.1", "warm=0.3", "bal=none", "progress=1", ...extra], { encoding: "utf8" });
        row.pytorch = JSON.parse(out.trim().split("\n").pop()!).heldOutAccuracy;
        row.pytorchMinutes = Math.round((Date.now() - t) / 6000) / 10;
        process.stderr.write(`[parity] seed ${seed} PyTorch (${torchSide}): held-out accuracy ${pct(row.pytorch!)}% (${row.pytorchMinutes} min)\n`);
      }
      if (a.only !== "pytorch") {
        trainFaces.epoch = 0;
        const t = Date.now();
        await train(model, trainFaces, undefined, {
          epochs,
          batchSize: 64,
          optimizer: "sgd",
          learningRate: 0.05,
          minLearningRate: 0,
          warmupEpochs: 0.3,
          momentum: 0.9,
          weightDecay: 5e-4,
          labelSmoothing: 0.1,
          classBalance: "none",
          seed,
          normalization: norm,
          restoreBest: false,
          // The next epoch trains on the next augmented pass.
          progress: (e) => {
            if (e.type === "epoch") trainFaces.epoch = e.record.epoch;
            if (e.type === "batch" && e.step % 100 === 0) process.stderr.write(`[parity] seed ${seed} fernb: epoch ${e.epoch} step ${e.step}/${e.stepsPerEpoch} loss ${e.loss.toFixed(3)}\n`);
          },
        });
        const probs = await predictProbabilities(model, heldOut, norm);
        let correct = 0;
        for (let i = 0; i < heldOut.size; i++) {
          let best = 0;
          for (let k = 1; k < 7; k++) if (probs[i * 7 + k] > probs[i * 7 + best]) best = k;
          if (best === heldOut.labels[i]) correct++;
        }
        row.fernb = correct / heldOut.size;
        row.fernbMinutes = Math.round((Date.now() - t) / 6000) / 10;
        process.stderr.write(`[parity] seed ${seed} fernb: held-out accuracy ${pct(row.fernb)}% (${row.fernbMinutes} min)\n`);
      }
      model.dispose();
      results.push(row);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const mean = (xs: (number | undefined)[]) => (xs.length > 0 && xs.every((x) => x !== undefined) ? pct((xs as number[]).reduce((s, x) => s + x, 0) / xs.length) : undefined);
  const pytorchMean = mean(results.map((r) => r.pytorch));
  const fernbMean = mean(results.map((r) => r.fernb));
  console.log(
    JSON.stringify({
      bench: "parity",
      epochs,
      seeds,
      heldOut: split.heldOut.length,
      pytorch: results.map((r) => (r.pytorch === undefined ? null : pct(r.pytorch))),
      fernb: results.map((r) => (r.fernb === undefined ? null : pct(r.fernb))),
      pytorchMean,
      fernbMean,
      difference: pytorchMean !== undefined && fernbMean !== undefined ? Math.round((fernbMean - pytorchMean) * 10) / 10 : null,
      torch: torchSide,
      fernbModel: { init: DEFAULT_RESNET.init, zeroInitResidual: DEFAULT_RESNET.zeroInitResidual, ...modelOptions },
      minutes: results.map((r) => ({ seed: r.seed, pytorch: r.pytorchMinutes, fernb: r.fernbMinutes })),
      backend: backend.description,
    }),
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
