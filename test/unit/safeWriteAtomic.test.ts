/**
 * One atomic writer for every file fernb replaces (models, checkpoints, face crops, annotated
 * photos) and one link-safe appender (manifests): a failed write leaves no temporary file and the
 * old file as it was; a link out of the folder is refused and nothing is written through it.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { appendFileSafe, UnsafeWriteError, writeFileAtomic } from "../../kernel/fer/safeWrite";

function tmpDirs(): { root: string; inside: string; outside: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-safewrite-"));
  const inside = path.join(root, "inside");
  const outside = path.join(root, "outside");
  fs.mkdirSync(inside);
  fs.mkdirSync(outside);
  return { root, inside, outside };
}

test("writeFileAtomic replaces a file whole and leaves no temporary file", async () => {
  const { root, inside } = tmpDirs();
  try {
    const file = path.join(inside, "weights.bin");
    fs.writeFileSync(file, "old");
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]), inside);
    assert.deepEqual([...fs.readFileSync(file)], [1, 2, 3]);
    assert.deepEqual(fs.readdirSync(inside), ["weights.bin"]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a write that fails leaves the old file and no temporary file", async () => {
  const { root, inside } = tmpDirs();
  try {
    const file = path.join(inside, "card.json");
    fs.mkdirSync(file); // a folder where the file should be: the rename fails
    await assert.rejects(writeFileAtomic(file, "{}", inside));
    assert.ok(fs.statSync(file).isDirectory(), "the folder is untouched");
    assert.deepEqual(fs.readdirSync(inside), ["card.json"], "no temporary file left behind");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("links out of the folder are refused for atomic writes and appends, nothing written outside", async () => {
  const { root, inside, outside } = tmpDirs();
  try {
    const victim = path.join(outside, "victim.txt");
    fs.writeFileSync(victim, "untouched");
    fs.symlinkSync(victim, path.join(inside, "faces.jsonl"));
    fs.symlinkSync(victim, path.join(inside, "crop.png"));
    await assert.rejects(appendFileSafe(path.join(inside, "faces.jsonl"), "{}\n", inside, { what: "faces manifest" }), (e: unknown) => {
      assert.ok(e instanceof UnsafeWriteError);
      assert.match((e as Error).message, /faces manifest .*symbolic link to .*victim\.txt/);
      return true;
    });
    await assert.rejects(writeFileAtomic(path.join(inside, "crop.png"), "x", inside, { what: "face crop" }), UnsafeWriteError);
    assert.equal(fs.readFileSync(victim, "utf8"), "untouched");
    assert.deepEqual(fs.readdirSync(inside).sort(), ["crop.png", "faces.jsonl"]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("appendFileSafe creates and appends", async () => {
  const { root, inside } = tmpDirs();
  try {
    const file = path.join(inside, "faces.jsonl");
    await appendFileSafe(file, "a\n", inside);
    await appendFileSafe(file, "b\n", inside);
    assert.equal(fs.readFileSync(file, "utf8"), "a\nb\n");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
