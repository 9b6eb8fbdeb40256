/**
 * Prediction on image files of any size and format: each face is decoded and resized exactly as
 * in training (images.ts), normalised as the model card says, and classified.
 */
import type * as tf from "@tensorflow/tfjs";
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import * as path from "node:path";
import { decodeImage, ImageDecodeError } from "./images";
import { classifyFaces, type DecodedFace, type FacePrediction, type PredictionFailure } from "./facePrediction";
import type { ModelCard } from "./modelIO";

export type { FacePrediction, PredictionFailure } from "./facePrediction";

const IMAGE = /\.(png|jpe?g|webp|gif|tiff?|avif)$/i;

/**
 * Expands folders (recursively, following symbolic links to folders once each) into their image
 * files, sorted by name; files given by name are kept as given. Hidden names are skipped. Nothing
 * with an image name is dropped here: an entry that cannot be read (a symbolic link loop, a dangling
 * link, no permission) is kept in the list, so `predictFiles` reports it with its reason. Only a
 * path given on the command line that does not exist at all is an error. A folder that cannot be
 * listed is added to `failures` when given (else an error).
 */
export async function imageFiles(inputs: string[], failures?: PredictionFailure[]): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>(); // real paths of the folders expanded so far (link cycles)
  const expand = async (dir: string): Promise<void> => {
    const real = await realpath(dir).catch(() => dir);
    if (seen.has(real)) return;
    seen.add(real);
    let listed;
    try {
      listed = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      // A folder that cannot be listed: reported with its reason when the caller collects failures.
      const err = e as NodeJS.ErrnoException;
      const reason = `folder not readable (${err.code === "EACCES" ? "permission denied" : err.code === "ELOOP" ? "symbolic link loop" : err.message})`;
      if (!failures) throw new Error(`Cannot list ${dir}: ${reason}`);
      failures.push({ path: dir, error: reason });
      return;
    }
    const entries = listed.filter((e) => !e.name.startsWith(".")).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) isDir = (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
      if (isDir) await expand(p);
      else if (IMAGE.test(e.name)) out.push(p);
    }
  };
  for (const input of inputs) {
    let s;
    try {
      s = await stat(input);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const linked = await lstat(input).catch(() => undefined);
      // A path that names nothing at all is a mistake on the command line; anything that exists but
      // cannot be read (a link loop, a dangling link, no permission) is reported by predictFiles.
      if (!linked && (code === "ENOENT" || code === "ENOTDIR")) throw new Error(`No such file or folder: ${input}`);
      out.push(input);
      continue;
    }
    if (s.isDirectory()) await expand(input);
    else out.push(input);
  }
  return out;
}

/**
 * Classifies image files with a loaded model and its card. Unreadable images are reported, not fatal.
 * With `options.detect` "auto" or "always", faces are found in photos first and each face gets its
 * own prediction with its box (faces/predict.ts); the default, "never", takes every image as a face crop.
 */
export async function predictFiles(
  model: tf.LayersModel,
  card: ModelCard,
  files: string[],
  batchSize = 64,
  options: import("./faces/predict").PhotoPredictOptions = {},
): Promise<{ predictions: FacePrediction[]; failures: PredictionFailure[] }> {
  if ((options.detect ?? "never") !== "never" || options.annotate) {
    const { predictPhotos } = await import("./faces/predict");
    return predictPhotos(model, card, files, { ...options, detect: options.detect ?? "never" });
  }
  const { height, width, channels } = card.input;
  const predictions: FacePrediction[] = [];
  const failures: PredictionFailure[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    const decoded: DecodedFace[] = [];
    for (const file of chunk) {
      try {
        decoded.push({ file, pixels: await decodeImage(file, { height, width, channels }) });
      } catch (e) {
        failures.push({ path: file, error: e instanceof ImageDecodeError ? e.message : String((e as Error).message ?? e) });
      }
    }
    if (decoded.length === 0) continue;
    predictions.push(...(await classifyFaces(model, card.input, decoded, batchSize)));
  }
  return { predictions, failures };
}
