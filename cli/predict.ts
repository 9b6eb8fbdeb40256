/** `fernb predict --model <dir> <image or folder>... [--json]` */
import { initBackend } from "../kernel/fer/backend";
import { EMOTIONS } from "../kernel/fer/labels";
import { loadModel } from "../kernel/fer/modelIO";
import { imageFiles, predictFiles, type PredictionFailure } from "../kernel/fer/predict";

export async function predictCommand(positional: string[], flags: Record<string, string | true>, usage: (message: string) => Error): Promise<number> {
  if (typeof flags.model !== "string") throw usage("fernb predict needs --model <model folder>.");
  if (positional.length === 0) throw usage("fernb predict needs one or more images or folders.");
  await initBackend(typeof flags.backend === "string" ? (flags.backend as never) : undefined);
  const { model, card } = await loadModel(flags.model);
  const unlisted: PredictionFailure[] = []; // folders that could not be listed, reported like unreadable images
  const files = await imageFiles(positional, unlisted);
  if (files.length === 0 && unlisted.length === 0) throw new Error(`No images found in ${positional.join(", ")}.`);
  const predicted = await predictFiles(model, card, files);
  const { predictions } = predicted;
  const failures = [...unlisted, ...predicted.failures];
  if (flags.json === true) {
    console.log(JSON.stringify({ model: flags.model, classes: EMOTIONS, predictions, failures }));
  } else {
    for (const p of predictions) {
      const probs = EMOTIONS.map((e) => `${e} ${(100 * p.probabilities[e]).toFixed(1)}%`).join("  ");
      console.log(`${p.path}: ${p.top} (${(100 * p.confidence).toFixed(1)}%)\n  ${probs}`);
    }
    for (const f of failures) console.error(`${f.path}: could not read: ${f.error}`);
  }
  return failures.length > 0 && predictions.length === 0 ? 1 : 0;
}
