/**
 * DOM tests of the confusion-matrix and Grad-CAM notebook renderers in headless Chromium.
 * The built bundles (dist/renderers/*.js, so run `npm run build` first) are served from a fake
 * origin through playwright's request routing and activated with a minimal RendererContext, as
 * VS Code's notebook webview would. Screenshots go to test/artifacts/renderer-*.png.
 *
 *   node --import tsx --test test/browser/renderers.test.ts
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import sharp from "sharp";

const CHROMIUM = process.env.FERNB_CHROMIUM || "/usr/bin/chromium";
const DIST = "dist/renderers";
const ARTIFACTS = "test/artifacts";
const ORIGIN = "http://fernb.test";
const CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"];

const LIGHT = {
  "--vscode-editor-background": "#ffffff",
  "--vscode-editor-foreground": "#3b3b3b",
  "--vscode-charts-blue": "#1a85ff",
  "--vscode-charts-green": "#388a34",
  "--vscode-focusBorder": "#005fb8",
  "--vscode-button-background": "#005fb8",
  "--vscode-button-foreground": "#ffffff",
  "--vscode-editorWidget-border": "#c8c8c8",
  "--vscode-errorForeground": "#e51400",
  "--vscode-font-family": "system-ui, sans-serif",
  "--vscode-font-size": "13px",
};
const DARK = {
  "--vscode-editor-background": "#1f1f1f",
  "--vscode-editor-foreground": "#cccccc",
  "--vscode-charts-blue": "#3794ff",
  "--vscode-charts-green": "#89d185",
  "--vscode-focusBorder": "#0078d4",
  "--vscode-button-background": "#0078d4",
  "--vscode-editorWidget-border": "#454545",
  "--vscode-errorForeground": "#f85149",
};

const css = (vars: Record<string, string>) => Object.entries(vars).map(([k, v]) => `${k}: ${v}`).join("; ");

const PAGE = `<!doctype html>
<html style="${css(LIGHT)}"><head><meta charset="utf-8"><style>
  body { margin: 12px; background: var(--vscode-editor-background); width: 860px; }
  .output { padding: 8px; margin-bottom: 12px; }
</style>
<!-- tsx compiles the test with esbuild's keepNames: functions passed to page.evaluate call __name -->
<script>window.__name = (f) => f;</script>
</head><body><script type="module">
  import { activate as confusion } from "/confusion.js";
  import { activate as gradcam } from "/gradcam.js";
  const ctx = { setState() {}, getState() { return undefined; }, getRenderer: async () => undefined, workspace: { isTrusted: true } };
  const renderers = { confusion: await confusion(ctx), gradcam: await gradcam(ctx) };
  const mimes = { confusion: "application/vnd.fernb.confusion+json", gradcam: "application/vnd.fernb.gradcam+json" };
  let n = 0;
  window.fernbRender = async (renderer, text) => {
    const el = document.createElement("div");
    el.id = "out" + ++n;
    el.className = "output";
    document.body.append(el);
    const item = { id: el.id, mime: mimes[renderer], metadata: {}, text: () => text, json: () => JSON.parse(text),
      data: () => new TextEncoder().encode(text), blob: () => new Blob([text]) };
    await renderers[renderer].renderOutputItem(item, el, new AbortController().signal);
    return "#" + el.id;
  };
  window.fernbReady = true;
</script></body></html>`;

// ---- fixtures -----------------------------------------------------------------------------

/** A 48×48 grey cartoon face; the mouth curve differs per emotion so thumbnails are distinguishable. */
async function facePng(emotion: number, shade = 0): Promise<string> {
  const curve = [-6, -3, -8, 9, -9, 0, 1][emotion];
  const mouthOpen = emotion === 5 ? `<ellipse cx="24" cy="35" rx="4" ry="5" fill="#222"/>` : `<path d="M15 34 Q24 ${34 + curve} 33 34" stroke="#222" stroke-width="2.5" fill="none"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48">
    <rect width="48" height="48" fill="#${(40 + shade * 12).toString(16).padStart(2, "0").repeat(3)}"/>
    <ellipse cx="24" cy="25" rx="17" ry="21" fill="#b8b8b8"/>
    <circle cx="17" cy="20" r="3" fill="#222"/><circle cx="31" cy="20" r="3" fill="#222"/>
    <path d="M12 ${emotion === 0 ? 13 : 15} L21 ${emotion === 0 ? 16 : 14}" stroke="#444" stroke-width="2"/>
    <path d="M27 ${emotion === 0 ? 16 : 14} L36 ${emotion === 0 ? 13 : 15}" stroke="#444" stroke-width="2"/>
    ${mouthOpen}</svg>`;
  const png = await sharp(Buffer.from(svg)).greyscale().png().toBuffer();
  return `data:image/png;base64,${png.toString("base64")}`;
}

