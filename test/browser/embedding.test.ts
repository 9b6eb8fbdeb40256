/**
 * DOM test of the embedding-map renderer (dist/renderers/embedding.js, built by `npm run build`) in
 * headless Chromium, activated with a fake RendererContext that records postMessage and delivers
 * the kernel's replies (as VS Code's renderer messaging would): 30,000 points drawn, colour-by
 * switch and legend, a face on hover (asked of the kernel), box and lasso selection sending the
 * right point ids, the review grid opening for them, and its relabel going out in the review
 * grid's validated shape and recolouring the point.
 *
 *   node --import tsx --test test/browser/embedding.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import sharp from "sharp";
import { messagingRendererHtml, openRendererPage } from "./rendererPage";
import { checkReviewRequest } from "../../protocol";

const FILE = "dist/renderers/embedding.js";
const CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"];
const N = 30_000;
const WIDTH = 860; // the output element's width (body width below)
const HEIGHT = 440;
const PAD = 12;

const PAGE = messagingRendererHtml({
  script: "embedding.js",
  mime: "application/vnd.fernb.embedding+json",
  rootStyle: `--vscode-editor-background: #ffffff; --vscode-editor-foreground: #333333; --vscode-focusBorder: #005fb8;
  --vscode-charts-red: #e51400; --vscode-charts-purple: #652d90; --vscode-charts-orange: #d18616; --vscode-charts-yellow: #bf8803;
  --vscode-charts-blue: #1a85ff; --vscode-charts-green: #388a34; --vscode-descriptionForeground: #717171`,
  bodyStyle: `margin: 0; padding: 0 12px; width: ${WIDTH}px;`,
});

// Points: 30,000 random ones in the upper right of the map, plus known ones far from them.
// Map units: u, v in [0, 1] (v up).
const GROUP = [[0.03, 0.03], [0.09, 0.03], [0.03, 0.09], [0.09, 0.09], [0.05, 0.05]]; // ids 0..4, bottom left
const LONE = [0.5, 0.1]; // id 5, alone at the bottom
const SUSPECTS = [100, 200, 300];

function payload() {
  let seed = 11;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  const u = new Float64Array(N);
  const v = new Float64Array(N);
  GROUP.forEach(([a, b], i) => ((u[i] = a), (v[i] = b)));
  [u[5], v[5]] = LONE;
  for (let i = 6; i < N; i++) {
    u[i] = 0.25 + 0.75 * rand();
    v[i] = 0.3 + 0.7 * rand();
  }
  // Stretch so u and v span exactly 0..1 on the map as the kernel scales them (min..max).
  u[N - 1] = 1;
  v[N - 1] = 1;
  u[N - 2] = 0;
  v[N - 2] = 0.99; // top left corner, away from everything
  const xy = Buffer.alloc(4 * N);
  for (let i = 0; i < N; i++) {
    xy.writeUInt16LE(Math.round(u[i] * 65535), 4 * i);
    xy.writeUInt16LE(Math.round(v[i] * 65535), 4 * i + 2);
  }
  const bytes = (f: (i: number) => number) => Buffer.from(Array.from({ length: N }, (_, i) => f(i)));
  const labels = bytes((i) => i % 7);
  const predicted = bytes((i) => (i * 3) % 7);
  const suspicion = bytes((i) => (i * 13) % 256);
  return {
    mapId: "map-test-1",
    renderer: "fernb-embedding",
    dataset: "train",
    classes: CLASSES,
    n: N,
    projection: { method: "pca", detail: "PCA of the model's penultimate-layer features" },
    xy: xy.toString("base64"),
    labels: labels.toString("base64"),
    predicted: predicted.toString("base64"),
    suspicion: suspicion.toString("base64"),
    suspicionMeaning: "share of faces scored like this that had a wrong label on fernb's curation benchmark",
    suspects: SUSPECTS,
    maxSelect: 300,
  };
}

/** Page coordinates (css px) of map units u, v in output `sel` (whose canvas sits at its top left + header). */
async function at(sel: string, u: number, v: number): Promise<[number, number]> {
  await page.locator(`${sel} canvas.em-points`).scrollIntoViewIfNeeded();
  const box = (await page.locator(`${sel} canvas.em-points`).boundingBox())!;
  const w = Number.parseFloat((await page.locator(`${sel} canvas.em-points`).evaluate((c) => (c as HTMLCanvasElement).style.width)));
  return [box.x + PAD + u * (w - 2 * PAD), box.y + PAD + (1 - v) * (HEIGHT - 2 * PAD)];
}

