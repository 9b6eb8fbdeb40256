/** `fernb faces --in <photos, videos or folders>... --out <dir> [--size 48] [--channels 1|3] [--min-face PX] [--margin F] [--every MS] [--json]` */
import { lstatSync } from "node:fs";
import { initBackend } from "../kernel/fer/backend";
import { checkOutputFolder, extractFacesToFolder } from "../kernel/fer/faces/folder";
import { BACKEND_CHOICES, oneOf, printable, UsageError, wholeNumber, type FlagSpec, type ParsedArgs } from "./args";

export const FACES_FLAGS: Record<string, FlagSpec> = {
  in: { value: true, meta: "<photo or folder>..." },
  out: { value: true, meta: "<folder>" },
  size: { value: true, meta: "<pixels>" },
  channels: { value: true, meta: "<1|3>" },
  "min-face": { value: true, meta: "<pixels>" },
  margin: { value: true, meta: "<fraction>" },
  "min-score": { value: true, meta: "<0..1>" },
  every: { value: true, meta: "<milliseconds>" },
  json: { value: false },
  backend: { value: true, meta: `<${BACKEND_CHOICES.join("|")}>` },
  help: { value: false },
};

export const FACES_USAGE = `  fernb faces --in <photo or folder>... --out <folder> [--size 48] [--channels 1|3] [--min-face 20] [--margin 0.15] [--min-score 0.75] [--every 1000] [--json]
      Finds the faces in photos (any size; EXIF orientation applied), levels the eyes and saves
      square crops of --size pixels (grayscale unless --channels 3), decoded as training decodes.
      Photos in a folder named after an emotion keep that label (<out>/<emotion>/<photo>_<k>.png),
      the others go to <out>/unlabeled/. <out>/faces.jsonl records each crop's source, content hash,
      box, landmarks, score and detector; a re-run skips the photos already done. The input is never
      modified. Videos (.mp4, .mov, .webm, ...; needs ffmpeg) give a frame every --every ms, crops
      named <video>_t<ms>_<k>.png. With --json the last line is {"faces":[{"source","file","box","score"}],"noFace":[...],"failed":[...]}.`;

function decimal(flags: ParsedArgs["flags"], name: string, fallback: number, min: number, max: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = typeof v === "string" && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be a number from ${min} to ${max}, not ${printable(String(v))}.`, "faces");
  return n;
}

export async function facesCommand(positional: string[], flags: ParsedArgs["flags"]): Promise<number> {
  // Every argument is checked before any photo is read.
  if (typeof flags.in !== "string") throw new UsageError("fernb faces needs --in <photo or folder>...", "faces");
  if (typeof flags.out !== "string") throw new UsageError("fernb faces needs --out <folder> for the crops.", "faces");
  const inputs = [flags.in, ...positional];
  for (const p of inputs) {
    let exists = false;
    try {
      exists = lstatSync(p, { throwIfNoEntry: false }) !== undefined;
    } catch {
      exists = false;
    }
    if (!exists) throw new UsageError(`No such photo or folder: ${printable(p)}`, "faces");
  }
  const size = wholeNumber(flags, "size", 48, 8, 1024, "faces");
  const channels = flags.channels === undefined ? 1 : (Number(oneOf(flags, "channels", ["1", "3"], "faces")) as 1 | 3);
  const minFace = wholeNumber(flags, "min-face", 20, 8, 100000, "faces");
  const margin = decimal(flags, "margin", 0.15, 0, 2);
  const minScore = decimal(flags, "min-score", 0.75, 0.05, 1);
  const everyMs = wholeNumber(flags, "every", 1000, 10, 3_600_000, "faces");
  const backendChoice = oneOf(flags, "backend", BACKEND_CHOICES, "faces");
  const options = { spec: { height: size, width: size, channels }, minFace, margin, minScore, everyMs };
  try {
    await checkOutputFolder(flags.out, inputs, options);
  } catch (e) {
    throw new UsageError((e as Error).message, "faces");
  }
  await initBackend(backendChoice);
  const report = await extractFacesToFolder(inputs, flags.out, options);
  if (flags.json === true) {
    console.log(JSON.stringify({ faces: report.faces, noFace: report.noFace, failed: report.failed, skipped: report.skipped, manifest: report.manifest }));
  } else {
    const byLabel = new Map<string, number>();
    for (const f of report.faces) byLabel.set(f.label ?? "unlabeled", (byLabel.get(f.label ?? "unlabeled") ?? 0) + 1);
    console.log(`${report.faces.length} face crops in ${flags.out} (${[...byLabel].map(([l, n]) => `${l} ${n}`).join(", ") || "none"}); manifest ${report.manifest}${report.skipped ? `; ${report.skipped} photos were done before and skipped` : ""}.`);
    for (const n of report.noFace) console.log(`${n.source}: ${n.reason}`);
    for (const f of report.failed) console.error(`${f.source}: could not read: ${f.reason}`);
  }
  return report.faces.length === 0 && report.failed.length > 0 ? 1 : 0;
}
