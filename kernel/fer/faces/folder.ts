/**
 * Photos → a folder of face crops that fernb loads as a data set (what `fernb faces` runs).
 *
 *   <out>/<emotion>/<photo>_<k>.png   photos in a folder named after an emotion keep that label
 *   <out>/unlabeled/<photo>_<k>.png   every other photo
 *   <out>/faces.jsonl                 the manifest: one JSON line per crop (and per photo without a face)
 *
 * The input is only read. A re-run skips the photos the manifest already holds with the same
 * content hash and settings; a photo whose content changed is done again. Unreadable photos and
 * photos without a face are reported with the reason and never stop the run.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ImageDecodeError, type ImageSpec, validateSpec } from "../images";
import { canonicalEmotion } from "../labels";
import { progressBar } from "../progress";
import { appendFileSafe, writeFileAtomic } from "../safeWrite";
import { DEFAULT_MARGIN } from "./align";
import { DEFAULT_DETECT_OPTIONS, DETECTOR_ID, type Box, loadFaceDetector } from "./detector";
import { DEFAULT_FACE_SPEC, extractFaces } from "./extract";
import { readPhoto } from "./photo";

export const MANIFEST = "faces.jsonl";
export const UNLABELED = "unlabeled";
const PHOTO = /\.(png|jpe?g|webp|gif|tiff?|avif|heic|heif)$/i;
/** Videos: frames are taken every `everyMs` by ffmpeg (a Debian package, optional). */
export const VIDEO = /\.(mp4|m4v|mov|webm|mkv|avi|mpe?g)$/i;

/** Why videos cannot be read here (ffmpeg missing), or undefined when they can. */
export function ffmpegProblem(): string | undefined {
  const r = spawnSync("ffmpeg", ["-version"], { stdio: "ignore" });
  return r.error || r.status !== 0 ? "a video: reading videos needs ffmpeg, which is not installed here (Debian/Ubuntu: apt-get install ffmpeg)" : undefined;
}

/** Frames of a video every `everyMs` milliseconds, as PNG files in a temporary folder (removed by the caller). */
async function videoFrames(file: string, everyMs: number): Promise<{ dir: string; files: { file: string; timeMs: number }[] }> {
  const problem = ffmpegProblem();
  if (problem) throw new Error(problem);
  const dir = await mkdtemp(path.join(tmpdir(), "fernb-frames-"));
  const r = spawnSync("ffmpeg", ["-v", "error", "-nostdin", "-i", file, "-vf", `fps=1000/${everyMs}:round=down`, "-start_number", "0", path.join(dir, "f_%07d.png")], { encoding: "utf8", maxBuffer: 16 << 20 });
  if (r.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`a video ffmpeg could not read (${(r.stderr || r.error?.message || "").trim().split("\n")[0] || `exit code ${r.status}`})`);
  }
  const files = readdirSync(dir)
    .filter((f) => /^f_\d+\.png$/.test(f))
    .sort()
    .map((f) => ({ file: path.join(dir, f), timeMs: Number(f.slice(2, 9)) * everyMs }));
  return { dir, files };
}

export interface FolderOptions {
  /** Crop size and channels (default 48×48 grayscale). */
  spec?: ImageSpec;
  /** Smallest face side in photo pixels (default 20). */
  minFace?: number;
  minScore?: number;
  margin?: number;
  /** Videos: one frame every this many milliseconds (default 1000). */
  everyMs?: number;
}

export interface FaceRecord {
  kind: "face";
  /** The crop, relative to the output folder. */
  file: string;
  /** The photo, as an absolute path. */
  source: string;
  /** sha256 of the photo's bytes. */
  sourceHash: string;
  label: string | null;
  box: Box;
  landmarks: [number, number][];
  score: number;
  /** Rotation applied to level the eyes (degrees). */
  angle: number;
  detector: string;
  settings: string;
}

interface NoFaceRecord {
  kind: "noFace";
  source: string;
  sourceHash: string;
  reason: string;
  detector: string;
  settings: string;
}

/** Written once every frame of a video is done (its frames' records carry `source#t=<ms>`). */
interface VideoRecord {
  kind: "video";
  source: string;
  sourceHash: string;
  frames: number;
  everyMs: number;
  detector: string;
  settings: string;
}

type ManifestRecord = (FaceRecord & { timeMs?: number }) | (NoFaceRecord & { timeMs?: number }) | VideoRecord;

export interface FolderReport {
  faces: { source: string; file: string; box: Box; score: number; label: string | null }[];
  noFace: { source: string; reason: string }[];
  failed: { source: string; reason: string }[];
  /** Photos skipped because an earlier run did them. */
  skipped: number;
  manifest: string;
}

export interface InputPhoto {
  file: string;
  /** The emotion folder's name as written, or null outside emotion folders. */
  label: string | null;
  /** Why a folder could not be listed (reported among the failures). */
  error?: string;
}