let browser: Browser;
let page: Page;
let pageErrors: string[] = [];
let thumb = "";

const render = (p: unknown): Promise<string> => page.evaluate((t) => (window as any).fernbRender(t), JSON.stringify(p));
const posted = (): Promise<any[]> => page.evaluate(() => (window as any).posted.splice(0));
const deliver = (m: unknown) => page.evaluate((x) => (window as any).deliver(x), m);

/** The canvas pixel (RGBA) at map units u, v. */
function pixel(sel: string, u: number, v: number): Promise<number[]> {
  return page.locator(`${sel} canvas.em-points`).evaluate(
    (c, [uu, vv, pad, height]) => {
      const canvas = c as HTMLCanvasElement;
      const dpr = canvas.width / Number.parseFloat(canvas.style.width);
      const w = Number.parseFloat(canvas.style.width);
      const x = Math.round((pad + uu * (w - 2 * pad)) * dpr);
      const y = Math.round((pad + (1 - vv) * (height - 2 * pad)) * dpr);
      return Array.from(canvas.getContext("2d")!.getImageData(x, y, 1, 1).data);
    },
    [u, v, PAD, HEIGHT] as const,
  );
}

before(async () => {
  const png = await sharp(Buffer.alloc(48 * 48, 90), { raw: { width: 48, height: 48, channels: 1 } }).png().toBuffer();
  thumb = `data:image/png;base64,${png.toString("base64")}`;
  ({ browser, page, pageErrors } = await openRendererPage(PAGE, FILE, { width: 900, height: 1400 }));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, []);
});

test("30,000 points drawn on a canvas, coloured by label, with a legend; the colour-by switch", async () => {
  const sel = await render(payload());
  const canvas = page.locator(`${sel} canvas.em-points`);
  assert.equal(await canvas.getAttribute("data-drawn"), String(N));
  assert.equal(await page.locator(`${sel} svg`).count(), 0, "canvas, not SVG");
  console.log(`# rendered ${N} points in ${Math.round(await page.evaluate(() => (window as any).renderMs))} ms`);
  // Point 0 is labelled anger (class 0): the theme's red; point 5 (class 5, surprise): green.
  assert.deepEqual((await pixel(sel, ...(GROUP[0] as [number, number]))).slice(0, 3), [0xe5, 0x14, 0x00]);
  assert.deepEqual((await pixel(sel, LONE[0], LONE[1])).slice(0, 3), [0x38, 0x8a, 0x34]);
  // Empty map area stays clear.
  assert.equal((await pixel(sel, 0.2, 0.2))[3], 0);
  const legend = await page.locator(`${sel} .em-legend`).textContent();
  assert.match(legend!, /anger \(4286\)/);
  assert.match(legend!, /suspect/);
  // By prediction: point 5 is predicted class 15 % 7 = 1 (disgust, purple).
  await page.selectOption(`${sel} select.em-color`, "predicted");
  assert.equal(await canvas.getAttribute("data-color-by"), "predicted");
  assert.deepEqual((await pixel(sel, LONE[0], LONE[1])).slice(0, 3), [0x65, 0x2d, 0x90]);
  await page.selectOption(`${sel} select.em-color`, "suspicion");
  assert.match((await page.locator(`${sel} .em-legend`).textContent())!, /share of faces scored like this/);
  assert.notDeepEqual((await pixel(sel, LONE[0], LONE[1])).slice(0, 3), [0x65, 0x2d, 0x90]);
});

