/** `fernb predict --model <dir> <image or folder>... [--json]` */
import { initBackend } from "../kernel/fer/backend";
import { EMOTIONS } from "../kernel/fer/labels";
import { inspectModelFolder, loadModel } from "../kernel/fer/modelIO";
import { imageFiles, predictFiles, type PredictionFailure } from "../kernel/fer/predict";
import { BACKEND_CHOICES, oneOf, printable, UsageError, wholeNumber, type FlagSpec, type ParsedArgs } from "./args";
import { annotateFolderProblem, DETECT_MODES } from "../kernel/fer/faces/predict";
import { lstatSync } from "node:fs";

export const PREDICT_FLAGS: Record<string, FlagSpec> = {
  model: { value: true, meta: "<model folder>" },
  json: { value: false },
  backend: { value: true, meta: `<${BACKEND_CHOICES.join("|")}>` },
  detect: { value: true, meta: "<auto|always|never>" },
  annotate: { value: true, meta: "<folder>" },
  "min-face": { value: true, meta: "<pixels>" },
  "min-score": { value: true, meta: "<0..1>" },
  help: { value: false },
};

export async function predictCommand(positional: string[], flags: ParsedArgs["flags"]): Promise<number> {
  // Every argument and the model folder are checked before any work.
  if (typeof flags.model !== "string") throw new UsageError("fernb predict needs --model <model folder>.", "predict");
  if (positional.length === 0) throw new UsageError("fernb predict needs one or more images or folders.", "predict");
  for (const p of positional) {
    // A path that names nothing is a typing mistake; one that exists but cannot be read (a link
    // loop, a dangling link, no permission) is listed with its reason among the failures, and the
    // other images are still predicted.
    let exists: boolean;
    try {
      exists = lstatSync(p, { throwIfNoEntry: false }) !== undefined;
    } catch {
      exists = false; // ENOTDIR (a file used as a folder), or a folder on the way that cannot be read
    }
    if (!exists) throw new UsageError(`No such image or folder: ${printable(p)}`, "predict");
  }
  const backendChoice = oneOf(flags, "backend", BACKEND_CHOICES, "predict");
  const detect = oneOf(flags, "detect", DETECT_MODES, "predict") ?? "auto";
  const minFace = wholeNumber(flags, "min-face", 20, 8, 100000, "predict");
  const minScoreText = flags["min-score"];
  const minScore = minScoreText === undefined ? undefined : typeof minScoreText === "string" && /^(0(\.\d+)?|1(\.0+)?)$/.test(minScoreText) && Number(minScoreText) >= 0.05 ? Number(minScoreText) : NaN;
  if (Number.isNaN(minScore)) throw new UsageError(`--min-score must be a number from 0.05 to 1, not ${printable(String(minScoreText))}.`, "predict");
  const annotate = typeof flags.annotate === "string" ? flags.annotate : undefined;
  const annotateProblem = annotate === undefined ? undefined : annotateFolderProblem(annotate, positional);
  if (annotateProblem) throw new UsageError(annotateProblem, "predict");
  await inspectModelFolder(flags.model);
  await initBackend(backendChoice);
  const { model, card } = await loadModel(flags.model);
  const unlisted: PredictionFailure[] = []; // folders that could not be listed, reported like unreadable images
  const files = await imageFiles(positional, unlisted);
  if (files.length === 0 && unlisted.length === 0) throw new Error(`No images found in ${positional.join(", ")}.`);
  const predicted = await predictFiles(model, card, files, 64, { detect, minFace, minScore, annotate });
  const { predictions } = predicted;
  const failures = [...unlisted, ...predicted.failures];
  if (flags.json === true) {
    console.log(JSON.stringify({ model: flags.model, classes: EMOTIONS, predictions, failures }));
  } else {
    for (const p of predictions) {
      const probs = EMOTIONS.map((e) => `${e} ${(100 * p.probabilities[e]).toFixed(1)}%`).join("  ");
      const where = p.face ? ` face ${p.face.index} at [${p.face.box.map((v) => Math.round(v)).join(", ")}]` : "";
      console.log(`${p.path}${where}: ${p.top} (${(100 * p.confidence).toFixed(1)}%)\n  ${probs}`);
    }
    for (const f of failures) console.error(`${f.path}: could not read: ${f.error}`);
  }
  return failures.length > 0 && predictions.length === 0 ? 1 : 0;
}
