/**
 * DOM test of the review-grid renderer (dist/renderers/review.js, built by `npm run build`) in
 * headless Chromium, activated with a fake RendererContext that records postMessage and can deliver
 * the kernel's replies (as VS Code's renderer messaging would).
 *
 *   node --import tsx --test test/browser/review.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import sharp from "sharp";
import { messagingRendererHtml, openRendererPage } from "./rendererPage";

const FILE = "dist/renderers/review.js";
const CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"];

const PAGE = messagingRendererHtml({
  script: "review.js",
  mime: "application/vnd.fernb.review+json",
  rootStyle: "--vscode-editor-background: #fff; --vscode-editor-foreground: #333; --vscode-focusBorder: #005fb8",
  bodyStyle: "margin: 12px; width: 860px;",
});

let browser: Browser;
let page: Page;
let pageErrors: string[] = [];
let thumb = "";

function payload() {
  const item = (path: string, label: string, extra: object = {}) => ({ path, label, thumb, state: { originalLabel: label, label, excluded: false }, ...extra });
  return {
    reviewId: "review-test-1",
    dataset: "train",
    classes: CLASSES,
    renderer: "fernb-review",
    total: 5,
    items: [
      item("anger/a0.png", "anger", { predictions: [{ label: "anger", p: 0.8 }, { label: "fear", p: 0.1 }] }),
      item("fear/f0.png", "fear", { issue: { kind: "label", score: 0.9, suggested: "happiness", detail: "labelled fear, likely happiness" }, predictions: [{ label: "happiness", p: 0.7 }] }),
      item("fear/f1.png", "fear", { predictions: [{ label: "fear", p: 0.6 }] }),
      item("happiness/h0.png", "happiness", { issue: { kind: "unusable", score: 0.5 } }),
      { ...item("sadness/s0.png", "sadness"), state: { originalLabel: "sadness", label: "sadness", excluded: true } },
    ],
  };
}

const render = (p: unknown): Promise<string> => page.evaluate((t) => (window as any).fernbRender(t), JSON.stringify(p));
const posted = (): Promise<any[]> => page.evaluate(() => (window as any).posted.splice(0));
const tile = (sel: string, path: string) => page.locator(`${sel} .rv-tile[data-path="${path}"]`);
const shownPaths = (sel: string) => page.$$eval(`${sel} .rv-tile`, (ts) => ts.map((t) => (t as HTMLElement).dataset.path));

before(async () => {
  const png = await sharp(Buffer.alloc(48 * 48, 128), { raw: { width: 48, height: 48, channels: 1 } }).png().toBuffer();
  thumb = `data:image/png;base64,${png.toString("base64")}`;
  ({ browser, page, pageErrors } = await openRendererPage(PAGE, FILE, { width: 900, height: 900 }));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, []);
});

test("grid: suspects first, labels, predictions, accessible names", async () => {
  const sel = await render(payload());
  assert.deepEqual(await shownPaths(sel), ["fear/f0.png", "happiness/h0.png", "anger/a0.png", "fear/f1.png", "sadness/s0.png"]);
  assert.equal(await page.getAttribute(`${sel} .rv-grid`, "role"), "grid");
  assert.equal(await page.getAttribute(`${sel} .rv-grid`, "aria-multiselectable"), "true");
  assert.equal(await page.locator(`${sel} .rv-tile[tabindex="0"]`).count(), 1);
  const f0 = tile(sel, "fear/f0.png");
  assert.match((await f0.getAttribute("aria-label"))!, /f0\.png: fear, label error 90%, predicted happiness 70%/);
  assert.match((await f0.textContent())!, /happiness 70%/);
  assert.equal(await tile(sel, "sadness/s0.png").getAttribute("data-excluded"), "true");
  assert.equal(await page.locator(`${sel} .rv-tile[data-path="sadness/s0.png"] .rv-restore`).isVisible(), true);
});

test("relabel with the select, with key 3, x; replies mark the tiles saved or failed", async () => {
  const sel = await render(payload());
  await posted();
  await page.selectOption(`${sel} .rv-tile[data-path="anger/a0.png"] select.rv-relabel`, "surprise");
  let msgs = await posted();
  assert.equal(msgs.length, 1);
  assert.deepEqual({ ...msgs[0], requestId: undefined }, { reviewId: "review-test-1", action: "relabel", path: "anger/a0.png", label: "surprise", requestId: undefined });
  assert.equal(await page.textContent(`${sel} .rv-tile[data-path="anger/a0.png"] .rv-status`), "saving…");
  await page.evaluate((m) => (window as any).deliver(m), {
    ok: true, requestId: msgs[0].requestId, reviewId: "review-test-1", action: "relabel", path: "anger/a0.png",
    state: { originalLabel: "anger", label: "surprise", excluded: false, relabelled: "surprise" }, ledgerLine: { id: "x" },
  });
  assert.equal(await page.textContent(`${sel} .rv-tile[data-path="anger/a0.png"] .rv-status`), "saved ✓");
  assert.equal(await page.textContent(`${sel} .rv-tile[data-path="anger/a0.png"] .rv-label`), "anger → surprise");

  // Keyboard on the focused tile: 3 relabels as fear, x excludes.
  await tile(sel, "fear/f1.png").click({ position: { x: 4, y: 4 } });
  await page.keyboard.press("3");
  await page.keyboard.press("x");
  msgs = await posted();
  assert.deepEqual(msgs.map((m) => [m.action, m.path, m.label]), [["relabel", "fear/f1.png", "fear"], ["exclude", "fear/f1.png", undefined]]);
  await page.evaluate((m) => (window as any).deliver(m), { ok: false, requestId: msgs[1].requestId, reviewId: "review-test-1", path: "fear/f1.png", error: "The kernel was restarted: run the review cell again." });
  assert.match((await page.textContent(`${sel} .rv-tile[data-path="fear/f1.png"] .rv-status`))!, /error: The kernel was restarted/);
  // u undoes the review's last decision.
  await page.keyboard.press("u");
  msgs = await posted();
  assert.deepEqual(msgs.map((m) => [m.action, m.path]), [["undo", undefined]]);
});

test("multi-select: ctrl-click and shift-click, batch keys act on the selection", async () => {
  const sel = await render(payload());
  await posted();
  await tile(sel, "fear/f0.png").click({ position: { x: 4, y: 4 } });
  await tile(sel, "anger/a0.png").click({ modifiers: ["Shift"], position: { x: 4, y: 4 } });
  await tile(sel, "sadness/s0.png").click({ modifiers: ["Control"], position: { x: 4, y: 4 } });
  assert.equal(await page.locator(`${sel} .rv-tile[aria-selected="true"]`).count(), 4);
  assert.equal(await page.textContent(`${sel} .rv-selcount`), "4 selected");
  await page.keyboard.press("r");
  const msgs = await posted();
  assert.deepEqual(msgs.map((m) => [m.action, m.path]).sort(), [["restore", "anger/a0.png"], ["restore", "fear/f0.png"], ["restore", "happiness/h0.png"], ["restore", "sadness/s0.png"]]);
  // Arrow keys move the focus.
  await page.keyboard.press("Escape");
  assert.equal(await page.locator(`${sel} .rv-tile[aria-selected="true"]`).count(), 0);
  await page.keyboard.press("ArrowLeft");
  assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.path), "fear/f1.png");
});

test("filters: by label, by issue, by predicted class", async () => {
  const sel = await render(payload());
  await page.selectOption(`${sel} select.rv-filter-label`, "fear");
  assert.deepEqual(await shownPaths(sel), ["fear/f0.png", "fear/f1.png"]);
  await page.selectOption(`${sel} select.rv-filter-label`, "");
  await page.selectOption(`${sel} select.rv-filter-issue`, "any");
  assert.deepEqual(await shownPaths(sel), ["fear/f0.png", "happiness/h0.png"]);
  await page.selectOption(`${sel} select.rv-filter-issue`, "");
  await page.selectOption(`${sel} select.rv-filter-predicted`, "happiness");
  assert.deepEqual(await shownPaths(sel), ["fear/f0.png"]);
  await page.selectOption(`${sel} select.rv-filter-predicted`, "");
  await page.selectOption(`${sel} select.rv-sort`, "order");
  assert.deepEqual(await shownPaths(sel), ["anger/a0.png", "fear/f0.png", "fear/f1.png", "happiness/h0.png", "sadness/s0.png"]);
});

test("a malformed payload shows an error", async () => {
  const sel = await render({ reviewId: "r", classes: CLASSES, items: [{ path: "a.png", label: "joy" }] });
  assert.match((await page.textContent(sel))!, /fernb review: malformed payload: items\[0\]\.label/);
});

// ---- Grad-CAM on demand ----------------------------------------------------------------------------

const withModel = () => ({ ...payload(), cam: { method: "Grad-CAM", layer: "layer4_1_out" } });
const deliver = (m: unknown) => page.evaluate((x) => (window as any).deliver(x), m);
/** A 4×4 heat map: 1 in the top-left cell, 0 elsewhere. */
const CORNER_CAM = [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
const camReply = (requestId: string, extra: object = {}) => ({
  ok: true, action: "gradcam", requestId, reviewId: "review-test-1", path: "fear/f0.png", class: "happiness", predicted: "happiness",
  p: 0.7, pPredicted: 0.7, method: "Grad-CAM", layer: "layer4_1_out", width: 4, height: 4, cam: CORNER_CAM, ...extra,
});
/** RGBA of the tile's heat-map canvas at (x, y), or null when it is not displayed. */
const camPixel = (sel: string, path: string, x: number, y: number) =>
  page.$eval(`${sel} .rv-tile[data-path="${path}"] canvas.rv-cam-canvas`, (c, [px, py]) => {
    const canvas = c as HTMLCanvasElement;
    if (canvas.style.display === "none") return null;
    return Array.from(canvas.getContext("2d")!.getImageData(px, py, 1, 1).data);
  }, [x, y]);

test("Grad-CAM: no button without a model; g says to pass a model and sends nothing", async () => {
  const sel = await render(payload());
  await posted();
  assert.equal(await page.locator(`${sel} .rv-cam`).count(), 0);
  assert.equal(await page.locator(`${sel} select.rv-cam-cmap`).count(), 0);
  await tile(sel, "anger/a0.png").click({ position: { x: 4, y: 4 } });
  await page.keyboard.press("g");
  assert.deepEqual(await posted(), []);
  assert.match((await page.textContent(`${sel} .rv-tile[data-path="anger/a0.png"] .rv-status`))!, /needs a model: pass `model`.*to review\(\)/);
});

test("Grad-CAM: the button sends a request, the reply is drawn over the face, toggling is instant, the labelled class on demand", async () => {
  const sel = await render(withModel());
  await posted();
  assert.equal(await page.locator(`${sel} .rv-cam`).count(), 5);
  const f0 = `${sel} .rv-tile[data-path="fear/f0.png"]`;
  assert.equal(await page.getAttribute(`${f0} .rv-cam`, "aria-pressed"), "false");
  assert.equal(await camPixel(sel, "fear/f0.png", 0, 0), null, "no overlay before it is asked for");

  await page.click(`${f0} .rv-cam`);
  let msgs = await posted();
  assert.equal(msgs.length, 1);
  assert.deepEqual({ ...msgs[0], requestId: undefined }, { action: "gradcam", path: "fear/f0.png", reviewId: "review-test-1", requestId: undefined });
  assert.equal(await page.textContent(`${f0} .rv-status`), "computing Grad-CAM…");
  assert.equal(await page.getAttribute(`${f0} .rv-cam`, "aria-pressed"), "true");
  await deliver(camReply(msgs[0].requestId));
  assert.equal(await page.textContent(`${f0} .rv-status`), "");
  assert.equal(await page.getAttribute(f0, "data-cam"), "happiness");
  assert.equal(await page.locator(`${f0} img`).isVisible(), false);
  assert.match((await page.textContent(`${f0} .rv-cam-info`))!, /Grad-CAM: happiness 70% \(predicted\)/);
  // Blended at 50%: the hot corner differs from the cold one, which is grey 128 mixed with turbo(0) ≈ (35, 23, 27).
  const hot = (await camPixel(sel, "fear/f0.png", 0, 0))!;
  const cold = (await camPixel(sel, "fear/f0.png", 47, 47))!;
  assert.ok(cold, "the overlay is drawn");
  for (const [c, want] of [[0, 81], [1, 76], [2, 78]]) assert.ok(Math.abs(cold[c] - want) <= 2, `cold pixel ${cold} vs (81, 76, 78)`);
  assert.ok(Math.abs(hot[0] - cold[0]) + Math.abs(hot[1] - cold[1]) + Math.abs(hot[2] - cold[2]) > 60, `hot ${hot} vs cold ${cold}`);

  // The colour map select redraws the overlay.
  await page.selectOption(`${sel} select.rv-cam-cmap`, "viridis");
  assert.equal(await page.getAttribute(`${f0} canvas.rv-cam-canvas`, "data-color-map"), "viridis");
  assert.notDeepEqual(await camPixel(sel, "fear/f0.png", 47, 47), cold);
  await page.selectOption(`${sel} select.rv-cam-cmap`, "turbo");

  // g on the focused tile hides it and shows it again from the cache: no message.
  await page.focus(f0);
  await page.keyboard.press("g");
  assert.equal(await camPixel(sel, "fear/f0.png", 0, 0), null);
  assert.equal(await page.getAttribute(`${f0} .rv-cam`, "aria-pressed"), "false");
  assert.equal(await page.locator(`${f0} img`).isVisible(), true);
  await page.keyboard.press("g");
  assert.deepEqual(await camPixel(sel, "fear/f0.png", 0, 0), hot);
  assert.deepEqual(await posted(), []);

  // Labelled fear, predicted happiness: the labelled class is one click away, then cached too.
  await page.click(`${f0} .rv-cam-switch`);
  msgs = await posted();
  assert.deepEqual(msgs.map((m) => [m.action, m.path, m.class]), [["gradcam", "fear/f0.png", "fear"]]);
  await deliver(camReply(msgs[0].requestId, { class: "fear", p: 0.1, cam: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]] }));
  assert.equal(await page.getAttribute(f0, "data-cam"), "fear");
  assert.match((await page.textContent(`${f0} .rv-cam-info`))!, /fear 10% \(label\)/);
  assert.ok((await camPixel(sel, "fear/f0.png", 0, 0))!.every((v, i) => Math.abs(v - cold[i]) <= 2), "the top-left is now cold");
  await page.click(`${f0} .rv-cam-switch`); // back to the predicted class: cached
  assert.equal(await page.getAttribute(f0, "data-cam"), "happiness");
  assert.deepEqual(await posted(), []);
});