test("hover: the point's description, its face asked of the kernel and shown", async () => {
  const sel = await render(payload());
  await posted();
  const [x, y] = await at(sel, LONE[0], LONE[1]);
  await page.mouse.move(x + 2, y + 1);
  assert.equal(await page.locator(`${sel} canvas.em-points`).getAttribute("data-hover"), "5");
  const tip = page.locator(`${sel} .em-tip`);
  assert.equal(await tip.isVisible(), true);
  assert.match((await tip.textContent())!, /#5: label surprise · predicted disgust/);
  const msgs = await posted();
  assert.equal(msgs.length, 1);
  assert.deepEqual({ ...msgs[0], requestId: undefined }, { action: "thumb", mapId: "map-test-1", ids: [5], requestId: undefined });
  await deliver({ ok: true, action: "thumb", requestId: msgs[0].requestId, mapId: "map-test-1", thumbs: [{ id: 5, path: "surprise/s5.png", thumb }] });
  assert.equal(await page.locator(`${sel} .em-tip img`).getAttribute("src"), thumb);
  assert.match((await tip.textContent())!, /s5\.png: label surprise/);
  // Away from every point: no tooltip.
  const [ex, ey] = await at(sel, 0.15, 0.5);
  await page.mouse.move(ex, ey);
  assert.equal(await tip.isVisible(), false);
});

async function drag(points: [number, number][]): Promise<void> {
  await page.mouse.move(points[0][0], points[0][1]);
  await page.mouse.down();
  for (const [x, y] of points.slice(1)) await page.mouse.move(x, y, { steps: 4 });
  await page.mouse.up();
}

test("box selection sends exactly the points inside; the review grid opens for them; a relabel goes out validated and recolours the point", async () => {
  const sel = await render(payload());
  await posted();
  await drag([await at(sel, 0.01, 0.11), await at(sel, 0.11, 0.01)]);
  let msgs = await posted();
  assert.equal(msgs.length, 1, JSON.stringify(msgs));
  assert.equal(msgs[0].action, "select");
  assert.equal(msgs[0].mapId, "map-test-1");
  assert.deepEqual([...msgs[0].ids].sort(), [0, 1, 2, 3, 4]);
  assert.match((await page.locator(`${sel} .em-status`).textContent())!, /opening 5 face\(s\)/);

  // The kernel answers with a review grid of those faces.
  const item = (id: number) => ({ path: `${CLASSES[id % 7]}/p${id}.png`, label: CLASSES[id % 7], thumb, state: { originalLabel: CLASSES[id % 7], label: CLASSES[id % 7], excluded: false } });
  const review = { reviewId: "review-sel-1", dataset: "train", classes: CLASSES, renderer: "fernb-review", total: 5, items: [0, 1, 2, 3, 4].map(item) };
  const ids = Object.fromEntries([0, 1, 2, 3, 4].map((id) => [item(id).path, id]));
  await deliver({ ok: true, action: "select", requestId: msgs[0].requestId, mapId: "map-test-1", review, ids });
  const tiles = page.locator(`${sel} .em-review .rv-tile`);
  assert.equal(await tiles.count(), 5);
  assert.deepEqual((await tiles.evaluateAll((ts) => ts.map((t) => (t as HTMLElement).dataset.path))).sort(), Object.keys(ids).sort());

  // Relabel point 0 (anger) to happiness in that grid: the review grid's own message, on the map's channel.
  await page.selectOption(`${sel} .rv-tile[data-path="anger/p0.png"] select.rv-relabel`, "happiness");
  msgs = await posted();
  assert.equal(msgs.length, 1);
  const checked = checkReviewRequest(msgs[0], CLASSES);
  assert.notEqual(typeof checked, "string", String(checked));
  assert.deepEqual({ ...msgs[0], requestId: undefined }, { reviewId: "review-sel-1", action: "relabel", path: "anger/p0.png", label: "happiness", requestId: undefined });
  await deliver({
    ok: true, requestId: msgs[0].requestId, reviewId: "review-sel-1", action: "relabel", path: "anger/p0.png",
    state: { originalLabel: "anger", label: "happiness", excluded: false, relabelled: "happiness" }, ledgerLine: { id: "d1" },
  });
  assert.equal(await page.textContent(`${sel} .rv-tile[data-path="anger/p0.png"] .rv-status`), "saved ✓");
  // The map follows: point 0 is now drawn in happiness's colour (yellow).
  assert.deepEqual((await pixel(sel, ...(GROUP[0] as [number, number]))).slice(0, 3), [0xbf, 0x88, 0x03]);

  // A refused selection says why.
  await drag([await at(sel, 0.45, 0.15), await at(sel, 0.55, 0.05)]);
  msgs = await posted();
  assert.deepEqual(msgs[0].ids, [5]);
  await deliver({ ok: false, requestId: msgs[0].requestId, mapId: "map-test-1", action: "select", error: "point 5 is not on this map (its points are 0 to 4)" });
  assert.match((await page.locator(`${sel} .em-status`).textContent())!, /error: point 5 is not on this map/);
});

test("lasso selection sends the points inside the drawn shape only", async () => {
  const sel = await render(payload());
  await posted();
  await page.selectOption(`${sel} select.em-shape`, "lasso");
  // A triangle u + v < 0.13 around the bottom left group: all but (0.09, 0.09).
  await drag([await at(sel, -0.005, -0.005), await at(sel, 0.135, -0.005), await at(sel, -0.005, 0.135), await at(sel, -0.005, -0.004)]);
  const msgs = await posted();
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].action, "select");
  assert.deepEqual([...msgs[0].ids].sort(), [0, 1, 2, 4]);
});

