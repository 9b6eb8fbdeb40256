/**
 * `fernb evaluate --model <dir> --data <folder> [--json] [--tta flip,tencrop]`: evaluates a saved
 * model on any folder-per-class data set with the seven emotions.
 */
import { existsSync } from "node:fs";
import { evaluate, type Tta } from "../kernel/fer/evaluate";
import { initBackend } from "../kernel/fer/backend";
import { loadFolderDataset, loadWarnings } from "../kernel/fer/dataset";
import { loadModel } from "../kernel/fer/modelIO";

export async function evaluateCommand(flags: Record<string, string | true>, usage: (message: string) => Error): Promise<number> {
  const modelDir = flags.model;
  const dataDir = flags.data;
  if (typeof modelDir !== "string") throw usage("fernb evaluate needs --model <model folder>.");
  if (typeof dataDir !== "string") throw usage("fernb evaluate needs --data <folder with one sub-folder per emotion>.");
  if (!existsSync(dataDir)) throw usage(`No such data folder: ${dataDir}`);
  const tta = typeof flags.tta === "string" ? (flags.tta.split(",").map((t) => t.trim()) as Tta[]) : [];
  for (const t of tta) if (t !== "flip" && t !== "tencrop") throw usage(`Unknown --tta "${t}": use flip, tencrop or flip,tencrop.`);
  const backend = await initBackend(typeof flags.backend === "string" ? (flags.backend as never) : undefined);
  process.stderr.write(`backend: ${backend.choice} (${backend.description})\n`);
  const { model, card } = await loadModel(modelDir);
  const data = await loadFolderDataset(dataDir, { height: card.input.height, width: card.input.width, channels: card.input.channels });
  for (const w of loadWarnings(data.report)) process.stderr.write(`warning: ${w}\n`);
  if (data.size === 0) throw new Error(`No faces to evaluate in ${dataDir}.`);
  const evaluation = await evaluate(model, data, { normalization: { mean: card.input.mean, std: card.input.std }, tta });
  if (flags.json === true) {
    console.log(JSON.stringify({ model: modelDir, data: dataDir, backend: backend.choice, ...evaluation.toJSON() }));
  } else {
    console.log(evaluation.summary());
  }
  return 0;
}
