/**
 * Notebook renderer for `application/vnd.fernb.embedding+json` (kernel/fer/curation/embeddingMap.ts):
 * a map of a data set, each face a point placed by a 2-D projection of the model's features.
 *
 * - Drawn on a canvas in one pass over the points (pixels written into one ImageData), so 30,000
 *   points redraw in a few milliseconds; suspects are ringed on top. Colours come from VS Code's
 *   theme variables (--vscode-charts-*, the editor's background and foreground) and follow a theme
 *   switch live.
 * - Colour by label, prediction or suspicion (a switch), with a legend.
 * - Hover: the nearest point within a few pixels (a grid index over the canvas, so the lookup
 *   touches only the nearby cells) is described, and its face is asked of the kernel
 *   (`{ action: "thumb", mapId, ids }`) and cached.
 * - Box or lasso selection (drag on the map; the switch picks the shape): the selected points, the
 *   most suspicious first and at most the payload's `maxSelect`, are sent as `{ action: "select",
 *   mapId, ids }`; the kernel checks the ids against its map and answers with a review payload of
 *   exactly those faces, drawn below the map by the review renderer's own module (review.ts). Its
 *   decisions are posted on this renderer's channel and handled in the kernel by the review grid's
 *   code: the same checks, the same ledger. A relabel or exclusion that lands there recolours or
 *   dims its point on the map.
 * - "Review suspects" opens the suspects the same way (keyboard users need no mouse).
 * - Zoom: the + / − buttons or Ctrl+wheel (around the pointer; a plain wheel still scrolls the
 *   notebook), Shift+drag pans, "Whole map" resets; the grid index is rebuilt for what is shown.
 */
import type { ActivationFunction, OutputItem, RendererContext } from "vscode-notebook-renderer";
import { MIME, type EmbeddingPayload } from "../../protocol";
import { activate as activateReview, validateReview } from "./review";
import {
  BASE_CSS,
  PayloadError,
  basename,
  colorLut,
  cssRgb,
  decodeBase64,
  disposeViews,
  expectArray,
  expectClasses,
  expectInt,
  expectObject,
  expectString,
  h,
  isImageDataUrl,
  onThemeChange,
  optionalString,
  over,
  percent,
  readJson,
  resolveColor,
  showError,
  type Rgba,
} from "./_shared";

export type ColorBy = "label" | "predicted" | "suspicion";
export type SelectShape = "box" | "lasso";

/** The payload with its per-point arrays decoded. */
export interface EmbeddingData {
  payload: EmbeddingPayload;
  /** 2n, 0..65535 (y up). */
  xy: Uint16Array;
  labels: Uint8Array;
  predicted: Uint8Array;
  suspicion: Uint8Array;
  suspect: Uint8Array;
}

/** Checks the payload's shape and decodes its arrays; throws a PayloadError naming the first problem. */
export function validateEmbedding(raw: unknown): EmbeddingData {
  const p = expectObject(raw, "the payload");
  const mapId = expectString(p.mapId, "mapId");
  const classes = expectClasses(p.classes);
  const n = expectInt(p.n, "n", 1, 1_000_000);
  const proj = expectObject(p.projection, "projection");
  const bytes = (key: string, length: number) => {
    const b = decodeBase64(expectString(p[key], key), key);
    if (b.length !== length) throw new PayloadError(`${key} must hold ${length} bytes for ${n} points (has ${b.length})`);
    return b;
  };
  const xyBytes = bytes("xy", 4 * n);
  const xy = new Uint16Array(2 * n);
  const dv = new DataView(xyBytes.buffer, xyBytes.byteOffset, xyBytes.byteLength);
  for (let i = 0; i < 2 * n; i++) xy[i] = dv.getUint16(2 * i, true);
  const classBytes = (key: string) => {
    const b = bytes(key, n);
    for (let i = 0; i < n; i++) if (b[i] >= classes.length) throw new PayloadError(`${key}[${i}] is not a class index`);
    return b;
  };
  const labels = classBytes("labels");
  const predicted = classBytes("predicted");
  const suspicion = bytes("suspicion", n);
  const suspect = new Uint8Array(n);
  const suspects = expectArray(p.suspects, "suspects").map((v, i) => {
    const id = expectInt(v, `suspects[${i}]`, 0, n - 1);
    suspect[id] = 1;
    return id;
  });
  const payload: EmbeddingPayload = {
    mapId,
    renderer: optionalString(p.renderer, "renderer") ?? "fernb-embedding",
    dataset: optionalString(p.dataset, "dataset") ?? "dataset",
    classes,
    n,
    projection: { method: expectString(proj.method, "projection.method"), detail: optionalString(proj.detail, "projection.detail") },
    xy: "",
    labels: "",
    predicted: "",
    suspicion: "",
    suspicionMeaning: optionalString(p.suspicionMeaning, "suspicionMeaning") ?? "suspicion",
    suspects,
    weakModel: optionalString(p.weakModel, "weakModel"),
    maxSelect: p.maxSelect === undefined ? 300 : expectInt(p.maxSelect, "maxSelect", 1, 100_000),
  };
  return { payload, xy, labels, predicted, suspicion, suspect };
}