test("Review suspects opens the marked suspects; a malformed payload is reported, not drawn", async () => {
  const sel = await render(payload());
  await posted();
  await page.click(`${sel} button.em-review-suspects`);
  const msgs = await posted();
  assert.deepEqual([...msgs[0].ids].sort((a: number, b: number) => a - b), SUSPECTS);
  const bad = await render({ ...payload(), labels: Buffer.alloc(N - 1).toString("base64") });
  assert.match((await page.textContent(`${bad} .fernb-error`))!, /labels must hold 30000 bytes/);
});

test("the map follows a theme switch live: its point colours come from VS Code's chart colour variables", async () => {
  const sel = await render(payload());
  assert.deepEqual((await pixel(sel, ...(GROUP[0] as [number, number]))).slice(0, 3), [0xe5, 0x14, 0x00]);
  await page.evaluate(() => {
    document.documentElement.style.setProperty("--vscode-charts-red", "#f48771");
    document.documentElement.style.setProperty("--vscode-editor-background", "#1e1e1e");
  });
  // Redrawn on the next animation frame after the theme's variables change.
  for (let k = 0; k < 50 && (await pixel(sel, ...(GROUP[0] as [number, number])))[0] !== 0xf4; k++) await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
  assert.deepEqual((await pixel(sel, ...(GROUP[0] as [number, number]))).slice(0, 3), [0xf4, 0x87, 0x71]);
  await page.evaluate(() => {
    document.documentElement.style.setProperty("--vscode-charts-red", "#e51400");
    document.documentElement.style.setProperty("--vscode-editor-background", "#ffffff");
  });
});

test("zoom: + shows part of the map, Ctrl+wheel keeps the point under the pointer, Whole map shows every point again", async () => {
  const sel = await render(payload());
  await posted();
  const canvas = page.locator(`${sel} canvas.em-points`);
  assert.equal(await canvas.getAttribute("data-visible"), String(N));
  await page.click(`${sel} button.em-zoom-in`);
  assert.equal(await canvas.getAttribute("data-zoom"), "2");
  const visible = Number(await canvas.getAttribute("data-visible"));
  assert.ok(visible > 0 && visible < N, `${visible} of ${N} points on the canvas at zoom 2`);
  await page.click(`${sel} button.em-zoom-reset`);
  assert.equal(await canvas.getAttribute("data-visible"), String(N));
  // Ctrl+wheel over the lone point: it stays under the pointer, and hovering still finds it.
  const [x, y] = await at(sel, LONE[0], LONE[1]);
  await page.mouse.move(x, y);
  await page.keyboard.down("Control");
  await page.mouse.wheel(0, -300);
  await page.keyboard.up("Control");
  assert.ok(Number(await canvas.getAttribute("data-zoom")) > 1.5);
  await page.mouse.move(x + 1, y);
  assert.equal(await canvas.getAttribute("data-hover"), "5");
  assert.deepEqual((await page.evaluate(([px, py]) => {
    const c = document.elementFromPoint(px, py) as HTMLCanvasElement;
    const r = c.getBoundingClientRect();
    const dpr = c.width / r.width;
    return Array.from(c.getContext("2d")!.getImageData(Math.round((px - r.left) * dpr), Math.round((py - r.top) * dpr), 1, 1).data.slice(0, 3));
  }, [x, y] as const)), [0x38, 0x8a, 0x34]);
  // A box drawn while zoomed selects by what is shown.
  await drag([[x - 10, y - 10], [x + 10, y + 10]]);
  const msgs = (await posted()).filter((m) => m.action === "select");
  assert.deepEqual(msgs[0].ids, [5]);
  await page.click(`${sel} button.em-zoom-reset`);
});