/** Lists the photos of files and folders (recursively, sorted; hidden entries skipped), with their labels. */
export function listPhotos(inputs: string[]): InputPhoto[] {
  const out: InputPhoto[] = [];
  const labelOf = (file: string) => {
    const parent = path.basename(path.dirname(path.resolve(file)));
    return canonicalEmotion(parent) ? parent : null;
  };
  const seen = new Set<string>();
  const walk = (dir: string) => {
    let real = dir;
    try {
      real = realpathSync(dir);
    } catch {
      // reported by readdirSync below
    }
    if (seen.has(real)) return; // a symbolic link back up the tree
    seen.add(real);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.push({ file: dir, label: null, error: `folder not readable (${code === "EACCES" ? "permission denied" : (e as Error).message})` });
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const p = path.join(dir, e.name);
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) {
        try {
          isDir = statSync(p).isDirectory();
        } catch {
          isDir = false; // a dangling link with a photo's name is reported when read
        }
      }
      if (isDir) walk(p);
      else if (PHOTO.test(e.name) || VIDEO.test(e.name)) out.push({ file: p, label: labelOf(p) });
    }
  };
  for (const input of inputs) {
    let st;
    try {
      st = statSync(input);
    } catch {
      st = undefined; // a dangling link or no permission: reported when read
    }
    if (st?.isDirectory()) walk(input);
    else out.push({ file: input, label: labelOf(input) });
  }
  return out;
}

/** A string naming the settings crops were made with; a folder holds crops of one setting only. */
export function settingsKey(o: Required<FolderOptions>): string {
  return `${DETECTOR_ID};faces-pipeline=1;size=${o.spec.height}x${o.spec.width}x${o.spec.channels};minFace=${o.minFace};minScore=${o.minScore};margin=${o.margin};videoEveryMs=${o.everyMs}`;
}

async function readManifest(file: string): Promise<ManifestRecord[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, "utf8");
  const out: ManifestRecord[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as ManifestRecord);
    } catch {
      throw new Error(`${file} line ${i + 1} is not JSON; it was not written by fernb faces, or was damaged.`);
    }
  }
  return out;
}

/**
 * Checks an output folder before any work: it is new, empty, or an earlier `fernb faces` output
 * made with the same settings, and it is not inside one of the inputs. Throws an Error in words.
 */
export async function checkOutputFolder(out: string, inputs: string[], options: FolderOptions = {}): Promise<void> {
  const o = withDefaults(options);
  const abs = path.resolve(out);
  for (const input of inputs) {
    const st = await stat(input).catch(() => undefined);
    if (st?.isDirectory() && (abs === path.resolve(input) || abs.startsWith(path.resolve(input) + path.sep))) {
      throw new Error(`--out ${out} is inside the input folder ${input}; choose a folder outside it (the input is never modified).`);
    }
  }
  const st = await stat(out).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory()) throw new Error(`--out ${out} is a file; give a folder.`);
  const manifest = path.join(out, MANIFEST);
  if (!existsSync(manifest)) {
    if (readdirSync(out).length > 0) throw new Error(`--out ${out} is not empty and holds no ${MANIFEST}: it is not a fernb faces folder. Choose a new or empty folder.`);
    return;
  }
  const records = await readManifest(manifest);
  const other = records.find((r) => r.settings !== settingsKey(o));
  if (other) throw new Error(`${out} holds crops made with other settings (${other.settings}); use a new --out folder, or the same settings (now ${settingsKey(o)}).`);
}

function withDefaults(options: FolderOptions): Required<FolderOptions> {
  const spec = options.spec ?? DEFAULT_FACE_SPEC;
  validateSpec(spec);
  return {
    spec,
    minFace: options.minFace ?? DEFAULT_DETECT_OPTIONS.minFace,
    minScore: options.minScore ?? DEFAULT_DETECT_OPTIONS.minScore,
    margin: options.margin ?? DEFAULT_MARGIN,
    everyMs: options.everyMs ?? 1000,
  };
}


