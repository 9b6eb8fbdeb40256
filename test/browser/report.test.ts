/**
 * `fernb run --html`: the standalone report draws custom outputs with the same renderers as VS Code
 * (opened offline in headless Chromium).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { serializeNotebook } from "../../extension/notebookFormat";

test("the HTML report holds the rendered outputs: markdown, text, chart, confusion matrix, error", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fernb-report-"));
  const nb = path.join(dir, "report.fernb");
  writeFileSync(nb, serializeNotebook({ metadata: {}, cells: [
    { kind: "markdown", language: "markdown", source: "# Report title\n\nSome **bold** text." },
    { kind: "code", language: "typescript", source: "console.log('printed <line>');\ndisplay.chart({ mark: 'bar', data: { values: [{ a: 'x', b: 2 }, { a: 'y', b: 5 }] }, encoding: { x: { field: 'a', type: 'nominal' }, y: { field: 'b', type: 'quantitative' } } });" },
    { kind: "code", language: "typescript", source: "display.mime({ 'application/vnd.fernb.confusion+json': { classes: ['a', 'b'], counts: [[3, 1], [0, 4]], n: 8, accuracy: 0.875 } });" },
    { kind: "code", language: "typescript", source: "throw new Error('last cell fails');" },
  ] }));
  const html = path.join(dir, "report.html");
  let code = 0;
  try {
    execFileSync(process.execPath, [path.resolve("dist/cli.js"), "run", nb, "--html", html], { stdio: "pipe" });
  } catch (e) {
    code = (e as { status: number }).status;
  }
  assert.equal(code, 1, "the failing cell makes the run fail, and the report is still written");
  const text = readFileSync(html, "utf8");
  assert.match(text, /<h1>Report title<\/h1>/);
  assert.match(text, /printed &lt;line&gt;/);
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`file://${html}`);
    await page.locator("svg g.mark-rect path").first().waitFor({ timeout: 20_000 });
    assert.equal(await page.locator("svg g.mark-rect path").count(), 2, "two bars");
    await page.locator(".fernb-cm td[data-row]").first().waitFor({ timeout: 20_000 });
    assert.equal(await page.locator(".fernb-cm td[data-row]").count(), 4);
    assert.equal((await page.locator(".fernb-cm .cm-grand").innerText()).trim(), "8");
    assert.match(await page.locator("pre.output.error").innerText(), /Error: last cell fails/);
    assert.deepEqual(errors, []);
    await page.screenshot({ path: path.resolve("test/artifacts/report.png"), fullPage: true });
  } finally {
    await browser.close();
  }
});