const CSS = `
.fernb-em { ${BASE_CSS} }
.fernb-em .em-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; margin: 2px 0 6px; }
.fernb-em .em-title { font-weight: 600; }
.fernb-em .em-stats, .fernb-em .em-detail { opacity: 0.8; }
.fernb-em .em-tools { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; margin-bottom: 6px; }
.fernb-em select, .fernb-em button {
  font: inherit; color: var(--vscode-dropdown-foreground, inherit); background: var(--vscode-dropdown-background, transparent);
  border: 1px solid var(--vscode-dropdown-border, #8888); border-radius: 2px; padding: 1px 4px;
}
.fernb-em button { color: var(--vscode-button-secondaryForeground, inherit); background: var(--vscode-button-secondaryBackground, transparent); cursor: pointer; }
.fernb-em select:focus-visible, .fernb-em button:focus-visible, .fernb-em canvas:focus-visible { outline: 1px solid var(--vscode-focusBorder, #005fb8); outline-offset: 1px; }
.fernb-em .em-zoom { display: inline-flex; gap: 4px; }
.fernb-em .em-stage { position: relative; width: 100%; user-select: none; }
.fernb-em canvas { display: block; touch-action: none; }
.fernb-em canvas.em-points { cursor: crosshair; border: 1px solid var(--vscode-editorWidget-border, #8884); }
.fernb-em canvas.em-overlay { position: absolute; left: 0; top: 0; pointer-events: none; }
.fernb-em .em-tip {
  position: absolute; pointer-events: none; display: none; gap: 8px; align-items: center; z-index: 2; padding: 4px 6px; max-width: 340px;
  background: var(--vscode-editorHoverWidget-background, #f3f3f3); color: var(--vscode-editorHoverWidget-foreground, inherit);
  border: 1px solid var(--vscode-editorHoverWidget-border, #c8c8c8); border-radius: 3px; font-size: 12px;
}
.fernb-em .em-tip img, .fernb-em .em-tip .em-noface { width: 64px; height: 64px; image-rendering: pixelated; flex: none; }
.fernb-em .em-tip .em-noface { display: flex; align-items: center; justify-content: center; font-size: 11px; opacity: 0.7; border: 1px dashed #8886; text-align: center; }
.fernb-em .em-legend { display: flex; flex-wrap: wrap; gap: 2px 12px; margin: 6px 0 2px; align-items: center; font-size: 12px; }
.fernb-em .em-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; vertical-align: -1px; }
.fernb-em .em-ramp { display: inline-block; width: 140px; height: 10px; vertical-align: -1px; margin: 0 4px; }
.fernb-em .em-ring { display: inline-block; width: 8px; height: 8px; border-radius: 50%; border: 2px solid var(--vscode-charts-red, #e51400); margin-right: 4px; vertical-align: -2px; }
.fernb-em .em-weak { color: var(--vscode-editorWarning-foreground, #bf8803); margin: 4px 0; }
.fernb-em .em-status { min-height: 1.3em; margin: 4px 0; }
.fernb-em .em-status.em-err { color: var(--vscode-errorForeground, #c72e0f); }
.fernb-em .em-review { margin-top: 8px; }
`;

/** Categorical colours per class, from the theme's chart colours (fallbacks outside VS Code). */
const CLASS_COLORS: string[] = [
  "var(--vscode-charts-red, #e51400)",
  "var(--vscode-charts-purple, #652d90)",
  "var(--vscode-charts-orange, #d18616)",
  "var(--vscode-charts-yellow, #bf8803)",
  "var(--vscode-charts-blue, #1a85ff)",
  "var(--vscode-charts-green, #388a34)",
  "var(--vscode-descriptionForeground, #717171)",
];
const SUSPECT_COLOR = "var(--vscode-charts-red, #e51400)";
const SELECTION_COLOR = "var(--vscode-focusBorder, #005fb8)";
const HEIGHT = 440;
const PAD = 12;
const CELL = 8;
const HOVER_RADIUS = 7;
/** How long a hovered face waits for the kernel before the tooltip says it did not answer. */
const THUMB_TIMEOUT_MS = 5000;
/** How long a selection waits for the kernel before the status line says it has not answered. */
const SELECT_TIMEOUT_MS = 30_000;

interface View {
  dispose(): void;
  onReply(reply: Record<string, unknown>, kind: "thumb" | "select"): void;
  /** A review decision's reply (the embedded grid's): follow it on the map. */
  onDecision(reply: Record<string, unknown>): void;
}