/** Detects, aligns and crops the faces of every photo into `out` (see the module comment). */
export async function extractFacesToFolder(inputs: string[], out: string, options: FolderOptions = {}): Promise<FolderReport> {
  const o = withDefaults(options);
  const settings = settingsKey(o);
  await checkOutputFolder(out, inputs, options);
  const photos = listPhotos(inputs);
  await mkdir(out, { recursive: true });
  const manifestFile = path.join(out, MANIFEST);
  const previous = await readManifest(manifestFile);
  const done = new Map<string, ManifestRecord[]>();
  for (const r of previous) {
    const key = `${r.source}\n${r.sourceHash}`;
    done.set(key, [...(done.get(key) ?? []), r]);
  }
  const usedNames = new Map<string, string>(); // crop file → source
  for (const r of previous) if (r.kind === "face") usedNames.set(r.file, r.source);
  const report: FolderReport = { faces: [], noFace: [], failed: [], skipped: 0, manifest: manifestFile };
  const bar = progressBar("Finding faces", photos.length, { lineIntervalMs: 5000 });
  const detector = await loadFaceDetector();
  let nFaces = 0;
  const round = (v: number) => Math.round(v * 10) / 10;
  /** Detects, crops and records the faces of one image (a photo, or a video frame). */
  const doImage = async (image: { bytes: Uint8Array; source: string; shown: string; hash: string; stem: string; label: string | null; timeMs?: number }): Promise<void> => {
    const { source, shown, hash, stem, label } = image;
    const earlier = done.get(`${source}\n${hash}`);
    if (earlier && earlier.every((r) => r.kind !== "face" || existsSync(path.join(out, r.file)))) {
      if (image.timeMs === undefined) report.skipped++;
      for (const r of earlier) {
        if (r.kind === "face") report.faces.push({ source: shown, file: path.join(out, r.file), box: r.box, score: r.score, label: r.label });
        else if (r.kind === "noFace") report.noFace.push({ source: shown, reason: r.reason });
      }
      nFaces += earlier.filter((r) => r.kind === "face").length;
      return;
    }
    const photo = await readPhoto(image.bytes).catch((e) => {
      throw e instanceof ImageDecodeError ? new ImageDecodeError(e.reason, shown) : e;
    });
    const faces = await extractFaces(photo, { ...o, faces: await detector.detect(photo, o) });
    const records: ManifestRecord[] = [];
    const at = image.timeMs === undefined ? {} : { timeMs: image.timeMs };
    if (faces.length === 0) {
      const reason = `no face found (faces of at least ${o.minFace} px scoring ${o.minScore} or more were looked for)`;
      records.push({ kind: "noFace", source, sourceHash: hash, reason, detector: DETECTOR_ID, settings, ...at });
      report.noFace.push({ source: shown, reason });
    }
    const folder = label ?? UNLABELED;
    await mkdir(path.join(out, folder), { recursive: true });
    for (const [k, f] of faces.entries()) {
      let name = path.join(folder, `${stem}_${k + 1}.png`);
      const owner = usedNames.get(name);
      if (owner !== undefined && owner !== source) name = path.join(folder, `${stem}-${hash.slice(7, 15)}_${k + 1}.png`);
      usedNames.set(name, source);
      await writeFileAtomic(path.join(out, name), f.png, out, { what: "face crop" });
      records.push({ kind: "face", file: name, source, sourceHash: hash, label, box: f.box.map(round) as Box, landmarks: f.landmarks.map(([x, y]) => [round(x), round(y)]), score: Math.round(f.score * 1000) / 1000, angle: round(f.crop.angle), detector: DETECTOR_ID, settings, ...at });
      report.faces.push({ source: shown, file: path.join(out, name), box: f.box.map(round) as Box, score: Math.round(f.score * 1000) / 1000, label });
    }
    nFaces += faces.length;
    // The manifest line comes after the crops: a run stopped half-way redoes this image.
    if (records.length > 0) await appendFileSafe(manifestFile, records.map((r) => JSON.stringify(r) + "\n").join(""), out, { what: "faces manifest" });
  };
  for (const [i, { file, label, error }] of photos.entries()) {
    const source = path.resolve(file);
    if (error) {
      report.failed.push({ source: file, reason: error });
      bar.update(i + 1, `${nFaces} faces`);
      continue;
    }
    try {
      const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
        throw new ImageDecodeError(e.code === "EACCES" ? "permission denied" : e.code === "ENOENT" ? "file not found" : `unreadable (${e.message})`, file);
      });
      const hash = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
      const stem = path.basename(file).replace(/\.[^.]+$/, "");
      if (VIDEO.test(file)) {
        const finished = done.get(`${source}\n${hash}`)?.find((r) => r.kind === "video");
        if (finished) {
          report.skipped++;
          for (const [key, records] of done) {
            if (!key.startsWith(`${source}#t=`) || !key.endsWith(`\n${hash}`)) continue;
            for (const r of records) {
              if (r.kind === "face") report.faces.push({ source: `${file}#t=${r.timeMs}`, file: path.join(out, r.file), box: r.box, score: r.score, label: r.label });
            }
          }
        } else {
          const frames = await videoFrames(file, o.everyMs);
          try {
            for (const frame of frames.files) {
              await doImage({ bytes: await readFile(frame.file), source: `${source}#t=${frame.timeMs}`, shown: `${file}#t=${frame.timeMs}`, hash, stem: `${stem}_t${String(frame.timeMs).padStart(7, "0")}`, label, timeMs: frame.timeMs });
            }
          } finally {
            await rm(frames.dir, { recursive: true, force: true });
          }
          const record: VideoRecord = { kind: "video", source, sourceHash: hash, frames: frames.files.length, everyMs: o.everyMs, detector: DETECTOR_ID, settings };
          await appendFileSafe(manifestFile, JSON.stringify(record) + "\n", out, { what: "faces manifest" });
        }
      } else {
        await doImage({ bytes, source, shown: file, hash, stem, label });
      }
    } catch (e) {
      report.failed.push({ source: file, reason: e instanceof ImageDecodeError ? e.reason : String((e as Error).message ?? e) });
    }
    bar.update(i + 1, `${nFaces} faces`);
  }
  bar.finish(`${nFaces} faces from ${photos.length} photos (${report.skipped} done before, ${report.noFace.length} without a face, ${report.failed.length} unreadable)`);
  return report;
}