/** A w×h uint8 CAM with a Gaussian blob at (cx, cy) in 0..1 coordinates, base64. */
function camData(w: number, h: number, cx: number, cy: number): string {
  const v = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const dx = (x + 0.5) / w - cx, dy = (y + 0.5) / h - cy;
    v[y * w + x] = Math.round(255 * Math.exp(-(dx * dx + dy * dy) / 0.05));
  }
  return Buffer.from(v).toString("base64");
}

const COUNTS = [
  [30, 2, 3, 0, 4, 1, 5],
  [3, 8, 1, 0, 2, 0, 1],
  [4, 1, 20, 5, 6, 9, 3],
  [0, 0, 1, 80, 1, 3, 4],
  [5, 1, 4, 2, 40, 0, 11],
  [1, 0, 6, 3, 0, 50, 2],
  [4, 0, 2, 6, 9, 1, 60],
];
const N = COUNTS.flat().reduce((a, b) => a + b, 0);
const TRACE = COUNTS.reduce((a, r, i) => a + r[i], 0);

async function confusionPayload() {
  const fearHappy = [0.41, 0.77, 0.58]; // deliberately unsorted; the cell holds 5 faces
  return {
    title: "Validation set, epoch 12",
    classes: CLASSES,
    counts: COUNTS,
    n: N,
    accuracy: TRACE / N,
    macroF1: 0.6843,
    examples: {
      "2,3": await Promise.all(fearHappy.map(async (c, i) => ({ path: `data/val/fear/img_${i}.png`, thumb: await facePng(3, i), confidence: c }))),
      "0,0": await Promise.all([0.99, 0.97, 0.9, 0.85].map(async (c, i) => ({ path: `data/val/anger/a_${i}.png`, thumb: await facePng(0, i), confidence: c }))),
      "4,6": await Promise.all([0.52, 0.61].map(async (c, i) => ({ path: `data/val/sadness/s_${i}.png`, thumb: await facePng(6, i), confidence: c }))),
    },
  };
}

async function gradcamPayload() {
  const probs0 = [0.02, 0.01, 0.03, 0.83, 0.09, 0.015, 0.005];
  const probs1 = [0.71, 0.12, 0.05, 0.02, 0.04, 0.01, 0.05];
  return {
    title: "Grad-CAM, validation mistakes",
    method: "Grad-CAM",
    layer: "layer4.1.conv2",
    grid: [7, 7],
    classes: CLASSES,
    items: [
      {
        path: "data/val/sadness/s_17.png",
        label: 4,
        predicted: 3,
        probs: probs0,
        image: await facePng(3),
        // true-class CAM listed first: the renderer must still show the predicted class first
        cams: [
          // a map that explains less than random pixels
          { class: 4, width: 7, height: 7, data: camData(7, 7, 0.35, 0.4), faithfulness: { camDrop: 0.02, randomDrop: 0.06, shiftedDrop: 0.01 } },
          { class: 3, width: 7, height: 7, data: camData(7, 7, 0.5, 0.75), faithfulness: { camDrop: 0.41, randomDrop: 0.07 } },
        ],
      },
      {
        path: "data/val/anger/a_3.png",
        label: 0,
        predicted: 0,
        probs: probs1,
        image: await facePng(0),
        cams: [{ class: 0, width: 6, height: 6, data: camData(6, 6, 0.5, 0.3), faithfulness: { camDrop: 0.33, randomDrop: 0.05 } }],
      },
    ],
  };
}

// ---- harness ------------------------------------------------------------------------------

let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function render(renderer: "confusion" | "gradcam", payload: unknown): Promise<string> {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  return page.evaluate(([r, t]) => (window as any).fernbRender(r, t), [renderer, text] as const);
}

const frames = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

