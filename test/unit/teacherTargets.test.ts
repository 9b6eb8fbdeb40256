import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mergeTeacherTargets, readTeacherTargets, writeTeacherTargetsFile, type TeacherTargetsFile } from "../../scripts/teacherTargetsFile";

const classes = ["a", "b"];
const file = (teachers: string[], paths: string[], probs: number[]): TeacherTargetsFile => ({
  format: "fernb-teacher-targets/1",
  classes,
  teachers,
  views: ["single", "flip"],
  paths,
  probabilities: Buffer.from(new Float32Array(probs).buffer).toString("base64"),
});

test("teacher targets: written gzipped or plain, read back by face path in the caller's order, never written over", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-targets-"));
  try {
    const f = file(["m1"], ["x/1.png", "y/2.png"], [0.25, 0.75, 1, 0]);
    for (const name of ["t.json", "t.json.gz"]) {
      const out = path.join(dir, name);
      writeTeacherTargetsFile(out, f);
      const { targets, teachers } = readTeacherTargets(out, ["y/2.png", "x/1.png"], classes);
      assert.deepEqual([...targets], [1, 0, 0.25, 0.75]);
      assert.deepEqual(teachers, ["m1"]);
      assert.throws(() => writeTeacherTargetsFile(out, file(["m2"], ["x/1.png"], [0, 1])), /EEXIST/);
      assert.deepEqual(readTeacherTargets(out, ["x/1.png"], classes).teachers, ["m1"], "the earlier file is kept as it was");
      assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith(".")), [], "no temporary file left behind");
      assert.throws(() => readTeacherTargets(out, ["z/3.png"], classes), /no targets for z\/3\.png/);
      assert.throws(() => readTeacherTargets(out, ["x/1.png"], ["a", "c"]), /has classes a, b/);
    }
    // A cut-off gzip file is reported as damaged, not as a JSON error.
    const gz = fs.readFileSync(path.join(dir, "t.json.gz"));
    fs.writeFileSync(path.join(dir, "cut.json.gz"), gz.subarray(0, gz.length >> 1));
    assert.throws(() => readTeacherTargets(path.join(dir, "cut.json.gz"), ["x/1.png"], classes), /damaged: it is not a complete gzip file/);
    fs.writeFileSync(path.join(dir, "other.json"), "{\"hello\":1}");
    assert.throws(() => readTeacherTargets(path.join(dir, "other.json"), ["x/1.png"], classes), /not a teacher-targets file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("teacher targets: merging weighs each set by its number of teachers, as if all had been named at once", () => {
  const two = { targets: new Float32Array([0.5, 0.5, 0.2, 0.8]), teachers: ["m1", "m2"] };
  const one = { targets: new Float32Array([1, 0, 0.8, 0.2]), teachers: ["r26"] };
  const { targets, teachers } = mergeTeacherTargets([two, one]);
  assert.deepEqual(teachers, ["m1", "m2", "r26"]);
  const want = [(2 * 0.5 + 1) / 3, (2 * 0.5) / 3, (2 * 0.2 + 0.8) / 3, (2 * 0.8 + 0.2) / 3];
  targets.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `value ${i}: ${v} against ${want[i]}`));
  assert.throws(() => mergeTeacherTargets([two, { targets: new Float32Array(2), teachers: ["short"] }]), /scored 2 values, the others 4/);
  assert.throws(() => mergeTeacherTargets([]), /no teachers/);
});
