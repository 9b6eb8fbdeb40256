/** The file scripts/teacher-targets.ts writes and scripts/train-fer2013.ts --distill reads. */
import * as fs from "node:fs";

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

/** The teachers' probabilities for each of `paths` (relative to the data root, as FaceDataset.paths), in that order, as one n × classes array. */
export function readTeacherTargets(file: string, paths: readonly string[], classes: readonly string[]): { targets: Float32Array; teachers: string[] } {
  const f = JSON.parse(fs.readFileSync(file, "utf8")) as TeacherTargetsFile;
  if (f.format !== "fernb-teacher-targets/1") throw new Error(`${file} is not a teacher-targets file (scripts/teacher-targets.ts writes them).`);
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