async function cellTexts(sel: string): Promise<string[][]> {
  return page.$$eval(`${sel} td.cm-cell`, (tds) => {
    const out: string[][] = [];
    for (const td of tds as HTMLElement[]) (out[Number(td.dataset.row)] ??= [])[Number(td.dataset.col)] = td.textContent!;
    return out;
  });
}

const focused = () => page.evaluate(() => {
  const a = document.activeElement as HTMLElement;
  return a?.dataset.row !== undefined ? `${a.dataset.row},${a.dataset.col}` : a?.tagName ?? "";
});

async function screenshot(sel: string, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.locator(sel).screenshot({ path: join(ARTIFACTS, name) });
}

before(async () => {
  for (const f of ["confusion.js", "gradcam.js"]) {
    if (!existsSync(join(DIST, f))) throw new Error(`${DIST}/${f} is missing: run \`npm run build\` first`);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/") return route.fulfill({ contentType: "text/html", body: PAGE });
    const file = join(DIST, path.slice(1));
    if (/^\/\w+\.js$/.test(path) && existsSync(file)) return route.fulfill({ contentType: "text/javascript", body: readFileSync(file) });
    return route.fulfill({ status: 404, body: "not found" });
  });
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => (window as any).fernbReady === true, undefined, { timeout: 10_000 });
});

after(async () => {
  await browser?.close();
});

// ---- confusion matrix ---------------------------------------------------------------------