const views = new Map<string, View>();
/** requestId → the output it was sent for and what it asked. */
const pending = new Map<string, { outputId: string; kind: "thumb" | "select" }>();
const sessionTag = Math.random().toString(36).slice(2, 8);
let nextRequest = 0;

function render(data: EmbeddingData, element: HTMLElement, outputId: string, ctx: RendererContext<unknown>, review: ReviewHost): View {
  const { payload, xy, suspicion, predicted, suspect } = data;
  const labels = data.labels.slice();
  const excluded = new Uint8Array(payload.n);
  const { n, classes } = payload;
  const canPost = typeof ctx.postMessage === "function";

  // ---- DOM ----
  const colorSelect = h(
    "select",
    { class: "em-color", "aria-label": "Colour by" },
    h("option", { value: "label", selected: true }, "label"),
    h("option", { value: "predicted" }, "prediction"),
    h("option", { value: "suspicion" }, "suspicion"),
  );
  const shapeSelect = h("select", { class: "em-shape", "aria-label": "Selection" }, h("option", { value: "box", selected: true }, "box"), h("option", { value: "lasso" }, "lasso"));
  const suspectsButton = h("button", { class: "em-review-suspects", type: "button", disabled: !canPost || !payload.suspects.length }, `Review suspects (${Math.min(payload.suspects.length, payload.maxSelect)})`);
  const zoomIn = h("button", { class: "em-zoom-in", type: "button", "aria-label": "Zoom in", title: "Zoom in (or Ctrl+wheel; Shift+drag pans)" }, "+");
  const zoomOut = h("button", { class: "em-zoom-out", type: "button", "aria-label": "Zoom out", title: "Zoom out" }, "−");
  const zoomReset = h("button", { class: "em-zoom-reset", type: "button" }, "Whole map");
  const canvas = h("canvas", { class: "em-points", tabindex: 0, role: "img", "aria-label": `Map of ${n} faces; drag to select faces for review` });
  const overlay = h("canvas", { class: "em-overlay", "aria-hidden": "true" });
  const tipImg = h("img", { alt: "" });
  const tipNoFace = h("div", { class: "em-noface" }, canPost ? "loading…" : "face in VS Code");
  const tipText = h("div", { class: "em-tip-text" });
  const tip = h("div", { class: "em-tip", role: "tooltip" }, tipNoFace, tipText);
  const stage = h("div", { class: "em-stage" }, canvas, overlay, tip);
  const legend = h("div", { class: "em-legend" });
  const status = h("div", { class: "em-status", role: "status", "aria-live": "polite" });
  const reviewBox = h("div", { class: "em-review" });
  const root = h(
    "div",
    { class: "fernb-em", "data-map-id": payload.mapId },
    h("style", {}, CSS),
    h(
      "div",
      { class: "em-head" },
      h("span", { class: "em-title" }, `Map: ${payload.dataset}`),
      h("span", { class: "em-stats" }, `${n.toLocaleString("en-US")} faces · ${payload.projection.method.toUpperCase()} · ${payload.suspects.length} suspect(s) ringed`),
    ),
    payload.projection.detail ? h("div", { class: "em-detail" }, payload.projection.detail) : null,
    payload.weakModel ? h("div", { class: "em-weak", role: "note" }, payload.weakModel) : null,
    h("div", { class: "em-tools" }, h("label", {}, "Colour by: ", colorSelect), h("label", {}, "Select: ", shapeSelect), suspectsButton, h("span", { class: "em-zoom" }, zoomIn, zoomOut, zoomReset)),
    stage,
    legend,
    status,
    reviewBox,
  );
  element.replaceChildren(root);

  // ---- geometry and the grid index ----
  let width = 0;
  let dpr = 1;
  /** Zoom (1 = the whole map) and the map point (0..1) at the canvas centre. */
  const view = { zoom: 1, cx: 0.5, cy: 0.5 };
  const px = new Float32Array(n);
  const py = new Float32Array(n);
  let cols = 0;
  let rows = 0;
  let cellStart = new Int32Array(1);
  let cellItems = new Int32Array(n);

  function layoutPoints(): void {
    width = Math.max(240, Math.floor(element.clientWidth || root.clientWidth || 640) - 2);
    dpr = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
    for (const c of [canvas, overlay]) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(HEIGHT * dpr);
      c.style.width = `${width}px`;
      c.style.height = `${HEIGHT}px`;
    }
    placePoints();
  }

  /** Canvas positions under the current zoom and centre, and the grid index of the points on the canvas. */
  function placePoints(): void {
    const w = width - 2 * PAD;
    const hgt = HEIGHT - 2 * PAD;
    for (let i = 0; i < n; i++) {
      px[i] = PAD + ((xy[2 * i] / 65535 - view.cx) * view.zoom + 0.5) * w;
      py[i] = PAD + (0.5 - (xy[2 * i + 1] / 65535 - view.cy) * view.zoom) * hgt;
    }
    // Counting sort of the points on the canvas into CELL×CELL cells.
    cols = Math.ceil(width / CELL) + 1;
    rows = Math.ceil(HEIGHT / CELL) + 1;
    const counts = new Int32Array(cols * rows + 1);
    const cellOf = new Int32Array(n);
    let visible = 0;
    for (let i = 0; i < n; i++) {
      const onCanvas = px[i] >= 0 && px[i] < width && py[i] >= 0 && py[i] < HEIGHT;
      const c = onCanvas ? Math.floor(py[i] / CELL) * cols + Math.floor(px[i] / CELL) : -1;
      cellOf[i] = c;
      if (c >= 0) {
        counts[c + 1]++;
        visible++;
      }
    }
    for (let c = 0; c < cols * rows; c++) counts[c + 1] += counts[c];
    cellStart = counts;
    const fill = counts.slice(0, cols * rows);
    cellItems = new Int32Array(visible);
    for (let i = 0; i < n; i++) if (cellOf[i] >= 0) cellItems[fill[cellOf[i]]++] = i;
    canvas.dataset.visible = String(visible);
    canvas.dataset.zoom = String(Math.round(view.zoom * 1000) / 1000);
  }

  /** Points in the cells overlapping [x0,x1]×[y0,y1] (css px). */
  function forCells(x0: number, y0: number, x1: number, y1: number, visit: (i: number) => void): void {
    const c0 = Math.max(0, Math.floor(x0 / CELL));
    const c1 = Math.min(cols - 1, Math.floor(x1 / CELL));
    const r0 = Math.max(0, Math.floor(y0 / CELL));
    const r1 = Math.min(rows - 1, Math.floor(y1 / CELL));
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cell = r * cols + c;
        for (let k = cellStart[cell]; k < cellStart[cell + 1]; k++) visit(cellItems[k]);
      }
    }
  }

  function nearest(x: number, y: number): number {
    let best = -1;
    let bestD = HOVER_RADIUS * HOVER_RADIUS;
    forCells(x - HOVER_RADIUS, y - HOVER_RADIUS, x + HOVER_RADIUS, y + HOVER_RADIUS, (i) => {
      const d = (px[i] - x) ** 2 + (py[i] - y) ** 2;
      if (d < bestD || (d === bestD && i < best)) {
        bestD = d;
        best = i;
      }
    });
    return best;
  }

  // ---- colours and drawing ----
  let colorBy: ColorBy = "label";
  let shape: SelectShape = "box";
  let classRgb: Rgba[] = [];
  let bg: Rgba = [255, 255, 255, 1];
  let suspectRgb: Rgba = [229, 20, 0, 1];
  let selectionCss = "#005fb8";
  const ramp = colorLut("viridis");
  let selected = new Set<number>();

  function resolveTheme(): void {
    bg = resolveColor(root, "var(--vscode-editor-background, #ffffff)");
    if (bg[3] === 0) bg = [255, 255, 255, 1];
    classRgb = CLASS_COLORS.map((c) => over(resolveColor(root, c), bg));
    suspectRgb = over(resolveColor(root, SUSPECT_COLOR), bg);
    selectionCss = cssRgb(over(resolveColor(root, SELECTION_COLOR), bg));
  }

  function colorOf(i: number): [number, number, number] {
    if (colorBy === "suspicion") {
      const v = suspicion[i];
      return [ramp[3 * v], ramp[3 * v + 1], ramp[3 * v + 2]];
    }
    const c = classRgb[(colorBy === "label" ? labels[i] : predicted[i]) % classRgb.length];
    return [c[0], c[1], c[2]];
  }

  /** Draws every point in one pass into one ImageData, then the suspects' rings and the selection. */
  function draw(): void {
    const W = canvas.width;
    const H = canvas.height;
    const g = canvas.getContext("2d")!;
    const image = g.createImageData(W, H);
    const pix = new Uint32Array(image.data.buffer);
    // Larger dots when there are few of them: 7 px across up to 1,000 points, 5 up to 10,000, else 3.
    const r = Math.max(1, Math.round(dotRadius() * dpr));
    // Suspicion order: the most suspicious drawn last (on top); else dataset order.
    const order = colorBy === "suspicion" ? suspicionOrder() : null;
    const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    const pack = (c: [number, number, number], a: number) => (le ? ((a << 24) | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0 : ((c[0] << 24) | (c[1] << 16) | (c[2] << 8) | a) >>> 0);
    let drawn = 0;
    for (let k = 0; k < n; k++) {
      const i = order ? order[k] : k;
      const cx = Math.round(px[i] * dpr);
      const cy = Math.round(py[i] * dpr);
      if (cx < -r || cy < -r || cx > W + r || cy > H + r) continue;
      const value = pack(colorOf(i), excluded[i] ? 70 : 255);
      for (let y = Math.max(0, cy - r); y <= Math.min(H - 1, cy + r); y++) {
        const row = y * W;
        for (let x = Math.max(0, cx - r); x <= Math.min(W - 1, cx + r); x++) pix[row + x] = value;
      }
      drawn++;
    }
    g.putImageData(image, 0, 0);
    g.save();
    g.scale(dpr, dpr);
    g.lineWidth = 1.5;
    g.strokeStyle = cssRgb(suspectRgb);
    g.beginPath();
    const sr = dotRadius() + 1.5;
    for (const i of payload.suspects) {
      g.moveTo(px[i] + sr, py[i]);
      g.arc(px[i], py[i], sr, 0, 2 * Math.PI);
    }
    g.stroke();
    if (selected.size) {
      // A thin ring around each selected point, leaving its colour visible.
      const rr = dotRadius() + 2.5;
      g.strokeStyle = selectionCss;
      g.lineWidth = 1;
      g.beginPath();
      for (const i of selected) {
        g.moveTo(px[i] + rr, py[i]);
        g.arc(px[i], py[i], rr, 0, 2 * Math.PI);
      }
      g.stroke();
    }
    g.restore();
    canvas.dataset.drawn = String(drawn);
    canvas.dataset.colorBy = colorBy;
  }

  function dotRadius(): number {
    return n <= 1000 ? 3 : n <= 10_000 ? 2 : 1;
  }

  let sOrder: Int32Array | null = null;
  function suspicionOrder(): Int32Array {
    if (!sOrder) {
      const idx = Array.from({ length: n }, (_, i) => i);
      idx.sort((a, b) => suspicion[a] - suspicion[b] || a - b);
      sOrder = Int32Array.from(idx);
    }
    return sOrder;
  }

  function drawLegend(): void {
    const items: (Node | string)[] = [];
    if (colorBy === "suspicion") {
      const rampCanvas = h("canvas", { class: "em-ramp", width: 140, height: 10 });
      const g = rampCanvas.getContext("2d");
      if (g) {
        for (let x = 0; x < 140; x++) {
          const v = Math.round((x / 139) * 255);
          g.fillStyle = `rgb(${ramp[3 * v]}, ${ramp[3 * v + 1]}, ${ramp[3 * v + 2]})`;
          g.fillRect(x, 0, 1, 10);
        }
      }
      items.push(h("span", { class: "em-legend-item" }, "0%", rampCanvas, "100%"), h("span", { class: "em-legend-meaning" }, `suspicion: ${payload.suspicionMeaning}`));
    } else {
      classes.forEach((c, k) => {
        const count = (colorBy === "label" ? labels : predicted).reduce((s, v) => s + (v === k ? 1 : 0), 0);
        items.push(h("span", { class: "em-legend-item", "data-class": c }, h("span", { class: "em-swatch", style: `background: ${cssRgb(classRgb[k % classRgb.length])}` }), `${c} (${count})`));
      });
    }
    items.push(h("span", { class: "em-legend-item" }, h("span", { class: "em-ring" }), "suspect"));
    legend.replaceChildren(...items);
  }

  function redraw(): void {
    resolveTheme();
    draw();
    drawLegend();
  }

  // ---- hover ----
  const thumbs = new Map<number, { path: string; thumb: string }>();
  const asked = new Set<number>();
  let hovered = -1;

  function describe(i: number): string {
    const parts = [`label ${classes[labels[i]]}`, `predicted ${classes[predicted[i]]}`, `suspicion ${percent(suspicion[i] / 255)}`];
    if (suspect[i]) parts.push("suspect");
    if (excluded[i]) parts.push("excluded");
    const known = thumbs.get(i);
    return `${known ? `${basename(known.path)}: ` : `#${i}: `}${parts.join(" · ")}`;
  }

  function showTip(i: number, x: number, y: number): void {
    hovered = i;
    if (i < 0) {
      tip.style.display = "none";
      delete canvas.dataset.hover;
      return;
    }
    canvas.dataset.hover = String(i);
    tipText.textContent = describe(i);
    const known = thumbs.get(i);
    if (known) {
      tipImg.src = known.thumb;
      tipImg.alt = `face ${basename(known.path)}`;
      if (tip.firstChild !== tipImg) tip.replaceChild(tipImg, tip.firstChild!);
    } else {
      if (tip.firstChild !== tipNoFace) tip.replaceChild(tipNoFace, tip.firstChild!);
      tipNoFace.textContent = canPost ? "loading…" : "face in VS Code";
      if (canPost && !asked.has(i)) {
        asked.add(i);
        post({ action: "thumb", ids: [i] }, "thumb");
        // No answer (no kernel behind this page, or a busy one): say so instead of "loading…" forever.
        setTimeout(() => {
          if (!thumbs.has(i) && hovered === i) tipNoFace.textContent = "no face: the kernel did not answer";
          if (!thumbs.has(i)) asked.delete(i);
        }, THUMB_TIMEOUT_MS);
      }
    }
    tip.style.display = "flex";
    const left = Math.min(x + 14, Math.max(0, width - 300));
    tip.style.left = `${left}px`;
    tip.style.top = `${y + 14 > HEIGHT - 80 ? Math.max(0, y - 84) : y + 14}px`;
  }

  // ---- selection ----
  let drag: { points: [number, number][]; x0: number; y0: number } | null = null;
  const og = () => overlay.getContext("2d")!;

  function drawDrag(): void {
    const g = og();
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, HEIGHT);
    if (!drag) return;
    g.strokeStyle = selectionCss;
    g.fillStyle = selectionCss;
    g.lineWidth = 1;
    g.setLineDash([4, 3]);
    g.beginPath();
    if (shape === "box") {
      const [x1, y1] = drag.points[drag.points.length - 1];
      g.rect(Math.min(drag.x0, x1), Math.min(drag.y0, y1), Math.abs(x1 - drag.x0), Math.abs(y1 - drag.y0));
    } else {
      drag.points.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y)));
      g.closePath();
    }
    g.globalAlpha = 0.1;
    g.fill();
    g.globalAlpha = 1;
    g.stroke();
  }

  /** The points inside the finished box or lasso. */
  function pointsInside(): number[] {
    if (!drag) return [];
    const pts = drag.points;
    let x0 = drag.x0, x1 = drag.x0, y0 = drag.y0, y1 = drag.y0;
    for (const [x, y] of pts) {
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
    if (shape === "box") {
      const [ex, ey] = pts[pts.length - 1];
      x0 = Math.min(drag.x0, ex);
      x1 = Math.max(drag.x0, ex);
      y0 = Math.min(drag.y0, ey);
      y1 = Math.max(drag.y0, ey);
    }
    const out: number[] = [];
    forCells(x0, y0, x1, y1, (i) => {
      const x = px[i], y = py[i];
      if (x < x0 || x > x1 || y < y0 || y > y1) return;
      if (shape === "lasso" && !insidePolygon(x, y, pts)) return;
      out.push(i);
    });
    return out.sort((a, b) => a - b);
  }

  function openReview(ids: number[], what: string): void {
    if (!ids.length) {
      status.textContent = "No faces in the selection.";
      status.className = "em-status";
      return;
    }
    selected = new Set(ids);
    draw();
    if (!canPost) {
      status.textContent = `${ids.length} face(s) selected. Open the notebook in VS Code with its kernel running to review them.`;
      return;
    }
    // The most suspicious first, at most maxSelect.
    const chosen = ids.slice().sort((a, b) => suspicion[b] - suspicion[a] || suspect[b] - suspect[a] || a - b).slice(0, payload.maxSelect);
    status.className = "em-status";
    status.textContent = `${what}: opening ${chosen.length} face(s) in the review grid${chosen.length < ids.length ? ` (the ${chosen.length} most suspicious of ${ids.length})` : ""}…`;
    const requestId = post({ action: "select", ids: chosen }, "select");
    // No answer (no kernel behind this page, or one busy with a long cell): say so, keep waiting.
    setTimeout(() => {
      if (requestId !== undefined && pending.has(requestId)) {
        status.textContent = `The kernel has not answered yet (a cell may still be running); the ${chosen.length} face(s) open here when it does.`;
      }
    }, SELECT_TIMEOUT_MS);
  }

  function post(message: Record<string, unknown>, kind: "thumb" | "select"): string | undefined {
    const requestId = `em-${sessionTag}-${++nextRequest}`;
    pending.set(requestId, { outputId, kind });
    try {
      ctx.postMessage!({ ...message, mapId: payload.mapId, requestId });
      return requestId;
    } catch (e) {
      pending.delete(requestId);
      status.textContent = `not sent: ${(e as Error).message}`;
      status.className = "em-status em-err";
      return undefined;
    }
  }

  /** Each review item's point id (from the last select reply), to follow decisions on the map. */
  let idsByPath = new Map<string, number>();
  let reviewId: string | undefined;
  let reviewShown = false;

  function onReply(reply: Record<string, unknown>, kind: "thumb" | "select"): void {
    if (reply.ok !== true) {
      const error = typeof reply.error === "string" ? reply.error : "the kernel refused the request";
      if (kind === "select") {
        status.textContent = `error: ${error}`;
        status.className = "em-status em-err";
      } else if (hovered >= 0) tipNoFace.textContent = "no face";
      return;
    }
    if (kind === "thumb") {
      for (const t of Array.isArray(reply.thumbs) ? reply.thumbs : []) {
        const o = t as Record<string, unknown>;
        if (typeof o.id === "number" && Number.isInteger(o.id) && o.id >= 0 && o.id < n && typeof o.thumb === "string" && isImageDataUrl(o.thumb) && typeof o.path === "string") {
          thumbs.set(o.id, { path: o.path, thumb: o.thumb });
        }
      }
      if (hovered >= 0 && thumbs.has(hovered)) showTip(hovered, parseFloat(tip.style.left) - 14, parseFloat(tip.style.top) - 14);
      return;
    }
    try {
      const grid = validateReview(reply.review);
      const ids = new Map<string, number>();
      const raw = typeof reply.ids === "object" && reply.ids !== null ? (reply.ids as Record<string, unknown>) : {};
      for (const it of grid.items) {
        const id = raw[it.path];
        if (typeof id === "number" && Number.isInteger(id) && id >= 0 && id < n) ids.set(it.path, id);
      }
      idsByPath = ids;
      reviewId = grid.reviewId;
      review.show(`${outputId}-review`, grid, reviewBox);
      reviewShown = true;
      status.className = "em-status";
      status.textContent = `${grid.items.length} face(s) in the review grid below: relabel (1–7), exclude (x), restore (r), undo (u).`;
    } catch (e) {
      status.textContent = `error: the kernel's review grid is malformed (${(e as Error).message})`;
      status.className = "em-status em-err";
    }
  }

  function onDecision(reply: Record<string, unknown>): void {
    if (reply.ok !== true || typeof reply.path !== "string" || reply.reviewId !== reviewId) return;
    const id = idsByPath.get(reply.path);
    const st = reply.state as Record<string, unknown> | undefined;
    if (id === undefined || typeof st !== "object" || st === null) return;
    const k = typeof st.label === "string" ? classes.indexOf(st.label) : -1;
    if (k >= 0) labels[id] = k;
    excluded[id] = st.excluded === true ? 1 : 0;
    draw();
    drawLegend();
  }

  // ---- events ----
  const local = (ev: PointerEvent | MouseEvent): [number, number] => {
    const rect = canvas.getBoundingClientRect();
    return [ev.clientX - rect.left, ev.clientY - rect.top];
  };
  /** Zooms by `factor`, keeping the map point under canvas position (x, y) where it is. */
  function zoomAt(factor: number, x = width / 2, y = HEIGHT / 2): void {
    const w = width - 2 * PAD;
    const hgt = HEIGHT - 2 * PAD;
    const u = (x - PAD) / w - 0.5;
    const v = 0.5 - (y - PAD) / hgt;
    const zoom = Math.max(1, Math.min(64, view.zoom * factor));
    // The map point under (x, y) before: cx + u / zoom; keep it under (x, y) after.
    view.cx += u / view.zoom - u / zoom;
    view.cy += v / view.zoom - v / zoom;
    view.zoom = zoom;
    if (zoom === 1) (view.cx = 0.5), (view.cy = 0.5);
    placePoints();
    draw();
  }
  let pan: { x: number; y: number; cx: number; cy: number } | null = null;
  canvas.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    const [x, y] = local(ev);
    if (ev.shiftKey) {
      pan = { x, y, cx: view.cx, cy: view.cy };
      canvas.setPointerCapture?.(ev.pointerId);
      showTip(-1, 0, 0);
      return;
    }
    drag = { points: [[x, y]], x0: x, y0: y };
    canvas.setPointerCapture?.(ev.pointerId);
    showTip(-1, 0, 0);
  });
  canvas.addEventListener("pointermove", (ev) => {
    const [x, y] = local(ev);
    if (pan) {
      view.cx = pan.cx - (x - pan.x) / ((width - 2 * PAD) * view.zoom);
      view.cy = pan.cy + (y - pan.y) / ((HEIGHT - 2 * PAD) * view.zoom);
      placePoints();
      draw();
      return;
    }
    if (drag) {
      drag.points.push([x, y]);
      drawDrag();
      return;
    }
    const i = nearest(x, y);
    if (i !== hovered) showTip(i, x, y);
  });
  canvas.addEventListener("pointerleave", () => {
    if (!drag) showTip(-1, 0, 0);
  });
  canvas.addEventListener("pointerup", (ev) => {
    if (pan) {
      pan = null;
      return;
    }
    if (!drag) return;
    const [x, y] = local(ev);
    drag.points.push([x, y]);
    const d0 = drag;
    const tiny = d0.points.every(([qx, qy]) => Math.abs(qx - d0.x0) < 3 && Math.abs(qy - d0.y0) < 3);
    const ids = tiny ? [] : pointsInside();
    drag = null;
    drawDrag();
    if (tiny) {
      const i = nearest(x, y);
      if (i >= 0) openReview([i], "1 face");
      return;
    }
    openReview(ids, `${ids.length} face(s) selected`);
  });
  canvas.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && selected.size) {
      selected.clear();
      draw();
      ev.preventDefault();
    }
  });
  canvas.addEventListener(
    "wheel",
    (ev) => {
      if (!ev.ctrlKey && !ev.metaKey) return; // a plain wheel scrolls the notebook
      ev.preventDefault();
      const [x, y] = local(ev);
      zoomAt(Math.pow(1.2, -ev.deltaY / 100), x, y);
    },
    { passive: false },
  );
  zoomIn.addEventListener("click", () => zoomAt(2));
  zoomOut.addEventListener("click", () => zoomAt(0.5));
  zoomReset.addEventListener("click", () => zoomAt(0));
  colorSelect.addEventListener("change", () => {
    colorBy = colorSelect.value as ColorBy;
    draw();
    drawLegend();
  });
  shapeSelect.addEventListener("change", () => {
    shape = shapeSelect.value as SelectShape;
  });
  suspectsButton.addEventListener("click", () => openReview(payload.suspects.slice(0, payload.maxSelect), "suspects"));

  layoutPoints();
  redraw();
  const offTheme = onThemeChange(redraw);
  let lastWidth = width;
  const resize = typeof ResizeObserver === "function"
    ? new ResizeObserver(() => {
        const w = Math.max(240, Math.floor(element.clientWidth || 640) - 2);
        if (w === lastWidth) return;
        lastWidth = w;
        layoutPoints();
        draw();
      })
    : undefined;
  resize?.observe(element);

  return {
    onReply,
    onDecision,
    dispose: () => {
      offTheme();
      resize?.disconnect();
      if (reviewShown) review.dispose(`${outputId}-review`);
    },
  };
}

