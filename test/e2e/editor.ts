/**
 * Editor help in a real VS Code (code-server, as test/e2e/run.ts), before any kernel starts: a
 * notebook written with "typescript" cells opens with fernb's cell language, a type error shows as a
 * squiggle in the right cell without running anything, an import used only in a later cell is not
 * faded as unused, hovering a name from an earlier cell shows its declaration, and typing `d.fing` in a cell offers `fingerprint` (a member of fernb's
 * FaceDataset, from a name declared in an earlier cell), which is accepted into the cell; after a
 * cell runs, the FER Variables view lists its variable and TensorFlow.js's memory. Then the kernel
 * you can see: the status bar says "FER: busy" while a cell runs and "FER: idle" after; clicking it
 * offers restart, which asks first (the kernel holds `limit`); after the restart, the error for
 * `limit` says the kernel was restarted; closing the notebook stops its kernel process.
 *
 *   npm run test:e2e:editor      (npm run build && node --import tsx --test test/e2e/editor.ts)
 *
 * Env: FERNB_E2E_EXTENSION (another unpacked extension folder, e.g. the package CI builds).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { serializeNotebook } from "../../extension/notebookFormat";
import { CodeServer, log, REPO_ROOT, waitFor, Workbench, writeArtifact } from "./codeServer";

const EXTENSION = resolve(process.env.FERNB_E2E_EXTENSION || REPO_ROOT);
/** The cell below waits for this file in the notebook's folder: the test sees it busy, then lets it end. */
const RELEASE = "release-the-cell";

const NOTEBOOK = "editor.fernb";
const CELLS = [
  { kind: "markdown" as const, language: "markdown", source: "# Editor help" },
  { kind: "code" as const, language: "typescript", source: `import { loadFolderDataset, AUGMENT_PRESETS } from "fernb";\nconst limit = 3;` },
  { kind: "code" as const, language: "typescript", source: `const d = await loadFolderDataset("faces");\nconsole.log(AUGMENT_PRESETS.standard, limit);\n` },
  { kind: "code" as const, language: "typescript", source: `const label: string = limit;` },
  { kind: "code" as const, language: "typescript", source: `import { existsSync } from "node:fs";\nwhile (!existsSync("${RELEASE}")) await new Promise((r) => setTimeout(r, 100));\nconsole.log("released");` },
  { kind: "code" as const, language: "typescript", source: `console.log(limit * 2);` },
];