describe("confusion renderer", () => {
  let payload: Awaited<ReturnType<typeof confusionPayload>>;
  before(async () => {
    payload = await confusionPayload();
  });

  test("cells, totals, header and axis labels", async () => {
    const sel = await render("confusion", payload);
    assert.deepEqual(await cellTexts(sel), COUNTS.map((r) => r.map(String)));
    const rowTotals = await page.$$eval(`${sel} td[data-row-total]`, (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(rowTotals, COUNTS.map((r) => String(r.reduce((a, b) => a + b, 0))));
    const colTotals = await page.$$eval(`${sel} td[data-col-total]`, (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(colTotals, CLASSES.map((_, j) => String(COUNTS.reduce((a, r) => a + r[j], 0))));
    assert.equal(await page.textContent(`${sel} .cm-grand`), String(N));
    const head = await page.textContent(`${sel} .cm-head`);
    assert.match(head!, new RegExp(`n = ${N}`));
    assert.match(head!, new RegExp(`accuracy ${((TRACE / N) * 100).toFixed(1)}%`));
    assert.match(head!, /macro-F1 0\.684/);
    assert.match(head!, /Validation set, epoch 12/);
    const colHeads = await page.$$eval(`${sel} thead th[scope=col]`, (ths) => ths.map((t) => t.textContent));
    assert.deepEqual(colHeads, [...CLASSES, "total"]);
    const rowHeads = await page.$$eval(`${sel} tbody th[scope=row]`, (ths) => ths.map((t) => t.textContent));
    assert.deepEqual(rowHeads, CLASSES);
    assert.equal(await page.textContent(`${sel} .cm-axis-y`), "true class");
    assert.equal(await page.textContent(`${sel} th[scope=colgroup]`), "predicted class");
    // The matrix is one tab stop.
    assert.equal(await page.locator(`${sel} td.cm-cell[tabindex="0"]`).count(), 1);
    // A cell's accessible name tells both classes.
    assert.equal(await page.getAttribute(`${sel} td[data-row="2"][data-col="3"]`, "aria-label"), "true fear, predicted happiness: 5 (10.4% of true fear)");
    await screenshot(sel, "renderer-confusion.png");
  });

  test("toggle switches to row-normalised percentages and back", async () => {
    const sel = await render("confusion", payload);
    const toggle = page.locator(`${sel} button.cm-toggle`);
    assert.equal(await toggle.getAttribute("aria-pressed"), "false");
    await toggle.click();
    assert.equal(await toggle.getAttribute("aria-pressed"), "true");
    const expected = COUNTS.map((r) => {
      const t = r.reduce((a, b) => a + b, 0);
      return r.map((c) => (c === 0 ? "0%" : c === t ? "100%" : `${((c / t) * 100).toFixed(1)}%`));
    });
    assert.deepEqual(await cellTexts(sel), expected);
    assert.equal(expected[3][3], "89.9%");
    // totals stay counts
    assert.equal(await page.textContent(`${sel} td[data-row-total="3"]`), "89");
    await toggle.press("Space");
    assert.deepEqual(await cellTexts(sel), COUNTS.map((r) => r.map(String)));
  });

  test("clicking a cell shows its faces sorted by confidence; same cell closes, another switches", async () => {
    const sel = await render("confusion", payload);
    const faces = page.locator(`${sel} .cm-faces`);
    assert.equal(await faces.isVisible(), false);
    await page.click(`${sel} td[data-row="2"][data-col="3"]`);
    assert.equal(await faces.isVisible(), true);
    assert.equal(await page.getAttribute(`${sel} td[data-row="2"][data-col="3"]`, "aria-expanded"), "true");
    const figs = await page.$$eval(`${sel} .cm-face`, (fs) => fs.map((f) => ({
      label: f.querySelector(".cm-label")!.textContent,
      conf: f.querySelector(".cm-conf")!.textContent,
      title: f.getAttribute("title"),
      loaded: (f.querySelector("img") as HTMLImageElement).complete,
    })));
    assert.deepEqual(figs.map((f) => f.conf), ["77%", "58%", "41%"]);
    assert.ok(figs.every((f) => f.label === "fear → happiness"));
    assert.deepEqual(figs.map((f) => f.title), ["data/val/fear/img_1.png", "data/val/fear/img_2.png", "data/val/fear/img_0.png"]);
    assert.match((await faces.textContent())!, /showing 3 of 5/);
    await page.waitForFunction((s) => [...document.querySelectorAll<HTMLImageElement>(`${s} .cm-face img`)].every((i) => i.complete && i.naturalWidth === 48), sel);
    await screenshot(sel, "renderer-confusion-faces.png");

    // another cell switches
    await page.click(`${sel} td[data-row="0"][data-col="0"]`);
    const labels = await page.$$eval(`${sel} .cm-face .cm-label`, (ls) => ls.map((l) => l.textContent));
    assert.deepEqual(labels, ["anger → anger", "anger → anger", "anger → anger", "anger → anger"]);
    assert.match((await faces.textContent())!, /showing 4 of 30/);
    assert.equal(await page.getAttribute(`${sel} td[data-row="2"][data-col="3"]`, "aria-expanded"), "false");
    // the same cell closes
    await page.click(`${sel} td[data-row="0"][data-col="0"]`);
    assert.equal(await faces.isVisible(), false);
    // an empty cell opens nothing
    await page.click(`${sel} td[data-row="0"][data-col="3"]`);
    assert.equal(await faces.isVisible(), false);
    // a non-empty cell without examples says so
    await page.click(`${sel} td[data-row="1"][data-col="0"]`);
    assert.match((await faces.textContent())!, /no example faces were sent for this cell \(3 faces\)/);
  });

  test("keyboard: one tab stop, arrows move, Enter opens, Escape closes", async () => {
    const sel = await render("confusion", payload);
    await page.focus(`${sel} button.cm-toggle`);
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "0,0");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    assert.equal(await focused(), "0,2");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowRight");
    assert.equal(await focused(), "2,3");
    assert.equal(await page.locator(`${sel} td.cm-cell[tabindex="0"]`).count(), 1);
    await page.keyboard.press("Enter");
    const faces = page.locator(`${sel} .cm-faces`);
    assert.equal(await faces.isVisible(), true);
    assert.equal(await page.locator(`${sel} .cm-face`).count(), 3);
    await page.keyboard.press("Escape");
    assert.equal(await faces.isVisible(), false);
    assert.equal(await focused(), "2,3");
    // Space toggles too; Escape from the faces' Close button returns focus to the cell
    await page.keyboard.press(" ");
    assert.equal(await faces.isVisible(), true);
    await page.focus(`${sel} .cm-close`);
    await page.keyboard.press("Escape");
    assert.equal(await faces.isVisible(), false);
    assert.equal(await focused(), "2,3");
    // edges clamp; an empty cell is focusable but opens nothing
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    assert.equal(await focused(), "0,3");
    await page.keyboard.press("Enter");
    assert.equal(await faces.isVisible(), false);
    await page.keyboard.press("Control+End");
    assert.equal(await focused(), "6,6");
    await page.keyboard.press("Home");
    assert.equal(await focused(), "6,0");
    // Tab leaves the matrix (one tab stop): the next focusable is not a cell
    await page.keyboard.press("Tab");
    assert.notEqual(await page.evaluate(() => document.activeElement?.classList.contains("cm-cell")), true);
  });

  test("malformed payloads show a readable error", async () => {
    const before = pageErrors.length;
    const cases: [unknown, RegExp][] = [
      ["{not json", /fernb confusion matrix: malformed payload: the output is not valid JSON/],
      [[1, 2], /the payload must be an object/],
      [{ classes: ["a", "b"], counts: [[1, 2]], n: 3 }, /counts has 1 rows but there are 2 classes/],
      [{ classes: ["a", "b"], counts: [[1, 2], [3, -1]], n: 5 }, /counts\[1\]\[1\] must be between 0 and/],
      [{ classes: ["a", "b"], counts: [[1, 2], [3, 4]] }, /n must be a finite number/],
      [{ classes: ["a", "b"], counts: [[1, 2], [3, 4]], n: 10, examples: { "0,5": [] } }, /examples\["0,5"\]: the key must be "true,predicted"/],
      [{ classes: ["a", "b"], counts: [[1, 2], [3, 4]], n: 10, examples: { "0,1": [{ path: "x", thumb: "", confidence: 1.5 }] } }, /examples\["0,1"\]\[0\]\.confidence must be between/],
    ];
    for (const [p, re] of cases) {
      const sel = await render("confusion", p);
      const text = await page.textContent(`${sel} .fernb-error`);
      assert.match(text!, re);
      assert.equal(await page.getAttribute(`${sel} .fernb-error`, "role"), "alert");
    }
    // a thumbnail that is not a data: URL (or is empty) becomes a placeholder, never a fetch
    const sel = await render("confusion", { classes: ["a", "b"], counts: [[1, 2], [3, 4]], n: 10,
      examples: { "0,1": [{ path: "x/1.png", thumb: "https://example.invalid/x.png", confidence: 0.5 }, { path: "x/2.png", thumb: "", confidence: 1.0000001 }] } });
    await page.click(`${sel} td[data-row="0"][data-col="1"]`);
    assert.equal(await page.locator(`${sel} .cm-face img`).count(), 0);
    assert.equal(await page.locator(`${sel} .cm-noimg`).count(), 2);
    assert.deepEqual(await page.$$eval(`${sel} .cm-conf`, (cs) => cs.map((c) => c.textContent)), ["100%", "50%"]);
    assert.deepEqual(pageErrors.slice(before), []);
  });

  test("theme: dark CSS variables change text and cell colours; cell text stays readable", async () => {
    const sel = await render("confusion", payload);
    const readColors = () => page.evaluate((s) => {
      const parse = (c: string) => c.match(/[\d.]+/g)!.map(Number);
      const lum = (c: number[]) => {
        const l = c.slice(0, 3).map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
        return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
      };
      const ratio = (a: number[], b: number[]) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
      const cells = [...document.querySelectorAll<HTMLElement>(`${s} td.cm-cell`)];
      return {
        title: getComputedStyle(document.querySelector(`${s} .cm-title`)!).color,
        header: getComputedStyle(document.querySelector(`${s} thead th[scope=col]`)!).color,
        diag: getComputedStyle(cells[0]).backgroundColor,
        minContrast: Math.min(...cells.map((c) => {
          const fg = parse(getComputedStyle(c).color), bg = parse(getComputedStyle(c).backgroundColor);
          const a = Number(getComputedStyle(c).opacity); // muted zero cells: the text blends into the cell
          return ratio(fg.map((v, i) => v * a + bg[i] * (1 - a)), bg);
        })),
      };
    }, sel);
    const light = await readColors();
    assert.equal(light.title, "rgb(59, 59, 59)");
    assert.ok(light.minContrast >= 4.5, `light contrast ${light.minContrast}`);
    await page.evaluate((style) => document.body.setAttribute("style", style), css(DARK));
    await frames();
    const dark = await readColors();
    assert.equal(dark.title, "rgb(204, 204, 204)");
    assert.equal(dark.header, "rgb(204, 204, 204)");
    assert.notEqual(dark.diag, light.diag);
    assert.ok(dark.minContrast >= 4.5, `dark contrast ${dark.minContrast}`);
    await page.click(`${sel} td[data-row="4"][data-col="6"]`);
    await page.waitForFunction((s) => [...document.querySelectorAll<HTMLImageElement>(`${s} .cm-face img`)].every((i) => i.complete && i.naturalWidth > 0), sel);
    await screenshot(sel, "renderer-confusion-dark.png");
    await page.evaluate(() => document.body.removeAttribute("style"));
    await frames();
  });
});

// ---- Grad-CAM -----------------------------------------------------------------------------

describe("gradcam renderer", () => {
  let payload: Awaited<ReturnType<typeof gradcamPayload>>;
  before(async () => {
    payload = await gradcamPayload();
  });

  /** Pixels of the `index`-th canvas in the output. */
  const pixels = (sel: string, index: number) => page.evaluate(([s, i]) => {
    const c = document.querySelectorAll<HTMLCanvasElement>(`${s} canvas.gc-canvas`)[i as number];
    return Array.from(c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data);
  }, [sel, index] as const);

  test("faces, heat maps in order, captions, faithfulness, top-3", async () => {
    const sel = await render("gradcam", payload);
    assert.equal(await page.getAttribute(`${sel} .fernb-gc`, "data-ready"), "true");
    assert.equal(await page.locator(`${sel} .gc-item`).count(), 2);
    assert.equal(await page.locator(`${sel} canvas.gc-canvas`).count(), 5); // item0: face + 2 cams, item1: face + 1 cam
    const sizes = await page.$$eval(`${sel} canvas.gc-canvas`, (cs) => cs.map((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]));
    assert.ok(sizes.every(([w, h]) => w === 144 && h === 144), JSON.stringify(sizes));
    const caps = await page.$$eval(`${sel} .gc-item:first-of-type .gc-cam .gc-cap`, (cs) => cs.map((c) => c.textContent));
    assert.deepEqual(caps, ["predicted: happiness 83%", "true: sadness 9%"]);
    const faith = await page.$$eval(`${sel} .gc-faith`, (cs) => cs.map((c) => c.textContent));
    assert.deepEqual(faith, [
      "Hiding the 20% of the face this map marks lowers the model's confidence in happiness by 41 points; 20% random pixels lowers it by 7 points.",
      "Hiding the 20% of the face this map marks lowers the model's confidence in sadness by 2 points; the same area moved elsewhere lowers it by 1 point; 20% random pixels lowers it by 6 points.",
      "Hiding the 20% of the face this map marks lowers the model's confidence in anger by 33 points; 20% random pixels lowers it by 5 points.",
    ]);
    // Only the map that explains less than random pixels is marked.
    const weak = await page.$$eval(`${sel} .gc-weak`, (cs) => cs.map((c) => [c.closest("figure")?.getAttribute("data-class"), c.textContent]));
    assert.deepEqual(weak, [["4", "⚠ Explains less than random pixels: hiding random pixels changed the confidence as much or more."]]);
    const top = await page.$$eval(`${sel} .gc-item:first-of-type ol.gc-top li`, (ls) => ls.map((l) => l.textContent));
    assert.deepEqual(top, ["happiness 83%", "sadness 9%", "fear 3%"]);
    const caps2 = await page.$$eval(`${sel} .gc-item:nth-of-type(2) .gc-cam .gc-cap`, (cs) => cs.map((c) => c.textContent));
    assert.deepEqual(caps2, ["predicted = true: anger 71%"]);
    assert.match((await page.textContent(`${sel} .gc-item:first-of-type .gc-item-head`))!, /true: sadness · predicted: happiness ✗ wrong/);
    const head = (await page.textContent(`${sel} .gc-head`))!;
    assert.match(head, /Grad-CAM at layer layer4\.1\.conv2 \(7×7 grid\) · 2 faces/);
    assert.equal(head.split("layer4.1.conv2").length - 1, 1, `the header names the layer once: ${head}`);
    // controls are labelled, real form elements
    assert.equal(await page.getByLabel("Heat-map opacity").inputValue(), "0.5");
    assert.equal(await page.getByLabel("Colour map").inputValue(), "turbo");
    await screenshot(sel, "renderer-gradcam.png");
  });

  test("opacity slider and colour map change the blended pixels", async () => {
    const sel = await render("gradcam", payload);
    const face = await pixels(sel, 0);
    const half = await pixels(sel, 1);
    assert.notDeepEqual(half, face);
    const slider = page.locator(`${sel} input.gc-opacity`);
    await slider.fill("0");
    await frames();
    assert.deepEqual(await pixels(sel, 1), face, "opacity 0 shows the bare face");
    await slider.fill("0.9");
    await frames();
    const strong = await pixels(sel, 1);
    assert.notDeepEqual(strong, half);
    assert.equal(await page.textContent(`${sel} output`), "90%");
    // keyboard: arrows step the slider
    await slider.focus();
    await page.keyboard.press("ArrowLeft");
    await frames();
    assert.equal(await slider.inputValue(), "0.85");
    assert.notDeepEqual(await pixels(sel, 1), strong);
    // colour map
    const before = await pixels(sel, 1);
    await page.locator(`${sel} select.gc-cmap`).selectOption("viridis");
    await frames();
    const viridis = await pixels(sel, 1);
    assert.notDeepEqual(viridis, before);
    // the hottest CAM pixel is yellow-ish in viridis (high red and green, low blue) at high opacity
    let best = 0;
    for (let p = 0; p < viridis.length; p += 4) if (viridis[p] + viridis[p + 1] - viridis[p + 2] > viridis[best] + viridis[best + 1] - viridis[best + 2]) best = p;
    assert.ok(viridis[best] > 180 && viridis[best + 1] > 180 && viridis[best + 2] < 120, `hot pixel ${viridis.slice(best, best + 3)}`);
    await page.locator(`${sel} select.gc-cmap`).selectOption("inferno");
    await frames();
    await screenshot(sel, "renderer-gradcam-inferno.png");
  });

  test("a larger, non-square RGB face is scaled to fit 144 px and the CAM follows it", async () => {
    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 120, b: 60 } } }).png().toBuffer();
    const item = { ...payload.items[1], image: `data:image/png;base64,${png.toString("base64")}` };
    const sel = await render("gradcam", { ...payload, items: [item] });
    const sizes = await page.$$eval(`${sel} canvas.gc-canvas`, (cs) => cs.map((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]));
    assert.deepEqual(sizes, [[144, 96], [144, 96]]);
    const face = await pixels(sel, 0);
    assert.deepEqual(face.slice(0, 3), [200, 120, 60]);
    assert.notDeepEqual(await pixels(sel, 1), face);
  });

  test("dark theme changes the text colour", async () => {
    const sel = await render("gradcam", payload);
    const color = () => page.$eval(`${sel} .gc-cap`, (e) => getComputedStyle(e).color);
    assert.equal(await color(), "rgb(59, 59, 59)");
    await page.evaluate((style) => document.body.setAttribute("style", style), css(DARK));
    assert.equal(await color(), "rgb(204, 204, 204)");
    await screenshot(sel, "renderer-gradcam-dark.png");
    await page.evaluate(() => document.body.removeAttribute("style"));
  });

  test("malformed payloads show a readable error", async () => {
    const before = pageErrors.length;
    const good = payload.items[0];
    const cases: [unknown, RegExp][] = [
      ["[", /fernb Grad-CAM: malformed payload: the output is not valid JSON/],
      [{ ...payload, items: "x" }, /items must be an array/],
      [{ ...payload, layer: undefined }, /layer must be a string/],
      [{ ...payload, items: [{ ...good, cams: [{ class: 3, width: 7, height: 7, data: camData(6, 6, 0.5, 0.5) }] }] }, /items\[0\]\.cams\[0\]\.data holds 36 bytes but width×height is 7×7 = 49/],
      [{ ...payload, items: [{ ...good, predicted: 9 }] }, /items\[0\]\.predicted must be between 0 and 6/],
      [{ ...payload, items: [{ ...good, probs: [1, 0] }] }, /items\[0\]\.probs has 2 values but there are 7 classes/],
      [{ ...payload, items: [{ ...good, image: "file:///etc/passwd" }] }, /items\[0\]\.image must be a data:image/],
    ];
    for (const [p, re] of cases) {
      const sel = await render("gradcam", p);
      assert.match((await page.textContent(`${sel} .fernb-error`))!, re);
    }
    // an undecodable image is reported in its row, the rest still renders
    const sel = await render("gradcam", { ...payload, items: [{ ...good, image: "data:image/png;base64,AAAA" }, payload.items[1]] });
    assert.match((await page.textContent(`${sel} .gc-msg`))!, /could not decode the face image of data\/val\/sadness\/s_17\.png/);
    assert.equal(await page.locator(`${sel} canvas.gc-canvas`).count(), 2);
    assert.deepEqual(pageErrors.slice(before), []);
  });
});

test("no uncaught page errors", () => {
  assert.deepEqual(pageErrors, []);
});
