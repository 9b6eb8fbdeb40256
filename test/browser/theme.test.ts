/**
 * Renderers follow VS Code's theme, live (issue #21), in headless Chromium: a page shaped like the
 * notebook webview (theme variables in <html>'s style, the theme kind in <body>'s class and
 * data-vscode-theme-kind) switches from a light to a dark theme the way VS Code does, and
 *   - vega charts drawn before the switch are drawn again in the dark theme's colours (no dark text
 *     left on the dark background), keeping the data a live update gave them;
 *   - the live training chart (kernel/fer/trainingChart.ts) reads well from its first update: one
 *     plot and one legend per metric, whole-epoch ticks, no six-decimal labels;
 *   - the review grid's text and tiles take the new colours.
 * (The confusion matrix and Grad-CAM theme switches are in renderers.test.ts.)
 * Needs dist/renderers (`npm run build`).
 *
 *   node --import tsx --test test/browser/theme.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { trainingChartSpec } from "../../kernel/fer/trainingChart";

const CHROMIUM = process.env.FERNB_CHROMIUM || "/usr/bin/chromium";
const DIST = process.env.FERNB_RENDERERS_DIR || "dist/renderers";
const ORIGIN = "http://fernb-theme.test";

const LIGHT = {
  "--vscode-editor-background": "#ffffff",
  "--vscode-editor-foreground": "#3b3b3b",
  "--vscode-descriptionForeground": "#717171",
  "--vscode-editorWidget-border": "#c8c8c8",
  "--vscode-charts-blue": "#1a85ff",
  "--vscode-charts-orange": "#d18616",
  "--vscode-charts-green": "#388a34",
  "--vscode-charts-red": "#e51400",
  "--vscode-charts-purple": "#652d90",
  "--vscode-charts-yellow": "#bf8803",
  "--vscode-button-secondaryForeground": "#3b3b3b",
  "--vscode-dropdown-foreground": "#3b3b3b",
  "--vscode-dropdown-background": "#ffffff",
  "--vscode-font-family": "system-ui, sans-serif",
};
const DARK = {
  "--vscode-editor-background": "#1f1f1f",
  "--vscode-editor-foreground": "#cccccc",
  "--vscode-descriptionForeground": "#9d9d9d",
  "--vscode-editorWidget-border": "#454545",
  "--vscode-charts-blue": "#3794ff",
  "--vscode-charts-orange": "#d18616",
  "--vscode-charts-green": "#89d185",
  "--vscode-charts-red": "#f14c4c",
  "--vscode-charts-purple": "#b180d7",
  "--vscode-charts-yellow": "#cca700",
  "--vscode-button-secondaryForeground": "#cccccc",
  "--vscode-dropdown-foreground": "#cccccc",
  "--vscode-dropdown-background": "#313131",
  "--vscode-font-family": "system-ui, sans-serif",
};
const rgb = (hex: string) => `rgb(${parseInt(hex.slice(1, 3), 16)}, ${parseInt(hex.slice(3, 5), 16)}, ${parseInt(hex.slice(5, 7), 16)})`;
const css = (vars: Record<string, string>) => Object.entries(vars).map(([k, v]) => `${k}: ${v}`).join("; ");

const PAGE = `<!doctype html>
<html style="${css(LIGHT)}"><head><meta charset="utf-8"><style>
  body { margin: 12px; background: var(--vscode-editor-background); color: var(--vscode-editor-foreground); width: 900px; }
</style>
<script>window.__name = (f) => f;</script>
</head><body class="vscode-light" data-vscode-theme-kind="vscode-light"><script type="module">
  import { activate as chart } from "/chart.js";
  import { activate as review } from "/review.js";
  const ctx = { setState() {}, getState() { return undefined; }, getRenderer: async () => undefined, workspace: { isTrusted: true },
    postMessage() {}, onDidReceiveMessage: () => ({ dispose() {} }) };
  const renderers = { chart: await chart(ctx), review: await review(ctx) };
  const mimes = { chart: "application/vnd.fernb.chart+json", review: "application/vnd.fernb.review+json" };
  window.fernbRender = async (renderer, id, text) => {
    let el = document.getElementById(id);
    if (!el) {
      el = document.createElement("div");
      el.id = id;
      document.body.append(el);
    }
    const item = { id, mime: mimes[renderer], metadata: {}, text: () => text, json: () => JSON.parse(text),
      data: () => new TextEncoder().encode(text), blob: () => new Blob([text]) };
    await renderers[renderer].renderOutputItem(item, el, new AbortController().signal);
    return "#" + id;
  };
  window.fernbReady = true;
</script></body></html>`;

let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const render = (renderer: string, id: string, payload: unknown) =>
  page.evaluate(([r, i, t]) => (window as any).fernbRender(r, i, t), [renderer, id, JSON.stringify(payload)] as const);

/** Switches the page's theme as VS Code does: variables on <html>, kind on <body>. */
async function setTheme(kind: "light" | "dark"): Promise<void> {
  await page.evaluate(
    ([style, k]) => {
      document.documentElement.setAttribute("style", style);
      document.body.className = `vscode-${k}`;
      document.body.setAttribute("data-vscode-theme-kind", `vscode-${k}`);
    },
    [css(kind === "dark" ? DARK : LIGHT), kind] as const,
  );
}