/** Kernel processes (dist/kernel.js) whose working folder is `dir`: the notebook's kernels. */
function kernelPidsIn(dir: string): number[] {
  const want = realpathSync(dir);
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (/kernel\.js/.test(cmdline) && readlinkSync(`/proc/${entry}/cwd`) === want) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

test("editor help in code-server: fernb's cell language, squiggles before running, completion across cells, the variables view", { timeout: 8 * 60_000 }, async () => {
  const server = await CodeServer.create({ extensionPath: EXTENSION });
  let wb: Workbench | undefined;
  try {
    writeFileSync(join(server.workspace, NOTEBOOK), serializeNotebook({ metadata: {}, cells: CELLS }));
    await server.start();
    wb = await Workbench.open(server);
    await wb.waitForExtensionHost();
    await wb.openFile(NOTEBOOK);
    await wb.waitForNotebookEditor();
    await wb.waitForExtensionActivated();
    const row = (i: number) => wb!.notebook.locator(`.monaco-list-row[data-index="${i}"]`);

    // The cells' language, as the cell status bar shows it.
    await waitFor("the cell language TypeScript (fernb)", async () => (await wb!.notebook.locator(".cell-statusbar-container").allInnerTexts()).some((t) => t.includes("TypeScript (fernb)")), 60_000);

    // The type error of the last cell, underlined before anything ran (the first check loads the libraries).
    await row(3).locator(".squiggly-error").first().waitFor({ state: "attached", timeout: 120_000 });
    await wb.screenshot("e2e-editor-01-squiggle");
    for (const i of [1, 2]) assert.equal(await row(i).locator(".squiggly-error").count(), 0, `no error in cell ${i}`);
    assert.equal(await row(1).locator(".squiggly-inline-unnecessary").count(), 0, "imports used in a later cell are not faded as unused");

    // Hover on a name from an earlier cell: its declaration there (not "import limit").
    await row(3).locator(".monaco-editor .view-lines").first().click();
    await wb.page.keyboard.press("Control+End");
    for (let i = 0; i < 3; i++) await wb.page.keyboard.press("ArrowLeft"); // inside `limit`
    await wb.page.keyboard.press("Control+K");
    await wb.page.keyboard.press("Control+I"); // Show Hover
    const hover = wb.page.locator(".monaco-hover:not(.hidden)", { hasText: "const limit: 3" }).first();
    await hover.waitFor({ state: "visible", timeout: 30_000 });
    await wb.screenshot("e2e-editor-02-hover");
    await wb.page.keyboard.press("Escape");

    // Completion of a fernb type's member, on a name from the cell above.
    const editor = row(2).locator(".monaco-editor .view-lines").first();
    await editor.click();
    await wb.page.keyboard.press("Control+End");
    await wb.page.keyboard.type("d.fing", { delay: 60 });
    const suggestion = wb.page.locator(".suggest-widget .monaco-list-row", { hasText: "fingerprint" }).first();
    await suggestion.waitFor({ state: "visible", timeout: 30_000 }).catch(async (e) => {
      await wb!.page.keyboard.press("Control+Space");
      await suggestion.waitFor({ state: "visible", timeout: 30_000 }).catch(() => {
        throw e;
      });
    });
    await wb.screenshot("e2e-editor-03-completion");
    await wb.page.keyboard.press("Enter");
    await waitFor("the accepted completion in the cell", async () => (await editor.innerText()).replace(/\u00a0/g, " ").includes("d.fingerprint"), 10_000);
    log("completion accepted: d.fingerprint");

    // The variables view after running the first code cell.
    await wb.runCell(1);
    const header = wb.page.locator(".pane-header", { hasText: "FER Variables" }).first();
    await header.waitFor({ state: "visible", timeout: 30_000 });
    if ((await header.getAttribute("aria-expanded")) !== "true") await header.click();
    const limitRow = wb.page.locator(".monaco-list-row", { hasText: "limit" }).filter({ hasText: "number · 3" }).first();
    await limitRow.waitFor({ state: "visible", timeout: 120_000 });
    const memoryRow = wb.page.locator(".monaco-list-row", { hasText: "TensorFlow.js memory" }).first();
    await memoryRow.waitFor({ state: "visible", timeout: 10_000 });
    log(`variables view: ${(await memoryRow.innerText()).replace(/\s+/g, " ")}; ${(await limitRow.innerText()).replace(/\s+/g, " ")}`);
    await wb.screenshot("e2e-editor-04-variables");

    // The status bar: idle after the cell, busy while the next one runs, idle again after it.
    const status = wb.page.locator(".statusbar-item", { hasText: "FER:" }).first();
    const statusText = async () => (await status.innerText({ timeout: 5_000 }).catch(() => "")).trim();
    await waitFor('"FER: idle" in the status bar', async () => (await statusText()).includes("FER: idle"), 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}; it says "${await statusText()}"`);
    });
    await wb.runCell(4);
    await waitFor('"FER: busy" in the status bar while the cell runs', async () => (await statusText()).includes("FER: busy"), 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}; it says "${await statusText()}"`);
    });
    await wb.screenshot("e2e-editor-05-busy");
    writeFileSync(join(server.workspace, RELEASE), "");
    await wb.waitForOutputText("released", 60_000, 2_000);
    await waitFor('"FER: idle" in the status bar after the cell', async () => (await statusText()).includes("FER: idle"), 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}; it says "${await statusText()}"`);
    });
    log(`status bar: ${await statusText()}`);
    // Its tooltip: the backend and the kernel's memory.
    await status.hover();
    const tooltip = wb.page.locator(".workbench-hover, .monaco-hover", { hasText: "Memory:" }).first();
    await tooltip.waitFor({ state: "visible", timeout: 30_000 });
    const tip = (await tooltip.innerText()).replace(/\s+/g, " ");
    log(`status bar tooltip: ${tip}`);
    assert.match(tip, /Backend: \w+/);
    assert.match(tip, /Memory: \d+(\.\d+)? [MG]B \(resident, kernel process \d+\)/);
    await wb.screenshot("e2e-editor-05b-tooltip");
    await wb.page.mouse.move(0, 0);

    // Clicking it offers restart; the kernel holds \`limit\`, so the restart asks first.
    const pidsBefore = kernelPidsIn(server.workspace);
    assert.equal(pidsBefore.length, 1, `one kernel process for the notebook: ${JSON.stringify(pidsBefore)}`);
    await status.click();
    await wb.pickQuickItem("Restart FER Kernel");
    const dialog = wb.page.locator(".monaco-dialog-box").first();
    await dialog.waitFor({ state: "visible", timeout: 30_000 });
    const question = (await dialog.innerText()).replace(/\s+/g, " ");
    log(`restart question: ${question}`);
    assert.match(question, /Restart the FER Kernel of editor\.fernb\?/);
    assert.match(question, /limit/, "the question names the variables that will be lost");
    await wb.screenshot("e2e-editor-06-restart-question");
    await dialog.getByRole("button", { name: "Restart", exact: true }).click();
    await waitFor("a new kernel process", async () => {
      const now = kernelPidsIn(server.workspace);
      return now.length === 1 && now[0] !== pidsBefore[0] ? now : undefined;
    }, 120_000);
    await waitFor('"FER: idle" after the restart', async () => (await statusText()).includes("FER: idle"), 120_000);

    // The first error naming a variable from before the restart says so.
    await wb.runCell(5);
    const note = await wb.waitForOutputText(/the FER Kernel was restarted at \d\d:\d\d/, 120_000, 2_000).catch(async (e) => {
      throw new Error(`no restart note (${(e as Error).message}).\nOutputs: ${await wb!.outputText()}`);
    });
    log(`after the restart: ${(await note.innerText()).replace(/\s+/g, " ").slice(0, 300)}`);
    assert.match(await wb.outputText(), /Cannot find name 'limit'/);
    await wb.screenshot("e2e-editor-07-restart-note");

    // Closing the notebook stops its kernel.
    await wb.runCommand("File: Save");
    await wb.runCommand("View: Close Editor");
    await waitFor("the notebook's kernel process to end after the notebook closed", () => (kernelPidsIn(server.workspace).length === 0 ? true : undefined), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}; still running: ${JSON.stringify(kernelPidsIn(server.workspace))}`);
    });
    assert.ok(existsSync(join(server.workspace, NOTEBOOK)), "the notebook file is still there");
    log("closing the notebook stopped its kernel");
  } catch (e) {
    if (wb) {
      await wb.screenshot("e2e-editor-failure").catch(() => undefined);
      writeArtifact("e2e-editor-logs.txt", server.allLogs());
    }
    throw e;
  } finally {
    await wb?.close();
    await server.stop();
  }
});
