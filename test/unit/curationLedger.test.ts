import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import sharp from "sharp";
import { clearDatasetMemoryCache, loadFolderDataset, type FaceDataset } from "../../kernel/fer/dataset";
import { DISPLAY } from "../../kernel/display";
import { applyLedger, CurationLedger, parseLedger, uncurated, DEFAULT_LEDGER_NAME } from "../../kernel/fer/curation/ledger";
import { curationSummary, exportCurated } from "../../kernel/fer/curation/export";
import { writeTinyFaceFolder } from "../helpers/tinyFaces";

const tmp = (tag: string) => mkdtempSync(path.join(tmpdir(), `fernb-curation-${tag}-`));

/** anger/a0..a2.png, fear/f0..f1.png, happy/h0.png: 8x8 gray PNGs with distinct pixels. */
function makeDataset(): Promise<string> {
  return writeTinyFaceFolder("fernb-curation-data-", [["anger/a0.png", 10], ["anger/a1.png", 50], ["anger/a2.png", 90], ["fear/f0.png", 130], ["fear/f1.png", 170], ["happy/h0.png", 210]]);
}

const load = (root: string) => loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false });

/** Every file under root: relative path → sha256, size and mtime. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, d.name);
      if (d.isDirectory()) walk(abs);
      else {
        const s = statSync(abs);
        out.set(path.relative(root, abs), `${createHash("sha256").update(readFileSync(abs)).digest("hex")} ${s.size} ${s.mtimeMs}`);
      }
    }
  };
  walk(root);
  return out;
}

function labelOf(ds: FaceDataset, p: string): string | undefined {
  const i = ds.paths.indexOf(p);
  return i < 0 ? undefined : ds.label(i);
}

test("ledger replay: relabel, exclude, restore, undo; the curated view; only the ledger file is written", async () => {
  const root = await makeDataset();
  const before = snapshot(root);
  const ds = await load(root);
  const ledger = await CurationLedger.open(ds);
  assert.equal(ledger.file, path.join(root, DEFAULT_LEDGER_NAME));

  const r1 = (await ledger.relabel("anger/a0.png", "fear", { note: "looks scared" }))!;
  await ledger.exclude(path.join(root, "anger", "a1.png")); // absolute paths are stored relative
  const ex2 = await ledger.exclude("fear/f0.png", { source: "suggestion" });
  await ledger.restore("fear/f0.png");
  const r2 = (await ledger.relabel("happy/h0.png", "surprised"))!; // aliases are canonicalised
  await ledger.undo(r2.id);
  const ex3 = await ledger.exclude("fear/f1.png");
  const u3 = await ledger.undo(ex3);
  await ledger.undo(u3); // undo of an undo: the exclusion applies again

  const lines = readFileSync(ledger.file, "utf8").split("\n");
  assert.equal(lines.at(-1), "", "every line ends with a newline");
  const first = JSON.parse(lines[0]);
  assert.deepEqual(
    { v: first.v, path: first.path, oldLabel: first.oldLabel, action: first.action, newLabel: first.newLabel, source: first.source, note: first.note },
    { v: 1, path: "anger/a0.png", oldLabel: "anger", action: "relabel", newLabel: "fear", source: "manual", note: "looks scared" },
  );
  assert.equal(first.hash, createHash("sha256").update(readFileSync(path.join(root, "anger/a0.png"))).digest("hex"));
  assert.ok(!Number.isNaN(Date.parse(first.time)));
  assert.equal(JSON.parse(lines[1]).path, "anger/a1.png");
  assert.equal(JSON.parse(lines[2]).source, "suggestion");
  assert.equal(new Set(lines.filter(Boolean).map((l) => JSON.parse(l).id)).size, 9, "ids are unique");

  const { dataset: curated, report, originalIndex } = await applyLedger(ds);
  assert.equal(curated.size, ds.size - 2, "a1 and f1 excluded");
  assert.equal(labelOf(curated, "anger/a0.png"), "fear");
  assert.equal(labelOf(curated, "anger/a1.png"), undefined);
  assert.equal(labelOf(curated, "fear/f0.png"), "fear", "restored");
  assert.equal(labelOf(curated, "happy/h0.png"), "happiness", "relabel undone");
  assert.equal(labelOf(curated, "fear/f1.png"), undefined, "undo of undo re-applies the exclusion");
  assert.deepEqual(report.relabelled, [{ path: "anger/a0.png", from: "anger", to: "fear" }]);
  assert.deepEqual(report.excluded.map((e) => e.path).sort(), ["anger/a1.png", "fear/f1.png"]);
  assert.deepEqual(report.undone.sort(), [r2.id].sort());
  assert.equal(report.reviewed, 4);
  assert.equal(report.stale.length, 0);
  assert.ok(ex2.id && r1.id);
  // Curated pixels are the original pixels of the kept images.
  for (let k = 0; k < curated.size; k++) assert.deepEqual(curated.image(k), ds.image(originalIndex[k]));
  // The input dataset is not changed.
  assert.equal(labelOf(ds, "anger/a0.png"), "anger");

  const summary = await curationSummary(ds);
  assert.equal(summary.reviewed, 4);
  assert.equal(summary.relabelled, 1);
  assert.equal(summary.excluded, 2);
  const anger = summary.perClass.find((c) => c.emotion === "anger")!;
  assert.deepEqual({ images: anger.images, relabelledOut: anger.relabelledOut, excluded: anger.excluded, curated: anger.curated }, { images: 3, relabelledOut: 1, excluded: 1, curated: 1 });
  assert.equal(summary.perClass.find((c) => c.emotion === "fear")!.relabelledIn, 1);
  const items = summary[DISPLAY]();
  assert.deepEqual(items.map((i) => i.mime).sort(), ["application/vnd.fernb.chart+json", "text/plain"]);
  const spec = JSON.parse(items.find((i) => i.mime.includes("chart"))!.data as string);
  assert.ok(spec.data.values.some((v: { status: string; count: number; emotion: string }) => v.emotion === "anger" && v.status === "excluded" && v.count === 1));
  assert.match(items.find((i) => i.mime === "text/plain")!.data as string, /4 reviewed, 1 relabelled, 2 excluded/);

  // Nothing in the dataset folder changed except the ledger (no lock file left behind).
  const after = snapshot(root);
  const changed = [...after.keys()].filter((k) => before.get(k) !== after.get(k));
  assert.deepEqual(changed, [DEFAULT_LEDGER_NAME]);
  assert.equal(after.size, before.size + 1);
  // The ledger (a hidden file) does not become part of the dataset; loading replays it by default.
  assert.equal((await loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false, ledger: false })).size, ds.size);
  assert.equal((await load(root)).size, ds.size - 2);
});

test("a decision about a file that changed since is stale: reported, not applied; unknown paths are reported", async () => {
  const root = await makeDataset();
  const ds = await load(root);
  const ledger = await CurationLedger.open(ds);
  await ledger.relabel("anger/a0.png", "sadness");
  await ledger.exclude("anger/a2.png");
  await ledger.append({ path: "neutral/gone.png", action: "exclude", oldLabel: "neutral", hash: "0".repeat(64) });
  // The image file is replaced after the decision.
  const px = Buffer.alloc(64, 77);
  writeFileSync(path.join(root, "anger/a0.png"), await sharp(px, { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer());
  const changed = await load(root);
  const { dataset: curated, report } = await applyLedger(changed, ledger.file);
  assert.equal(report.stale.length, 1);
  assert.equal(report.stale[0].path, "anger/a0.png");
  assert.equal(report.stale[0].reason, "file changed");
  assert.notEqual(report.stale[0].currentHash, report.stale[0].ledgerHash);
  assert.equal(labelOf(curated, "anger/a0.png"), "anger", "the stale relabel is not applied");
  assert.equal(labelOf(curated, "anger/a2.png"), undefined, "the other decision still applies");
  assert.deepEqual(report.missing.map((m) => m.path), ["neutral/gone.png"]);
  const summary = await curationSummary(changed, ledger.file);
  assert.ok(summary.problems.some((p) => /1 decision NOT applied because the image file changed after the decision: relabel of anger\/a0\.png \(file changed\)/.test(p)), summary.problems.join("\n"));
  assert.match(summary.summary(), /decision about files not in the dataset \(deleted, renamed or unreadable\) ignored: neutral\/gone\.png/, "the summary says what describeCuration says");
  // A fresh decision on the new content applies.
  await ledger.relabel("anger/a0.png", "neutral");
  assert.equal(labelOf((await applyLedger(changed)).dataset, "anger/a0.png"), "neutral");
});

test("a torn last line is reported and ignored; a corrupt middle line and an unknown version are reported; the next append starts a fresh line", async () => {
  const root = await makeDataset();
  const ds = await load(root);
  const ledger = await CurationLedger.open(ds);
  const a = await ledger.exclude("anger/a0.png");
  appendFileSync(ledger.file, "this is not json\n");
  appendFileSync(ledger.file, JSON.stringify({ ...a, v: 2, id: "future" }) + "\n");
  await ledger.exclude("anger/a1.png");
  appendFileSync(ledger.file, '{"v":1,"time":"2026-01-01T00:00:00.000Z","path":"fear/f0.png","ha'); // crash mid-write
  let { entries, report } = await ledger.read();
  assert.equal(entries.length, 2);
  assert.deepEqual(report.invalidLines.map((p) => p.line), [2]);
  assert.match(report.invalidLines[0].reason, /invalid JSON/);
  assert.deepEqual(report.unknownVersions.map((p) => p.line), [3]);
  assert.equal(report.tornLastLine?.line, 5);
  assert.match(report.tornLastLine!.text, /fear\/f0\.png/);
  let applied = await applyLedger(ds);
  assert.equal(applied.dataset.size, ds.size - 2, "both valid exclusions before the torn line apply");
  assert.equal(applied.report.read.tornLastLine?.line, 5);

  // Appending after a torn line: the new decision is a complete line of its own.
  await ledger.exclude("fear/f1.png");
  ({ entries, report } = await ledger.read());
  assert.equal(entries.length, 3);
  assert.equal(entries[2].path, "fear/f1.png");
  assert.equal(report.tornLastLine, undefined);
  assert.deepEqual(report.invalidLines.map((p) => p.line), [2, 5], "the torn fragment is now a reported middle line");
  applied = await applyLedger(ds);
  assert.equal(applied.dataset.size, ds.size - 3);
  const summary = await curationSummary(ds);
  assert.ok(summary.problems.some((p) => p.startsWith("ledger line 5 skipped")));

  // parseLedger: a valid last line without newline is accepted.
  const text = readFileSync(ledger.file, "utf8").trimEnd();
  const parsed = parseLedger(text);
  assert.equal(parsed.entries.length, 3);
  assert.equal(parsed.report.missingFinalNewline, true);
  assert.equal(parsed.report.tornLastLine, undefined);
});

test("concurrent appenders (4 processes x 200 lines) never tear or interleave lines", { timeout: 60_000 }, async () => {
  const root = await makeDataset();
  const ledgerFile = path.join(root, DEFAULT_LEDGER_NAME);
  const child = path.join(tmp("child"), "append.mjs");
  const moduleUrl = pathToFileURL(path.resolve("kernel/fer/curation/ledger.ts")).href;
  writeFileSync(
    child,
    `const { CurationLedger } = await import(${JSON.stringify(moduleUrl)});
const [root, who, count] = process.argv.slice(2);
const ledger = await CurationLedger.open(root);
const note = who.repeat(300); // long lines make torn writes likelier
for (let i = 0; i < Number(count); i++) {
  await ledger.append({ path: "anger/a0.png", action: "exclude", oldLabel: "anger", hash: "h", note: note + ":" + i });
}
`,
  );
  const run = (who: string) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, ["--import", "tsx", child, root, who, "200"], { cwd: process.cwd(), stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      p.stderr.on("data", (d) => (err += d));
      p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`appender ${who} exited ${code}: ${err}`))));
    });
  await Promise.all(["A", "B", "C", "D"].map(run));
  const text = readFileSync(ledgerFile, "utf8");
  const lines = text.split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, 800);
  const perWriter = new Map<string, number[]>();
  for (const line of lines) {
    const e = JSON.parse(line); // throws on a torn or interleaved line
    const [who, i] = e.note.split(":");
    assert.equal(who, who[0].repeat(300));
    perWriter.set(who[0], [...(perWriter.get(who[0]) ?? []), Number(i)]);
  }
  for (const w of ["A", "B", "C", "D"]) assert.deepEqual(perWriter.get(w), Array.from({ length: 200 }, (_, i) => i), `writer ${w}'s lines, in order`);
  const { entries, report } = await (await CurationLedger.open(root)).read();
  assert.equal(entries.length, 800);
  assert.equal(report.invalidLines.length + report.duplicateIds.length, 0);
  assert.ok(!existsSync(ledgerFile + ".lock"), "the lock is released");
});

test("lock file: a stale lock is broken, a fresh one is waited for and then reported", async () => {
  const root = await makeDataset();
  const ledger = await CurationLedger.open(root, { lockStaleMs: 1000, lockTimeoutMs: 300 });
  const lock = ledger.file + ".lock";
  writeFileSync(lock, "12345 someone\n");
  await assert.rejects(ledger.exclude("anger/a0.png", { oldLabel: "anger" }), /Could not lock/);
  assert.ok(!existsSync(ledger.file), "nothing was written without the lock");
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(lock, old, old); // a crashed process's lock
  await ledger.exclude("anger/a0.png", { oldLabel: "anger" });
  assert.equal((await ledger.read()).entries.length, 1);
  assert.ok(!existsSync(lock));
});

test("exportCurated copies (never moves) into a folder per class with a manifest, and refuses to overwrite", async () => {
  const root = await makeDataset();
  const ds = await load(root);
  const ledger = await CurationLedger.open(ds);
  await ledger.relabel("anger/a0.png", "fear");
  await ledger.exclude("fear/f1.png");
  const before = snapshot(root);
  const out = path.join(tmp("export"), "curated");
  const { manifest, manifestFile } = await exportCurated(ds, ledger, out);

  assert.deepEqual(readdirSync(out).sort(), ["anger", "fear", "happiness", "manifest.json"]);
  assert.deepEqual(readdirSync(path.join(out, "fear")).sort(), ["a0.png", "f0.png"]);
  assert.deepEqual(readdirSync(path.join(out, "anger")).sort(), ["a1.png", "a2.png"]);
  assert.deepEqual(readFileSync(path.join(out, "fear", "a0.png")), readFileSync(path.join(root, "anger", "a0.png")), "byte-identical copy");
  assert.deepEqual(snapshot(root), before, "the source is unchanged (copied, not moved)");

  const m = JSON.parse(readFileSync(manifestFile, "utf8"));
  assert.deepEqual(m, JSON.parse(JSON.stringify(manifest)));
  assert.equal(m.source.root, root);
  assert.equal(m.ledger.file, ledger.file);
  assert.equal(m.ledger.sha256, createHash("sha256").update(readFileSync(ledger.file)).digest("hex"));
  assert.deepEqual(m.counts, { anger: 2, disgust: 0, fear: 2, happiness: 1, sadness: 0, surprise: 0, neutral: 0 });
  assert.equal(m.total, 5);
  const byOriginal = new Map<string, { file: string | null; label: string; action: string; originalLabel: string }>(m.files.map((f: { original: string }) => [f.original, f]));
  assert.deepEqual(byOriginal.get("anger/a0.png"), { file: "fear/a0.png", original: "anger/a0.png", originalLabel: "anger", label: "fear", action: "relabelled" });
  assert.equal(byOriginal.get("fear/f1.png")!.action, "excluded");
  assert.equal(byOriginal.get("fear/f1.png")!.file, null);
  assert.equal(byOriginal.get("happy/h0.png")!.file, "happiness/h0.png");

  // Refusals: a non-empty folder, an existing file even when allowed, a folder inside the dataset.
  const before2 = snapshot(out);
  await assert.rejects(exportCurated(ds, ledger, out), /not empty/);
  await assert.rejects(exportCurated(ds, ledger, out, { allowNonEmpty: true }), /already exists; exportCurated never overwrites/);
  assert.deepEqual(snapshot(out), before2, "a refused export writes nothing");
  await assert.rejects(exportCurated(ds, ledger, path.join(root, "out")), /inside the dataset/);
  assert.ok(!existsSync(path.join(root, "out")));
  // allowNonEmpty into a folder with unrelated files works and leaves them alone.
  const other = tmp("export2");
  writeFileSync(path.join(other, "README.txt"), "keep me");
  await exportCurated(ds, ledger, other, { allowNonEmpty: true });
  assert.equal(readFileSync(path.join(other, "README.txt"), "utf8"), "keep me");
  assert.equal(readdirSync(path.join(other, "fear")).length, 2);
  const after = snapshot(root);
  assert.deepEqual([...after.keys()].filter((k) => before.get(k) !== after.get(k)), [], "exports never write to the dataset folder");
});

// ---- loadFolderDataset replays the ledger ------------------------------------------------------

const loadRaw = (root: string) => loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false, ledger: false });
const textOf = (ds: FaceDataset) => ds[DISPLAY]().find((i) => i.mime === "text/plain")!.data as string;

test("loadFolderDataset replays the ledger by default: new counts after each decision, { ledger: false } is raw, undo restores", async () => {
  const root = await makeDataset();
  const first = await load(root);
  assert.equal(first.curation, undefined, "no ledger yet: the raw data");
  assert.doesNotMatch(first.summary(), /Curation ledger/);
  const ledger = await CurationLedger.open(first);
  const relabel = (await ledger.relabel("anger/a0.png", "fear"))!;
  const exclude = await ledger.exclude("fear/f1.png");
  const before = snapshot(root);

  const ds = await load(root);
  assert.equal(ds.size, 5);
  assert.equal(labelOf(ds, "anger/a0.png"), "fear");
  assert.equal(labelOf(ds, "fear/f1.png"), undefined);
  const counts = ds.classCounts();
  assert.deepEqual([counts.anger, counts.fear, counts.happiness], [2, 2, 1]);
  assert.ok(ds.curation);
  assert.equal(ds.curation.ledgerFile, ledger.file);
  assert.equal(ds.curation.ledgerSha256, createHash("sha256").update(readFileSync(ledger.file)).digest("hex"));
  assert.equal(ds.curation.raw.size, 6);
  assert.equal(uncurated(ds), ds.curation.raw);
  assert.deepEqual([...ds.curation.originalIndex].map((i) => ds.curation!.raw.paths[i]), ds.paths);
  // display(dataset) says what the ledger did.
  assert.match(textOf(ds), /Curation ledger \.fernb-ledger\.jsonl applied: 1 relabelled, 1 excluded \(6 images before curation\)/);
  assert.match(textOf(ds), /FaceDataset: 5 images/);
  const spec = JSON.parse(ds[DISPLAY]().find((i) => i.mime.includes("chart"))!.data as string);
  assert.ok(spec.title.subtitle.some((t: string) => /1 relabelled, 1 excluded/.test(t)), JSON.stringify(spec.title));
  assert.equal(spec.data.values.find((v: { emotion: string }) => v.emotion === "fear").count, 2);

  // Opting out: the raw data, as before the ledger.
  const raw = await loadRaw(root);
  assert.equal(raw.size, 6);
  assert.equal(raw.curation, undefined);
  assert.equal(labelOf(raw, "anger/a0.png"), "anger");
  assert.notEqual(ds.fingerprint(), raw.fingerprint(), "applied decisions change the fingerprint");

  // Undo appends; the next load shows the image again.
  await ledger.undo(exclude);
  const undone = await load(root);
  assert.equal(undone.size, 6);
  assert.equal(labelOf(undone, "fear/f1.png"), "fear");
  assert.equal(labelOf(undone, "anger/a0.png"), "fear");
  assert.notEqual(undone.fingerprint(), raw.fingerprint(), "the relabel still applies");
  await ledger.undo(relabel);
  const allUndone = await load(root);
  assert.equal(labelOf(allUndone, "anger/a0.png"), "anger");
  assert.ok(allUndone.curation, "the ledger was replayed");
  assert.equal(allUndone.fingerprint(), raw.fingerprint(), "no effective decision: the raw data's fingerprint (checkpoints keep resuming)");
  assert.match(allUndone.summary(), /applied: 0 relabelled, 0 excluded/);
  assert.equal(readFileSync(ledger.file, "utf8").trim().split("\n").length, 4, "undo appended, history kept");

  // Loading wrote nothing (images and ledger untouched, apart from the two undo lines appended above).
  const after = snapshot(root);
  assert.deepEqual([...after.keys()].filter((k) => before.get(k) !== after.get(k)), [DEFAULT_LEDGER_NAME]);
  const ledgerBytes = readFileSync(ledger.file);
  await load(root);
  assert.deepEqual(readFileSync(ledger.file), ledgerBytes);
  assert.deepEqual(snapshot(root), after);
});

test("fingerprint: an empty ledger, or decisions that cancel out, keep the raw data's fingerprint", async () => {
  const root = await makeDataset();
  const raw = await loadRaw(root);
  writeFileSync(path.join(root, DEFAULT_LEDGER_NAME), "");
  const empty = await load(root);
  assert.ok(empty.curation);
  assert.match(empty.summary(), /Curation ledger \.fernb-ledger\.jsonl is empty: nothing applied/);
  assert.equal(empty.fingerprint(), raw.fingerprint());
  const ledger = await CurationLedger.open(raw);
  await ledger.exclude("happy/h0.png");
  const excluded = await load(root);
  assert.equal(excluded.size, 5);
  assert.notEqual(excluded.fingerprint(), raw.fingerprint());
  await ledger.restore("happy/h0.png");
  const restored = await load(root);
  assert.equal(restored.size, 6);
  assert.equal(restored.fingerprint(), raw.fingerprint());
  assert.equal(restored.curation?.report.reviewed, 1);
});

test("loading with a torn last line, a stale and a missing decision: reported in words, the rest applied", async () => {
  const root = await makeDataset();
  const ledger = await CurationLedger.open(await load(root));
  await ledger.exclude("anger/a1.png");
  await ledger.relabel("anger/a2.png", "sadness");
  await ledger.append({ path: "neutral/gone.png", action: "exclude", oldLabel: "neutral", hash: "0".repeat(64) });
  await ledger.relabel("happy/h0.png", "surprise");
  // anger/a2.png is replaced after its decision; then a write is interrupted.
  writeFileSync(path.join(root, "anger/a2.png"), await sharp(Buffer.alloc(64, 77), { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer());
  appendFileSync(ledger.file, '{"v":1,"time":"2026-01-01T00:00:00.000Z","path":"fear/f0.png","ac');
  const ledgerBytes = readFileSync(ledger.file);

  const ds = await load(root);
  assert.equal(ds.size, 5, "the exclusion before the torn line applies");
  assert.equal(labelOf(ds, "anger/a1.png"), undefined);
  assert.equal(labelOf(ds, "happy/h0.png"), "surprise");
  assert.equal(labelOf(ds, "anger/a2.png"), "anger", "the stale relabel is not applied");
  assert.equal(labelOf(ds, "fear/f0.png"), "fear", "the torn line is ignored");
  const r = ds.curation!.report;
  assert.equal(r.read.tornLastLine?.line, 5);
  assert.deepEqual(r.stale.map((s) => [s.path, s.reason]), [["anger/a2.png", "file changed"]]);
  assert.deepEqual(r.missing.map((m) => m.path), ["neutral/gone.png"]);
  const text = textOf(ds);
  assert.match(text, /applied: 1 relabelled, 1 excluded/);
  assert.match(text, /ledger line 5, the last one, is incomplete \(a write was interrupted\) and was ignored; the decisions before it were applied/);
  assert.match(text, /1 decision NOT applied because the image file changed after the decision: relabel of anger\/a2\.png \(file changed\)/);
  assert.match(text, /1 decision about files not in the dataset \(deleted, renamed or unreadable\) ignored: neutral\/gone\.png/);
  assert.deepEqual(readFileSync(ledger.file), ledgerBytes, "loading never repairs or rewrites the ledger");
});

test("the memory cache never serves a stale curated view", async () => {
  clearDatasetMemoryCache();
  const root = await makeDataset();
  const opts = { height: 8, width: 8, cacheDir: false as const };
  const first = await loadFolderDataset(root, opts);
  assert.equal(first.size, 6);
  const ledger = await CurationLedger.open(first);
  const ex = await ledger.exclude("anger/a0.png");
  const second = await loadFolderDataset(root, opts);
  assert.equal(second.loadStats.memoryCacheHit, true, "pixels come from memory");
  assert.equal(second.size, 5, "but the ledger is replayed");
  await ledger.relabel("fear/f0.png", "disgust");
  const third = await loadFolderDataset(root, opts);
  assert.equal(third.loadStats.memoryCacheHit, true);
  assert.deepEqual([third.size, labelOf(third, "fear/f0.png")], [5, "disgust"]);
  await ledger.undo(ex);
  const fourth = await loadFolderDataset(root, opts);
  assert.deepEqual([fourth.size, labelOf(fourth, "anger/a0.png"), labelOf(fourth, "fear/f0.png")], [6, "anger", "disgust"]);
  const raw = await loadFolderDataset(root, { ...opts, ledger: false });
  assert.equal(raw.loadStats.memoryCacheHit, true);
  assert.deepEqual([raw.size, labelOf(raw, "fear/f0.png")], [6, "fear"], "the cached raw data was not changed by the curated views");
  assert.deepEqual([first.size, labelOf(first, "fear/f0.png")], [6, "fear"]);
  assert.equal(raw.fingerprint(), first.fingerprint());
  clearDatasetMemoryCache();
});

test("a loaded curated view is never curated twice: applyLedger, curationSummary, exportCurated, subsets, new decisions", async () => {
  const root = await makeDataset();
  const ledger = await CurationLedger.open(await load(root));
  await ledger.relabel("anger/a0.png", "fear");
  await ledger.exclude("fear/f1.png");
  const ds = await load(root);
  assert.equal(ds.size, 5);

  const again = await applyLedger(ds);
  assert.equal(again.report.stale.length, 0, "replayed over the raw labels, not the curated ones");
  assert.equal(again.dataset.size, 5);
  assert.equal(again.dataset.fingerprint(), ds.fingerprint());
  assert.equal(again.source, ds.curation!.raw);
  assert.equal(again.report.ledgerFile, ledger.file);

  const summary = await curationSummary(ds);
  assert.deepEqual([summary.images, summary.relabelled, summary.excluded, summary.stale], [6, 1, 1, 0]);
  assert.equal(summary.perClass.find((c) => c.emotion === "anger")!.images, 3, "given labels are the raw ones");

  const out = path.join(tmp("export-curated"), "out");
  const { manifest } = await exportCurated(ds, undefined, out);
  assert.deepEqual([manifest.total, manifest.relabelled, manifest.excluded, manifest.source.images], [5, 1, 1, 6]);
  assert.equal(manifest.counts.fear, 2);
  assert.equal(manifest.source.fingerprint, (await loadRaw(root)).fingerprint());
  assert.ok(manifest.files.some((f) => f.original === "fear/f1.png" && f.action === "excluded"));

  // A subset of the curated view keeps its raw labels.
  const sub = ds.subset([ds.paths.indexOf("anger/a0.png"), ds.paths.indexOf("happy/h0.png")]);
  assert.deepEqual([sub.label(0), sub.curation!.raw.label(0), sub.curation!.subset], ["fear", "anger", true]);
  const subApplied = await applyLedger(sub);
  assert.deepEqual([subApplied.report.stale.length, subApplied.dataset.label(0), subApplied.dataset.size], [0, "fear", 2]);
  assert.match(sub.summary(), /in the whole dataset this is a subset of/);

  // New decisions on the curated view record the raw (folder) label, which replay checks.
  const onView = await CurationLedger.open(ds);
  assert.equal(onView.file, ledger.file);
  const line = (await onView.relabel("anger/a0.png", "neutral"))!;
  assert.equal(line.oldLabel, "anger");
  await onView.restore("fear/f1.png");
  const replayed = await applyLedger(ds);
  assert.deepEqual([replayed.dataset.size, labelOf(replayed.dataset, "anger/a0.png"), replayed.report.stale.length], [6, "neutral", 0], "the ledger as it is now, from the raw data");
});

test("loadFolderDataset({ ledger }) replays another ledger file; a missing one is reported", async () => {
  const root = await makeDataset();
  const other = path.join(tmp("other-ledger"), "decisions.jsonl");
  const ledger = await CurationLedger.open(await load(root), { file: other });
  await ledger.exclude("anger/a0.png");
  assert.equal((await load(root)).size, 6, "the default ledger does not exist");
  const ds = await loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false, ledger: other });
  assert.equal(ds.size, 5);
  assert.equal(ds.curation!.ledgerFile, other);
  assert.match(ds.summary(), new RegExp(`Curation ledger ${other.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} applied: 0 relabelled, 1 excluded`));
  assert.equal((await applyLedger(ds)).dataset.size, 5, "applyLedger keeps using the view's own ledger");
  const missing = await loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, memoryCache: false, ledger: other + ".nope" });
  assert.equal(missing.size, 6);
  assert.match(missing.summary(), /does not exist \(yet\): nothing applied/);
  await assert.rejects(loadFolderDataset(root, { height: 8, width: 8, cacheDir: false, ledger: "" }), /ledger must be a ledger file path or false/);
});