/** Even-odd point-in-polygon test. */
export function insidePolygon(x: number, y: number, poly: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * The review renderer's module, run inside this renderer: its context posts on this renderer's
 * channel, and the replies this renderer receives that are not its own are handed to it.
 */
interface ReviewHost {
  show(id: string, payload: ReturnType<typeof validateReview>, element: HTMLElement): void;
  dispose(id: string): void;
  deliver(message: unknown): void;
}

function reviewHost(ctx: RendererContext<unknown>): ReviewHost {
  const listeners: ((m: unknown) => void)[] = [];
  const inner = Object.create(ctx) as RendererContext<unknown> & Record<string, unknown>;
  Object.defineProperty(inner, "postMessage", { value: typeof ctx.postMessage === "function" ? (m: unknown) => ctx.postMessage!(m) : undefined });
  Object.defineProperty(inner, "onDidReceiveMessage", {
    value: (l: (m: unknown) => void) => {
      listeners.push(l);
      return { dispose: () => listeners.splice(listeners.indexOf(l) >>> 0, 1) };
    },
  });
  const api = activateReview(inner) as { renderOutputItem(item: OutputItem, element: HTMLElement, signal: AbortSignal): void | Promise<void>; disposeOutputItem?(id?: string): void };
  return {
    show(id, payload, element) {
      const text = JSON.stringify(payload);
      const item = {
        id,
        mime: MIME.review,
        metadata: {},
        text: () => text,
        json: () => JSON.parse(text),
        data: () => new TextEncoder().encode(text),
        blob: () => new Blob([text], { type: MIME.review }),
      } as unknown as OutputItem;
      void api.renderOutputItem(item, element, new AbortController().signal);
    },
    dispose(id) {
      api.disposeOutputItem?.(id);
    },
    deliver(message) {
      for (const l of listeners.slice()) l(message);
    },
  };
}

export const activate: ActivationFunction = (ctx) => {
  const review = reviewHost(ctx);
  ctx.onDidReceiveMessage?.((raw: unknown) => {
    if (typeof raw !== "object" || raw === null) return;
    const reply = raw as Record<string, unknown>;
    const requestId = typeof reply.requestId === "string" ? reply.requestId : undefined;
    const mine = requestId !== undefined ? pending.get(requestId) : undefined;
    if (mine) {
      pending.delete(requestId!);
      views.get(mine.outputId)?.onReply(reply, mine.kind);
      return;
    }
    if (requestId?.startsWith("em-")) return; // another webview's hover or selection
    // The embedded review grids' replies (decisions, Grad-CAM): to the review module, and to the maps.
    review.deliver(reply);
    for (const view of views.values()) view.onDecision(reply);
  });
  return {
    renderOutputItem(item, element) {
      const previous = views.get(item.id);
      previous?.dispose();
      views.delete(item.id);
      try {
        const data = validateEmbedding(readJson(item));
        views.set(item.id, render(data, element, item.id, ctx, review));
      } catch (e) {
        showError(element, "embedding map", e);
      }
    },
    disposeOutputItem(id) {
      disposeViews(views, id);
    },
  };
};
