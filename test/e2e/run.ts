/**
 * fernb end-to-end test: the extension in a real VS Code (code-server 4.100.3, i.e. VS Code
 * 1.100.3) driven by a real browser (Debian's chromium through playwright-core).
 *
 * How to run (from the repo root):
 *   bash test/e2e/install-code-server.sh     # once; seconds when already installed
 *   npm run build                            # dist/extension.js, dist/kernel.js, dist/renderers/
 *   node --import tsx --test test/e2e/run.ts # or: node --import tsx test/e2e/run.ts
 *
 * What it does: copies test/fixtures/e2e.fernb into a scratch workspace, starts code-server with the
 * repo root linked in as the installed extension `fernb.fernb`, opens the notebook through Quick
 * Open once the extension host is up, checks the kernel picker shows "FER Kernel", runs
 * "Notebook: Run All" and asserts on the outputs. The expected outputs come from the fixture's
 * cells (see expectationsFrom): the string a console.log cell prints must show as text, the first
 * `throw new …Error("…")` message must show as an error output, and a cell calling
 * `display.chart(` must render an SVG vega chart with data marks in the renderer's frame. After the
 * review grid's decisions (and one made in the review grid a box drawn on the embedding map
 * opens), the fixture's "curated faces: N (...)" cell is run again: the loader replays the
 * ledger, so its counts must change by exactly those decisions.
 *
 * Screenshots go to test/artifacts/ (git-ignored); on failure also the VS Code logs
 * (e2e-logs.txt), the output webview's text and the browser console.
 *
 * Env: FERNB_CACHE (code-server cache root, default ~/.cache/fernb), FERNB_E2E_FIXTURE (another
 * notebook), FERNB_E2E_EXTENSION (another unpacked extension folder), FERNB_E2E_KEEP=1 (keep the
 * scratch folder), FERNB_E2E_HEADED=1 (show the browser; needs a display).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { parseNotebook, serializeNotebook } from "../../extension/notebookFormat";
import { join, resolve } from "node:path";
import type { Locator } from "playwright-core";
import { ARTIFACTS_DIR, CodeServer, CODE_SERVER_BIN, log, REPO_ROOT, waitFor, Workbench, writeArtifact } from "./codeServer";

const FIXTURE = resolve(process.env.FERNB_E2E_FIXTURE || join(REPO_ROOT, "test", "fixtures", "e2e.fernb"));
const EXTENSION = resolve(process.env.FERNB_E2E_EXTENSION || REPO_ROOT);
const NOTEBOOK_NAME = "e2e.fernb";
const BROKEN_NAME = "broken.fernb";
/** A notebook cut off in the middle, as after a crash while copying it. */
const BROKEN_TEXT = '{\n  "fernb": 1,\n  "metadata": {},\n  "cells": [\n    {\n      "kind": "code",\n      "language": "typescript",\n      "source": ["console.log(1)';
const KERNEL_LABEL = "FER Kernel";
const CHART_MIME = "application/vnd.fernb.chart+json";
/** The fixture cell that loads and counts the curated faces (0-based, counting markdown cells). */
const COUNT_CELL_INDEX = countCellIndex(FIXTURE);

interface Expectations {
  text?: string;
  error?: string;
  chart: boolean;
}

/** Index of the fixture's first cell whose source contains `text` (0-based, counting markdown cells). */
function cellIndexWith(fixturePath: string, text: string): number {
  const nb = JSON.parse(readFileSync(fixturePath, "utf8")) as { cells?: { source?: string | string[] }[] };
  return (nb.cells ?? []).findIndex((c) => (Array.isArray(c.source) ? c.source.join("") : (c.source ?? "")).includes(text));
}

function countCellIndex(fixturePath: string): number {
  const nb = JSON.parse(readFileSync(fixturePath, "utf8")) as { cells?: { source?: string | string[] }[] };
  return (nb.cells ?? []).findIndex((c) => (Array.isArray(c.source) ? c.source.join("") : (c.source ?? "")).includes("curated faces: "));
}

/**
 * Reads what the fixture's cells should produce from their sources: the text is the string literal
 * in `console.log("…")`, or else the first string literal of the cell that calls console.log
 * (`const greeting = "…"; console.log(greeting)`); the error is the message of the first
 * `throw new …Error("…")`; a chart is expected when a cell calls `display.chart(`.
 */