/** Fill colours of the chart's text (titles, axis labels and titles, legend labels), as computed. */
const textFills = (sel: string) =>
  page.$$eval(`${sel} svg text`, (ts) => ts.filter((t) => (t.textContent ?? "").trim() !== "").map((t) => getComputedStyle(t).fill));

function luminance(c: string): number {
  const [r, g, b] = (c.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((v) => Number(v) / 255).map((s) => (s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const contrast = (a: string, b: string) => (Math.max(luminance(a), luminance(b)) + 0.05) / (Math.min(luminance(a), luminance(b)) + 0.05);

function barChart(values: { a: string; b: number }[]): object {
  return {
    title: "Class counts",
    data: { values },
    mark: "bar",
    encoding: { x: { field: "a", type: "nominal", title: "class" }, y: { field: "b", type: "quantitative", title: "faces" }, color: { field: "a", type: "nominal", title: "class" } },
  };
}

before(async () => {
  for (const f of ["chart.js", "review.js"]) assert.ok(existsSync(join(DIST, f)), `${DIST}/${f} is missing: run \`npm run build\` first`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  page = await browser.newPage({ viewport: { width: 960, height: 1400 } });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/") return route.fulfill({ contentType: "text/html", body: PAGE });
    if (path === "/chart.js" || path === "/review.js") return route.fulfill({ contentType: "text/javascript", body: readFileSync(join(DIST, path.slice(1))) });
    return route.fulfill({ status: 404, body: "" });
  });
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => (window as any).fernbReady === true, undefined, { timeout: 20_000 });
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, []);
});

test("a chart drawn in a light theme is drawn again in the dark theme's colours, with its latest data", async () => {
  await setTheme("light");
  const sel = await render("chart", "bars", barChart([{ a: "anger", b: 3 }, { a: "fear", b: 5 }]));
  // A live update (data only) before the switch: three bars.
  await render("chart", "bars", barChart([{ a: "anger", b: 3 }, { a: "fear", b: 5 }, { a: "happiness", b: 9 }]));
  const light = await textFills(sel);
  assert.ok(light.length >= 6, `title, axis titles and labels, legend (${light.length} texts)`);
  for (const fill of light) assert.ok([rgb(LIGHT["--vscode-editor-foreground"]), rgb(LIGHT["--vscode-descriptionForeground"])].includes(fill), `light text ${fill}`);
  const lightBar = await page.$eval(`${sel} svg g.mark-rect path`, (p) => getComputedStyle(p).fill);
  assert.equal(lightBar, rgb(LIGHT["--vscode-charts-blue"]), "the first series has the theme's first chart colour");

  await setTheme("dark");
  const darkFg = rgb(DARK["--vscode-editor-foreground"]);
  await page.waitForFunction(
    ([s, fg]) => [...document.querySelectorAll(`${s} svg text`)].some((t) => getComputedStyle(t).fill === fg),
    [sel, darkFg] as const,
    { timeout: 10_000 },
  );
  const dark = await textFills(sel);
  assert.equal(dark.length, light.length);
  const bg = rgb(DARK["--vscode-editor-background"]);
  for (const fill of dark) {
    assert.ok(!light.includes(fill), `no text keeps a light-theme colour (${fill})`);
    assert.ok(contrast(fill, bg) >= 4.5, `text ${fill} reads on ${bg} (contrast ${contrast(fill, bg).toFixed(1)})`);
  }
  assert.equal(await page.locator(`${sel} svg g.mark-rect path`).count(), 3, "the redrawn chart keeps the live update's data");
  assert.equal(await page.$eval(`${sel} svg g.mark-rect path`, (p) => getComputedStyle(p).fill), rgb(DARK["--vscode-charts-blue"]));
  assert.equal(await page.locator(`${sel} svg`).count(), 1, "one chart, not two");

  // And back: nothing dark is left on the light background.
  await setTheme("light");
  await page.waitForFunction(([s, fg]) => [...document.querySelectorAll(`${s} svg text`)].some((t) => getComputedStyle(t).fill === fg), [sel, rgb(LIGHT["--vscode-editor-foreground"])] as const, { timeout: 10_000 });
  for (const fill of await textFills(sel)) assert.ok(contrast(fill, rgb(LIGHT["--vscode-editor-background"])) >= 4.5, `light text ${fill}`);
});

/** The rows train.ts pushes after its first steps: a fraction of an epoch, warm-up learning rate. */
function firstUpdate(lr: number): object[] {
  return [
    { epoch: 0.05, metric: "loss", series: "train (running)", value: 1.9431 },
    { epoch: 0.05, metric: "accuracy", series: "train (running)", value: 0.2134 },
    { epoch: 0.05, metric: "learning rate", series: "lr", value: lr },
  ];
}

/** Legend label texts, one list per legend, top to bottom. */
const legends = (sel: string) =>
  page.$$eval(`${sel} svg g.role-legend`, (ls) =>
    ls
      .map((l) => ({ y: l.getBoundingClientRect().top, labels: [...l.querySelectorAll("g.role-legend-label text")].map((t) => t.textContent ?? "") }))
      .sort((a, b) => a.y - b.y)
      .map((l) => l.labels),
  );
const axisLabels = (sel: string) => page.$$eval(`${sel} svg g.role-axis-label text`, (ts) => ts.map((t) => t.textContent ?? ""));

test("the live training chart starts readable: a plot and a legend per metric, whole epochs, no six-decimal ticks", async () => {
  await setTheme("dark");
  const sel = await render("chart", "training", trainingChartSpec(firstUpdate(0.000123), 3));
  assert.equal(await page.locator(`${sel} svg g.mark-line`).count(), 3, "three plots");
  assert.ok((await page.locator(`${sel} svg g.mark-symbol path`).count()) >= 3, "the first update's points are drawn (a line through one point shows nothing)");
  assert.deepEqual(await legends(sel), [
    ["train (running)", "train (epoch)", "validation"],
    ["train (running)", "train (epoch)", "validation", "validation macro-F1"],
    ["lr"],
  ]);
  const labels = await axisLabels(sel);
  assert.ok(labels.length > 10);
  for (const l of labels) assert.doesNotMatch(l, /\.\d{4,}/, `axis label ${l}`);
  assert.ok(labels.includes("100%") && labels.includes("0%"), "accuracy in percent, 0 to 100%");
  for (const e of ["0", "1", "2", "3"]) assert.ok(labels.includes(e), `whole-epoch tick ${e}`);
  assert.ok(labels.some((l) => /e-4$/.test(l)), `a small learning rate reads as 1e-4 (${labels.join(" ")})`);

  // The run goes on: epoch records and validation join the same view; still one legend per plot.
  const rows: object[] = [];
  for (let i = 1; i <= 40; i++) rows.push(...firstUpdate(0.05 * Math.min(1, i / 10)).map((r) => ({ ...r, epoch: (i * 3) / 40 })));
  rows.push({ epoch: 1, metric: "loss", series: "train (epoch)", value: 1.7 }, { epoch: 1, metric: "accuracy", series: "validation", value: 0.41 });
  await render("chart", "training", trainingChartSpec(rows, 3));
  const later = await axisLabels(sel);
  for (const l of later) assert.doesNotMatch(l, /\.\d{4,}/, `axis label ${l}`);
  assert.ok(later.includes("0.05") || later.includes("0.04"), `learning rates up to 0.05 read as such (${later.join(" ")})`);
  assert.equal((await legends(sel)).length, 3);
  const bg = rgb(DARK["--vscode-editor-background"]);
  for (const fill of await textFills(sel)) assert.ok(contrast(fill, bg) >= 4.5, `text ${fill} reads on the dark background`);
  mkdirSync("test/artifacts", { recursive: true });
  await page.locator(sel).screenshot({ path: "test/artifacts/theme-training-chart-dark.png" });
});

test("the review grid takes the theme's colours and changes them live", async () => {
  await setTheme("light");
  const thumb = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==";
  const item = (path: string, label: string) => ({ path, label, thumb, state: { originalLabel: label, label, excluded: false } });
  const sel = await render("review", "review", {
    reviewId: "theme-1",
    dataset: "train",
    classes: ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"],
    renderer: "fernb-review",
    total: 2,
    items: [item("anger/a.png", "anger"), item("fear/f.png", "fear")],
  });
  const colors = () => page.$eval(`${sel} .fernb-rv`, (r) => ({ text: getComputedStyle(r).color, select: getComputedStyle(r.querySelector("select")!).backgroundColor }));
  assert.deepEqual(await colors(), { text: rgb(LIGHT["--vscode-editor-foreground"]), select: rgb(LIGHT["--vscode-dropdown-background"]) });
  await setTheme("dark");
  assert.deepEqual(await colors(), { text: rgb(DARK["--vscode-editor-foreground"]), select: rgb(DARK["--vscode-dropdown-background"]) });
});
