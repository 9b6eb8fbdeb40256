/**
 * `fernb evaluate --model <dir> --data <folder> [--json] [--tta flip,tencrop]`: evaluates a saved
 * model on any folder-per-class data set with the seven emotions.
 */
import { evaluate, type Tta } from "../kernel/fer/evaluate";
import { initBackend } from "../kernel/fer/backend";
import { loadFolderDataset, loadWarnings } from "../kernel/fer/dataset";
import { inspectModelFolder, loadModel } from "../kernel/fer/modelIO";
import { BACKEND_CHOICES, existingFolder, oneOf, UsageError, type FlagSpec, type ParsedArgs } from "./args";

export const EVALUATE_FLAGS: Record<string, FlagSpec> = {
  model: { value: true, meta: "<model folder>" },
  data: { value: true, meta: "<folder with one sub-folder per emotion>" },
  json: { value: false },
  tta: { value: true, meta: "flip, tencrop or flip,tencrop" },
  backend: { value: true, meta: `<${BACKEND_CHOICES.join("|")}>` },
  help: { value: false },
};

/** The --tta list: flip and/or tencrop, each once. */
export function ttaList(flags: ParsedArgs["flags"], command: string): Tta[] {
  if (flags.tta === undefined) return [];
  const parts = String(flags.tta).split(",").map((t) => t.trim());
  const out: Tta[] = [];
  for (const t of parts) {
    if (t !== "flip" && t !== "tencrop") throw new UsageError(`Unknown --tta ${JSON.stringify(t)}: use flip, tencrop or flip,tencrop.`, command);
    if (out.includes(t)) throw new UsageError(`--tta lists ${t} twice.`, command);
    out.push(t);
  }
  return out;
}

export async function evaluateCommand(flags: ParsedArgs["flags"]): Promise<number> {
  // Every argument and the model folder are checked before any work.
  const modelDir = flags.model;
  const dataDir = flags.data;
  if (typeof modelDir !== "string") throw new UsageError("fernb evaluate needs --model <model folder>.", "evaluate");
  if (typeof dataDir !== "string") throw new UsageError("fernb evaluate needs --data <folder with one sub-folder per emotion>.", "evaluate");
  existingFolder(dataDir, "data folder", "evaluate");
  const tta = ttaList(flags, "evaluate");
  const backendChoice = oneOf(flags, "backend", BACKEND_CHOICES, "evaluate");
  await inspectModelFolder(modelDir);
  const backend = await initBackend(backendChoice);
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