function expectationsFrom(fixturePath: string): Expectations {
  const nb = JSON.parse(readFileSync(fixturePath, "utf8")) as { cells?: { kind?: string; source?: string | string[] }[] };
  const sources = (nb.cells ?? []).filter((c) => c.kind === "code").map((c) => (Array.isArray(c.source) ? c.source.join("") : (c.source ?? "")));
  const literal = /(['"`])((?:(?!\1)[^\\\n])+)\1/;
  const logCell = sources.find((s) => /console\.log\s*\(/.test(s));
  const text = logCell && (/console\.log\(\s*(['"`])((?:(?!\1)[^\\\n])+)\1\s*\)/.exec(logCell)?.[2] ?? literal.exec(logCell)?.[2]);
  const error = sources.map((s) => /throw\s+new\s+\w*Error\(\s*(['"`])((?:(?!\1)[^\\\n])+)\1/.exec(s)?.[2]).find(Boolean);
  return { text, error, chart: sources.some((s) => /display\.chart\s*\(/.test(s)) };
}

test("fernb notebook in code-server + chromium", { timeout: 10 * 60_000 }, async (t) => {
  const started = Date.now();
  assert.ok(existsSync(CODE_SERVER_BIN), `code-server is missing at ${CODE_SERVER_BIN}: run bash test/e2e/install-code-server.sh`);
  assert.ok(existsSync(FIXTURE), `fixture notebook ${FIXTURE} is missing`);
  const pkg = JSON.parse(readFileSync(join(EXTENSION, "package.json"), "utf8")) as { main?: string; contributes?: { notebookRenderer?: { entrypoint: string }[] } };
  for (const file of [pkg.main, ...(pkg.contributes?.notebookRenderer ?? []).map((r) => r.entrypoint)].filter(Boolean) as string[]) {
    assert.ok(existsSync(join(EXTENSION, file)), `${join(EXTENSION, file)} is missing: run npm run build first`);
  }
  // Artifacts of an earlier run would be mistaken for this one's.
  for (const f of existsSync(ARTIFACTS_DIR) ? readdirSync(ARTIFACTS_DIR) : []) if (f.startsWith("e2e-")) rmSync(join(ARTIFACTS_DIR, f), { force: true });
  const expected = expectationsFrom(FIXTURE);
  log(`fixture ${FIXTURE}: expecting ${JSON.stringify(expected)}`);
  assert.ok(expected.text, `the fixture has no cell with console.log('<string literal>')`);
  assert.ok(expected.error, `the fixture has no cell with throw new Error('<string literal>')`);
  assert.ok(expected.chart, `the fixture has no cell calling display.chart(...)`);

  const server = await CodeServer.create({ extensionPath: EXTENSION });
  let wb: Workbench | undefined;
  let failed = false;

  /** A step that stops the run at its first failure (later steps are skipped, not timed out). */
  const step = async (name: string, fn: () => Promise<void>) => {
    if (failed) {
      await t.test(name, { skip: "an earlier step failed" }, () => undefined);
      return;
    }
    await t.test(name, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  };

  try {
    await step("code-server starts and the workbench loads", async () => {
      copyFileSync(FIXTURE, join(server.workspace, NOTEBOOK_NAME));
      writeFileSync(join(server.workspace, BROKEN_NAME), BROKEN_TEXT);
      // Faces for the evaluation cells: the bundled sample's validation split.
      cpSync(join(REPO_ROOT, "notebooks", "data", "sample", "val"), join(server.workspace, "faces"), { recursive: true });
      await server.start();
      wb = await Workbench.open(server);
      // Opening the notebook before the extension host is up opens it as JSON text.
      await wb.waitForExtensionHost();
    });

    await step("the .fernb file opens as a notebook and the extension activates", async () => {
      await wb!.openFile(NOTEBOOK_NAME);
      await wb!.waitForNotebookEditor();
      await wb!.waitForExtensionActivated();
      await wb!.screenshot("e2e-01-opened");
    });

    await step(`the notebook opens with "${KERNEL_LABEL}" selected (README), nothing picked by hand`, async () => {
      const w = wb!;
      // The README says VS Code opens the notebook with FER Kernel selected: the toolbar must show it
      // without any selection by the test ("Select Kernel" is a failure).
      await waitFor(`the kernel picker to show ${KERNEL_LABEL}`, async () => (await w.kernelLabel().catch(() => "")).includes(KERNEL_LABEL), 30_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}; the toolbar shows "${await w.kernelLabel().catch(() => "<no kernel picker>")}"`);
      });
      // The picker's list itself must offer it too.
      await w.notebook.locator(".kernel-label").first().click();
      await w.quickInput.locator(".monaco-list-row").first().waitFor({ state: "visible", timeout: 20_000 });
      const rows = await waitFor("kernel quick pick rows", async () => {
        const r = await w.quickPickLabels();
        return r.some((x) => x.includes(KERNEL_LABEL)) ? r : undefined;
      }, 20_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}; it lists ${JSON.stringify(await w.quickPickLabels())}`);
      });
      log(`kernel picker lists ${JSON.stringify(rows)}`);
      await w.screenshot("e2e-02-kernel-picker");
      await w.page.keyboard.press("Escape");
      await w.quickInput.locator("input.input").waitFor({ state: "hidden", timeout: 10_000 }).catch(() => undefined);
      assert.ok((await w.kernelLabel()).includes(KERNEL_LABEL), `${KERNEL_LABEL} is still the selected kernel`);
    });

    await step("Notebook: Run All", async () => {
      await wb!.runAll();
    });

    await step("a cell's console.log shows as a text output", async () => {
      const w = wb!;
      await w.waitForOutputText(expected.text!, 180_000).catch(async (e) => {
        throw new Error(`no output with "${expected.text}" (${(e as Error).message}).\nOutputs: ${await w.outputText()}\nCell status bars: ${JSON.stringify(await w.cellStatuses())}`);
      });
      await w.screenshot("e2e-03-text-output");
    });

    await step("a throwing cell shows its error message", async () => {
      const w = wb!;
      await w.waitForOutputText(expected.error!, 120_000).catch(async (e) => {
        throw new Error(`no error output with "${expected.error}" (${(e as Error).message}).\nOutputs: ${await w.outputText()}`);
      });
    });

    await step(`the ${CHART_MIME} renderer draws a vega chart`, async () => {
      const w = wb!;
      const frame = w.rendererFrame();
      // vega's SVG renderer: <svg class="marks"><g class="mark-line role-mark …"><path …/></g></svg>;
      // axes and legends are role-axis-*/role-legend-* groups, so role-mark (minus the group
      // container) leaves the data marks: lines, bars (mark-rect), points (mark-symbol), areas, …
      const marks = frame.locator("svg g.role-mark:not(.mark-group) > path, svg g.role-mark:not(.mark-group) > rect");
      await w.waitForInOutputs(marks.first(), 120_000).catch(async (e) => {
        const chartErrors = await frame.locator(".fernb-chart-error").allInnerTexts().catch(() => []);
        throw new Error(
          `no vega SVG marks in the renderer frame (${(e as Error).message}).` +
            (chartErrors.length ? `\nChart renderer error: ${chartErrors.join("\n")}` : "") +
            `\nOutputs: ${await w.outputText()}\nBrowser console:\n${w.consoleMessages.slice(-30).join("\n")}`,
        );
      });
      const markClasses = await frame.locator("svg g.role-mark:not(.mark-group)").evaluateAll((gs) => gs.map((g) => g.getAttribute("class")?.split(" ")[0]));
      const paths = await marks.count();
      log(`chart data marks: ${JSON.stringify([...new Set(markClasses)])}, ${paths} path/rect elements`);
      assert.ok(paths > 0, "the chart has no mark elements");
      const svg = frame.locator("svg.marks, svg").first();
      const box = await svg.boundingBox();
      assert.ok(box && box.width > 50 && box.height > 50, `the chart SVG is too small or hidden: ${JSON.stringify(box)}`);
      await svg.scrollIntoViewIfNeeded().catch(() => undefined);
      await w.screenshot("e2e-04-chart");
    });

    await step("the confusion matrix renders; clicking a cell shows its faces", async () => {
      const w = wb!;
      const frame = w.rendererFrame();
      const cells = frame.locator(".fernb-cm td[data-row][data-col]");
      await w.waitForInOutputs(cells.first(), 120_000);
      assert.equal(await cells.count(), 49, "7×7 cells");
      const total = await frame.locator(".fernb-cm .cm-total.cm-grand").innerText();
      assert.equal(total.trim(), "105", "grand total = the 105 sample faces");
      // A cell with faces: the first non-zero one.
      const counts = await cells.allInnerTexts();
      const k = counts.findIndex((t) => Number(t.trim()) > 0);
      assert.ok(k >= 0, "some cell has faces");
      const cell = cells.nth(k);
      await bringIntoView(w, cell);
      await cell.click();
      const faces = frame.locator(".fernb-cm .cm-faces .cm-face");
      await faces.first().waitFor({ state: "visible", timeout: 30_000 });
      const shown = await faces.count();
      assert.ok(shown > 0 && shown <= Number(counts[k]), `${shown} faces for a cell of ${counts[k]}`);
      assert.match(await frame.locator(".fernb-cm .cm-faces-head").innerText(), /→/);
      const img = frame.locator(".fernb-cm .cm-faces img").first();
      assert.ok(((await img.getAttribute("src")) ?? "").startsWith("data:image/png;base64,"), "thumbnails travel inside the output");
      await w.screenshot("e2e-06-confusion-faces");
    });

    await step("the Grad-CAM view shows the face and its heat maps", async () => {
      const w = wb!;
      const frame = w.rendererFrame();
      const items = frame.locator(".fernb-gc .gc-item");
      await w.waitForInOutputs(items.first(), 120_000);
      assert.ok((await items.count()) >= 1);
      const canvases = frame.locator(".fernb-gc .gc-item").first().locator("canvas");
      assert.ok((await canvases.count()) >= 2, "face + heat maps");
      await bringIntoView(w, items.first());
      await w.screenshot("e2e-07-gradcam");
    });

    await step("the review grid relabels and excludes faces, and each decision lands in the ledger", async () => {
      const w = wb!;
      const frame = w.rendererFrame();
      const tiles = frame.locator(".fernb-rv .rv-tile");
      await w.waitForInOutputs(tiles.first(), 120_000);
      const ledger = join(server.workspace, "faces", ".fernb-ledger.jsonl");
      const lines = () => (existsSync(ledger) ? readFileSync(ledger, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
      await bringIntoView(w, tiles.first());
      // Keyboard: focus the first face and press 3 (the third emotion, fear).
      await tiles.first().click();
      await tiles.first().press("3");
      await waitFor("the first tile to be saved", async () => /saved ✓/.test(await tiles.first().locator(".rv-status").innerText().catch(() => "")), 60_000);
      // Mouse: the second face's Exclude button.
      await tiles.nth(1).locator(".rv-exclude").click();
      await waitFor("the second tile to be saved", async () => /saved ✓/.test(await tiles.nth(1).locator(".rv-status").innerText().catch(() => "")), 60_000);
      const entries = await waitFor("two ledger lines", async () => (lines().length >= 2 ? lines() : undefined), 30_000);
      assert.equal(entries[0].action, "relabel");
      assert.equal(entries[0].newLabel, "fear");
      assert.equal(entries[0].path, await tiles.first().getAttribute("data-path"));
      assert.equal(entries[1].action, "exclude");
      assert.match(entries[0].hash, /^[0-9a-f]{64}$/);
      await w.screenshot("e2e-08-review");
    });

    await step("a review tile's Grad-CAM button asks the kernel, through the extension, and draws the heat map on the face", async () => {
      const w = wb!;
      const frame = w.rendererFrame();
      const tile = frame.locator(".fernb-rv .rv-tile").nth(2);
      await bringIntoView(w, tile);
      const button = tile.locator(".rv-cam");
      await button.click();
      const shownFor = await waitFor("the heat map on the third tile", async () => (await tile.getAttribute("data-cam").catch(() => null)) || undefined, 60_000);
      assert.ok(shownFor && (await tile.locator(".rv-cam-canvas").getAttribute("data-color-map")), "a heat map drawn over the face");
      assert.equal(await button.getAttribute("aria-pressed"), "true");
      assert.match(await tile.locator(".rv-cam-info").innerText(), new RegExp(`grad-?cam.*: ${shownFor} \\d`, "i"));
      assert.doesNotMatch(await tile.locator(".rv-status").innerText().catch(() => ""), /error/i);
      await w.screenshot("e2e-09-review-gradcam");
    });

    await step("the embedding map: a box around points opens their faces in a review grid, and a relabel there lands in the ledger", async () => {
      const w = wb!;
      const frame = w.rendererFrame();
      const canvas = frame.locator(".fernb-em canvas.em-points");
      await w.waitForInOutputs(canvas, 120_000);
      await bringIntoView(w, canvas);
      assert.equal(await canvas.getAttribute("data-drawn"), "105", "every sample face is a point");
      const ledger = join(server.workspace, "faces", ".fernb-ledger.jsonl");
      const lines = () => (existsSync(ledger) ? readFileSync(ledger, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { path: string; action: string; newLabel?: string }) : []);
      const decided = new Set(lines().map((e) => e.path));
      // Drag a box over the whole map: every point, sent to the kernel as point ids.
      const box = (await canvas.boundingBox())!;
      await w.page.mouse.move(box.x + 2, box.y + 2);
      await w.page.mouse.down();
      await w.page.mouse.move(box.x + box.width - 2, box.y + box.height - 2, { steps: 8 });
      await w.page.mouse.up();
      const tiles = frame.locator(".fernb-em .em-review .rv-tile");
      await tiles.first().waitFor({ state: "visible", timeout: 60_000 });
      assert.equal(await tiles.count(), 105, "the review grid shows the selected faces");
      assert.match(await frame.locator(".fernb-em .em-status").innerText(), /105 face\(s\) in the review grid/);
      // Relabel a face no earlier step decided on to surprise, in the map's grid.
      const paths = await tiles.evaluateAll((ts) => ts.map((t) => (t as HTMLElement).dataset.path ?? ""));
      const target = paths.find((p) => !decided.has(p) && !p.startsWith("surprise/"));
      assert.ok(target, "a face without a decision yet");
      const tile = frame.locator(`.fernb-em .em-review .rv-tile[data-path="${target}"]`);
      await bringIntoView(w, tile);
      await tile.locator("select.rv-relabel").selectOption("surprise");
      await waitFor("the map's review tile to be saved", async () => /saved ✓/.test(await tile.locator(".rv-status").innerText().catch(() => "")), 60_000);
      const entry = await waitFor("the relabel in the ledger", async () => lines().find((e) => e.path === target && e.action === "relabel"), 30_000);
      assert.equal(entry.newLabel, "surprise");
      await bringIntoView(w, canvas);
      await w.screenshot("e2e-10-embedding-map");
    });

    await step("running the count cell again loads the curated view: the ledger's decisions change the counts", async () => {
      const w = wb!;
      const ledger = join(server.workspace, "faces", ".fernb-ledger.jsonl");
      const entries = readFileSync(ledger, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { action: string; oldLabel: string; newLabel?: string });
      const countsOf = (text: string) => {
        const m = /curated faces: (\d+) \(([^)]*)\)/.exec(text);
        assert.ok(m, `no "curated faces: N (...)" line in ${JSON.stringify(text.slice(0, 300))}`);
        return { total: Number(m[1]), counts: Object.fromEntries(m[2].split(", ").map((p) => [p.split(" ")[0], Number(p.split(" ")[1])])) as Record<string, number> };
      };
      const index = COUNT_CELL_INDEX;
      assert.ok(index >= 0, "the fixture has no cell printing `curated faces: N (...)`");
      const row = w.notebook.locator(`.monaco-list-row[data-index="${index}"]`);
      await bringIntoView(w, row);
      log(`count cell ${index} in view`);
      // Under Run All the cell ran before any decision: the raw counts.
      const before = countsOf(await (await w.waitForOutputText(/curated faces: \d+ \(/, 60_000, 5_000)).innerText());
      log(`count cell output before the review: ${JSON.stringify(before)}`);
      assert.equal(before.total, 105, "before the review: the 105 sample faces");
      await w.waitForOutputText("no curation ledger yet", 30_000, 5_000);
      const expected = { ...before.counts };
      for (const e of entries) {
        expected[e.oldLabel]--;
        if (e.action === "relabel") expected[e.newLabel!]++;
      }
      const excluded = entries.filter((e) => e.action === "exclude").length;
      const relabelled = entries.filter((e) => e.action === "relabel").length;
      // Run the cell again.
      await bringIntoView(w, row);
      await w.runCell(index);
      const pattern = new RegExp(`curated faces: ${105 - excluded} \\(`);
      const shown = await w.waitForOutputText(pattern, 120_000).catch(async (e) => {
        throw new Error(`the count cell did not show ${pattern} (${(e as Error).message}).\nOutputs: ${await w.outputText()}\nCell status bars: ${JSON.stringify(await w.cellStatuses())}`);
      });
      const after = countsOf(await shown.innerText());
      log(`counts before the review ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
      assert.notDeepEqual(after.counts, before.counts);
      assert.deepEqual(after.counts, expected, "one fewer face, the relabelled one counted in its new class");
      await w.waitForOutputText(`Curation ledger .fernb-ledger.jsonl applied: ${relabelled} relabelled, ${excluded} excluded (105 images before curation)`, 30_000);
      const files = (readdirSync(join(server.workspace, "faces"), { recursive: true }) as string[]).filter((f) => /\.(png|jpe?g|webp)$/i.test(f));
      assert.equal(files.length, 105, "no image file was moved, renamed or deleted");
      await bringIntoView(w, shown);
      await w.screenshot("e2e-09-curated-counts");
    });

    await step("the toolbar's Interrupt button stops a training cell; a later cell uses the variables declared before it", async () => {
      const w = wb!;
      const trainIndex = cellIndexWith(FIXTURE, "this line must not run");
      const useIndex = cellIndexWith(FIXTURE, "after the interrupt: ");
      assert.ok(trainIndex >= 0 && useIndex > trainIndex, "the fixture has the training cell and the cell after it");
      const row = w.notebook.locator(`.monaco-list-row[data-index="${trainIndex}"]`);
      await bringIntoView(w, row);
      await w.runCell(trainIndex);
      // Training is under way: its progress bar counts steps.
      const progress = w.outputFrame.locator(".fernb-progress").filter({ hasText: /Training \d+\/\d+/ });
      await w.waitForInOutputs(progress.first(), 180_000);
      await waitFor("a few training steps", async () => {
        const m = /Training (\d+)\//.exec(await progress.first().innerText().catch(() => ""));
        return m && Number(m[1]) >= 3 ? true : undefined;
      }, 180_000, 500);
      await w.screenshot("e2e-10-training");
      await w.clickInterrupt();
      await w.waitForOutputText("The cell was interrupted. Variables defined before the interrupt are kept.", 60_000).catch(async (e) => {
        throw new Error(`no "interrupted" error on the training cell (${(e as Error).message}).\nOutputs: ${await w.outputText()}\nCell status bars: ${JSON.stringify(await w.cellStatuses())}`);
      });
      // The progress bar says where it stopped, instead of freezing mid-run.
      const stoppedAt = await w.waitForOutputText(/interrupted at \d+\/\d+/, 30_000, 5_000);
      log(`progress bar after the interrupt: ${(await stoppedAt.innerText()).slice(0, 200)}`);
      await w.screenshot("e2e-11-interrupted");
      // The cell's next line did not run, not even later, not even into the Output channel.
      await new Promise((r) => setTimeout(r, 5_000));
      assert.doesNotMatch(await w.outputText(), /this line must not run/);
      assert.doesNotMatch(server.exthostLog() + server.allLogs(), /after training: this line must not run/);
      // The kernel is usable and kept what the interrupted cell declared before the interrupt.
      await bringIntoView(w, w.notebook.locator(`.monaco-list-row[data-index="${useIndex}"]`));
      await w.runCell(useIndex);
      await w.waitForOutputText("after the interrupt: declared before the interrupt: 105 faces", 120_000).catch(async (e) => {
        throw new Error(`the cell after the interrupt did not print the kept variable (${(e as Error).message}).\nOutputs: ${await w.outputText()}\nCell status bars: ${JSON.stringify(await w.cellStatuses())}`);
      });
      assert.doesNotMatch(await w.outputText(), /this line must not run/);
      await w.screenshot("e2e-12-after-interrupt");
    });

    await step("saving writes the outputs into the .fernb file, in canonical form", async () => {
      const w = wb!;
      const file = join(server.workspace, NOTEBOOK_NAME);
      await w.runCommand("File: Save");
      const saved = await waitFor("the notebook file to hold outputs", async () => {
        const bytes = readFileSync(file);
        const nb = parseNotebook(bytes, NOTEBOOK_NAME);
        return nb.cells.some((c) => (c.outputs ?? []).length > 0) ? { bytes, nb } : undefined;
      }, 30_000);
      const mimes = saved.nb.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items.map((i) => i.mime)));
      const text = saved.nb.cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => o.items.map((i) => new TextDecoder().decode(i.data)))).join("\n");
      assert.ok(text.includes(expected.text!), `the saved outputs hold "${expected.text}"`);
      assert.ok(mimes.includes(CHART_MIME), `the saved outputs hold the chart (${mimes.join(", ")})`);
      assert.ok(mimes.includes("application/vnd.code.notebook.error") && text.includes(expected.error!), "the saved outputs hold the error");
      assert.ok(saved.nb.cells.some((c) => c.execution?.order === 1 && c.execution.success === true), "execution order and success are saved");
      assert.equal(new TextDecoder().decode(serializeNotebook(saved.nb)), saved.bytes.toString("utf8"), "the saved file is in canonical form");
    });

    await step("a truncated .fernb opens with a clear error and the file is left unchanged", async () => {
      const w = wb!;
      await w.openFile(BROKEN_NAME);
      await waitFor("the notebook error message", async () => {
        const body = await w.page.locator(".monaco-workbench").innerText().catch(() => "");
        return /is not a valid fernb notebook/.test(body) ? body : undefined;
      }, 60_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}; notifications: ${JSON.stringify(await w.notifications())}`);
      });
      await w.screenshot("e2e-05-broken-notebook");
      assert.equal(readFileSync(join(server.workspace, BROKEN_NAME), "utf8"), BROKEN_TEXT, "the broken file was not overwritten");
    });
  } finally {
    if (failed) await dumpFailure(server, wb);
    await wb?.close();
    await server.stop();
    log(`e2e finished in ${((Date.now() - started) / 1000).toFixed(1)}s${failed ? " (FAILED; see " + ARTIFACTS_DIR + ")" : ""}`);
  }
});

/**
 * Scrolls the notebook (whose list scrolls, not the output frames) until `loc` is inside the
 * window, so it can be clicked and seen in screenshots.
 */
async function bringIntoView(w: Workbench, loc: Locator): Promise<void> {
  const height = w.page.viewportSize()?.height ?? 1000;
  for (let i = 0; i < 30; i++) {
    // A row the notebook has not drawn yet has no box: ask briefly, then scroll (not Playwright's 30 s wait).
    const box = await loc.boundingBox({ timeout: 1_000 }).catch(() => null);
    if (box && box.y >= 120 && box.y + Math.min(box.height, 200) <= height - 40) return;
    const dy = box ? Math.max(-400, Math.min(400, box.y - height / 3)) : 300;
    if (!(await w.scrollNotebook(dy))) break;
  }
}

async function dumpFailure(server: CodeServer, wb: Workbench | undefined): Promise<void> {
  try {
    if (wb) await wb.screenshot("e2e-failure").catch((e) => log(`failure screenshot failed: ${e}`));
    const parts = [
      `=== code-server (${server.url}) ===\n${server.serverLog()}`,
      wb ? `=== notifications ===\n${(await wb.notifications()).join("\n")}` : "",
      wb ? `=== output webview text ===\n${await wb.outputText()}` : "",
      wb ? `=== browser console (errors, warnings) ===\n${wb.consoleMessages.join("\n")}` : "",
      `=== VS Code logs ===\n${server.allLogs()}`,
    ];
    const path = writeArtifact("e2e-logs.txt", parts.join("\n\n"));
    const exthost = server.exthostLog();
    console.error(`--- extension host log (tail) ---\n${exthost.split("\n").slice(-60).join("\n")}\n--- all logs: ${path} ---`);
  } catch (e) {
    console.error(`could not dump failure artifacts: ${e}`);
  }
}
