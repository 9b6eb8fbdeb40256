/**
 * `fernb audit --data <folder> [--model <dir>] [--folds k] [--epochs n] [--limit n] [--json]`:
 * ranks the images whose labels are most likely wrong (confident learning). With --model, that
 * model's probabilities are taken as out-of-sample (it must not have trained on these images);
 * otherwise k models are trained by cross-validation so every image is scored by a model that did
 * not see it.
 */
import { existsSync } from "node:fs";
import { initBackend } from "../kernel/fer/backend";
import { findLabelIssues, crossValidatedProbabilities } from "../kernel/fer/curation/index";
import { loadFolderDataset, loadWarnings } from "../kernel/fer/dataset";
import { EMOTIONS } from "../kernel/fer/labels";
import { loadModel } from "../kernel/fer/modelIO";
import { createResNet18 } from "../kernel/fer/resnet";
import { predictProbabilities } from "../kernel/fer/train";

export async function auditCommand(flags: Record<string, string | true>, usage: (message: string) => Error): Promise<number> {
  const dataDir = flags.data;
  if (typeof dataDir !== "string") throw usage("fernb audit needs --data <folder with one sub-folder per emotion>.");
  if (!existsSync(dataDir)) throw usage(`No such data folder: ${dataDir}`);
  const number = (name: string, fallback: number) => {
    const v = flags[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw usage(`--${name} must be a positive whole number.`);
    return n;
  };
  const backend = await initBackend(typeof flags.backend === "string" ? (flags.backend as never) : undefined);
  process.stderr.write(`backend: ${backend.choice} (${backend.description})\n`);
  let probs: Float32Array;
  let source: string;
  let paths: string[];
  let labels: Int32Array;
  if (typeof flags.model === "string") {
    const { model, card } = await loadModel(flags.model);
    const data = await loadFolderDataset(dataDir, { height: card.input.height, width: card.input.width, channels: card.input.channels });
    for (const w of loadWarnings(data.report)) process.stderr.write(`warning: ${w}\n`);
    probs = await predictProbabilities(model, data, card.input);
    source = `model ${flags.model} (taken as out-of-sample: it must not have trained on these images)`;
    ({ paths, labels } = data);
  } else {
    const folds = number("folds", 5);
    const epochs = number("epochs", 10);
    if (folds < 2) throw usage("--folds must be at least 2.");
    const data = await loadFolderDataset(dataDir);
    for (const w of loadWarnings(data.report)) process.stderr.write(`warning: ${w}\n`);
    const cv = await crossValidatedProbabilities(data, { folds, modelFactory: (f) => createResNet18({ seed: f + 1 }), trainOptions: { epochs } });
    probs = cv.probs;
    source = `${folds}-fold cross-validation, ${epochs} epochs per fold (held-out accuracy per fold: ${cv.foldAccuracy.map((a) => a.toFixed(3)).join(", ")})`;
    ({ paths, labels } = data);
  }
  const result = findLabelIssues(probs, labels, { paths, limit: number("limit", 1_000_000) });
  const suspects = result.suspects.map((s) => ({ path: paths[s.index], label: EMOTIONS[s.given], suggested: EMOTIONS[s.suggested], score: s.score }));
  if (flags.json === true) {
    console.log(JSON.stringify({
      data: dataDir,
      probabilities: source,
      n: result.n,
      estimatedErrors: Object.fromEntries(EMOTIONS.map((e, i) => [e, Math.round(result.estimatedErrors[i])])),
      suspects,
    }));
  } else {
    console.log(`${result.n} images; probabilities from ${source}`);
    console.log(`estimated wrong labels: ${EMOTIONS.map((e, i) => `${e} ${Math.round(result.estimatedErrors[i])}`).join(", ")}`);
    for (const s of suspects.slice(0, 50)) console.log(`${s.score.toFixed(3)}  ${s.path}: labelled ${s.label}, looks like ${s.suggested}`);
    if (suspects.length > 50) console.log(`… ${suspects.length - 50} more (--json lists all)`);
  }
  return 0;
}
