/** The file scripts/teacher-targets.ts writes and scripts/train-fer2013.ts --distill reads (plain JSON, or gzipped when its name ends in .gz). */
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { writeOutputFileSync } from "../cli/output";

export interface TeacherTargetsFile {
  format: "fernb-teacher-targets/1";
  classes: string[];
  /** Folder names of the teacher models. */
  teachers: string[];
  views: string[];
  /** Each face's path relative to the data root. */
  paths: string[];
  /** base64 of a little-endian Float32Array, paths.length × classes.length, rows summing to 1. */
  probabilities: string;
}

/** Writes `f` to `file` as the CLI writes its outputs (whole or not at all), gzipped when the name ends in .gz; never over an existing file. */
export function writeTeacherTargetsFile(file: string, f: TeacherTargetsFile): void {
  const text = Buffer.from(JSON.stringify(f));
  writeOutputFileSync(file, file.endsWith(".gz") ? zlib.gzipSync(text, { level: 9 }) : text, { overwrite: false });
}

/** The teachers' probabilities for each of `paths` (relative to the data root, as FaceDataset.paths), in that order, as one n × classes array. */
export function readTeacherTargets(file: string, paths: readonly string[], classes: readonly string[]): { targets: Float32Array; teachers: string[] } {
  let raw = fs.readFileSync(file);
  if (file.endsWith(".gz")) {
    try {
      raw = zlib.gunzipSync(raw);
    } catch {
      throw new Error(`${file} is damaged: it is not a complete gzip file.`);
    }
  }
  let f: TeacherTargetsFile;
  try {
    f = JSON.parse(raw.toString("utf8")) as TeacherTargetsFile;
  } catch {
    throw new Error(`${file} is not a teacher-targets file (scripts/teacher-targets.ts writes them): it is not JSON.`);
  }
  if (f?.format !== "fernb-teacher-targets/1") throw new Error(`${file} is not a teacher-targets file (scripts/teacher-targets.ts writes them).`);
  if (f.classes.join() !== classes.join()) throw new Error(`${file} has classes ${f.classes.join(", ")}, the model ${classes.join(", ")}.`);
  const k = classes.length;
  const buf = Buffer.from(f.probabilities, "base64");
  const probs = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  if (probs.length !== f.paths.length * k) throw new Error(`${file} is damaged: ${probs.length} values for ${f.paths.length} faces.`);
  const row = new Map(f.paths.map((p, i) => [p, i]));
  const targets = new Float32Array(paths.length * k);
  paths.forEach((p, i) => {
    const r = row.get(p);
    if (r === undefined) throw new Error(`${file} has no targets for ${p}: make it again for this data.`);
    targets.set(probs.subarray(r * k, (r + 1) * k), i * k);
  });
  return { targets, teachers: f.teachers };
}

/** The mean over every teacher of several sets of targets for the same faces: a set made by n teachers counts n times, so merging files gives what naming all their teachers at once would have. */
export function mergeTeacherTargets(parts: readonly { targets: Float32Array; teachers: readonly string[] }[]): { targets: Float32Array; teachers: string[] } {
  if (parts.length === 0) throw new Error("no teachers to merge");
  const len = parts[0].targets.length;
  const teachers = parts.flatMap((p) => p.teachers);
  const targets = new Float32Array(len);
  for (const p of parts) {
    if (p.targets.length !== len) throw new Error(`teachers ${p.teachers.join(", ")} scored ${p.targets.length} values, the others ${len}.`);
    for (let j = 0; j < len; j++) targets[j] += p.targets[j] * p.teachers.length;
  }
  for (let j = 0; j < len; j++) targets[j] /= teachers.length;
  return { targets, teachers };
}