test("Grad-CAM: an error reply, a malformed heat map and a kernel that never answers show in the tile", async () => {
  const sel = await render(withModel());
  await posted();
  const a0 = `${sel} .rv-tile[data-path="anger/a0.png"]`;
  await page.click(`${a0} .rv-cam`);
  let [m] = await posted();
  await deliver({ ok: false, action: "gradcam", requestId: m.requestId, reviewId: "review-test-1", path: "anger/a0.png", error: "The kernel was restarted: run the review cell again." });
  assert.equal(await page.textContent(`${a0} .rv-status`), "Grad-CAM error: The kernel was restarted: run the review cell again.");
  assert.match((await page.getAttribute(`${a0} .rv-status`, "class"))!, /rv-err/);
  assert.equal(await page.getAttribute(a0, "data-cam"), "");

  // After an error the next press asks again; a heat map with values outside [0,1] is refused.
  await page.click(`${a0} .rv-cam`); // off
  await page.click(`${a0} .rv-cam`); // on again
  [m] = await posted();
  assert.equal(m?.action, "gradcam");
  await deliver(camReply(m.requestId, { path: "anger/a0.png", cam: [[2, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]] }));
  assert.match((await page.textContent(`${a0} .rv-status`))!, /malformed Grad-CAM reply \(cam\[0\] has a value outside \[0,1\]\)/);
  assert.equal(await page.getAttribute(a0, "data-cam"), "");

  // No answer: after CAM_TIMEOUT_MS the tile says the kernel is busy; a late reply is still drawn.
  // (Fake timers from here on: keep this the file's last test.)
  await page.clock.install();
  const f1 = `${sel} .rv-tile[data-path="fear/f1.png"]`;
  await page.click(`${f1} .rv-cam`);
  [m] = await posted();
  assert.equal(await page.textContent(`${f1} .rv-status`), "computing Grad-CAM…");
  await page.clock.runFor(61_000);
  assert.match((await page.textContent(`${f1} .rv-status`))!, /no Grad-CAM from the kernel after 60 s \(a running cell may be keeping it busy\)/);
  await deliver(camReply(m.requestId, { path: "fear/f1.png", class: "fear", predicted: "fear" }));
  assert.equal(await page.getAttribute(f1, "data-cam"), "fear");
  assert.equal(await page.textContent(`${f1} .rv-status`), "");
});
