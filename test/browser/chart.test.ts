/**
 * The vega-lite chart renderer in headless Chromium: a faceted chart lays out all its rows, and an
 * update with new data (a live training curve) redraws in place, reusing the same view.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

const DIST = resolve("dist/renderers");
const ORIGIN = "http://fernb-chart.test";
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><script>window.__name = (f) => f;</script></head><body>
<div id="out"></div>
<script type="module">
  import { activate } from "/chart.js";
  const renderer = await activate({ setState() {}, getState() { return undefined; } });
  const el = document.getElementById("out");
  window.fernbRender = async (text) => {
    const item = { id: "chart-1", mime: "application/vnd.fernb.chart+json", metadata: {}, text: () => text, json: () => JSON.parse(text), data: () => new TextEncoder().encode(text), blob: () => new Blob([text]) };
    await renderer.renderOutputItem(item, el, new AbortController().signal);
  };
  window.fernbReady = true;
</script></body></html>`;

let browser: Browser;
let page: Page;

function curve(epochs: number, metrics: string[]): object {
  const values: object[] = [];
  for (let e = 0; e <= epochs; e++) for (const m of metrics) values.push({ epoch: e, metric: m, series: "train", value: m === "loss" ? 2 - e / 10 : e / 20 });
  return {
    data: { values },
    facet: { row: { field: "metric", type: "nominal", title: null } },
    spec: { width: 300, height: 100, mark: "line", encoding: { x: { field: "epoch", type: "quantitative" }, y: { field: "value", type: "quantitative" }, color: { field: "series", type: "nominal" } } },
    resolve: { scale: { y: "independent" } },
  };
}

const render = (spec: unknown) => page.evaluate((t) => (window as any).fernbRender(t), JSON.stringify(spec));

before(async () => {
  assert.ok(existsSync(join(DIST, "chart.js")), "run npm run build first");
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  page = await browser.newPage();
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/") return route.fulfill({ contentType: "text/html", body: PAGE });
    if (path === "/chart.js") return route.fulfill({ contentType: "text/javascript", body: readFileSync(join(DIST, "chart.js")) });
    return route.fulfill({ status: 404, body: "" });
  });
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => (window as any).fernbReady === true);
});

after(async () => {
  await browser?.close();
});

test("a faceted chart lays out every row; a data update redraws it in place", async () => {
  await render(curve(3, ["loss", "accuracy"]));
  const rows = () => page.locator("#out svg g.mark-line").count();
  assert.equal(await rows(), 2, "one line per facet row");
  const firstSvg = await page.locator("#out svg").elementHandle();
  const height1 = (await page.locator("#out svg").boundingBox())!.height;
  assert.ok(height1 > 200, `two 100-px rows are visible (svg height ${height1})`);

  // A live update: more epochs and one more metric (a third facet row).
  await render(curve(8, ["loss", "accuracy", "learning rate"]));
  assert.equal(await rows(), 3);
  const height2 = (await page.locator("#out svg").boundingBox())!.height;
  assert.ok(height2 > height1 + 80, `the chart grew for the new row (${height1} → ${height2})`);
  assert.equal(await page.evaluate((s) => s === document.querySelector("#out svg"), firstSvg), true, "the same view was updated, not rebuilt");
  const points = await page.locator("#out svg g.mark-line path").first().getAttribute("d");
  assert.ok((points?.match(/L/g) ?? []).length >= 8, "the line has the new points");
});

test("a spec that is not an object shows a readable error", async () => {
  await render([1, 2]);
  assert.match(await page.locator("#out").innerText(), /fernb chart: the output is not a vega-lite spec object/);
});
