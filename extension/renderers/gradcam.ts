/**
 * Notebook renderer for `application/vnd.fernb.gradcam+json`: per face, the face itself and one
 * Grad-CAM (or Grad-CAM++) heat map per class (predicted class first, then the true class), each
 * upsampled bilinearly to the face size, coloured with a colour map and alpha-blended over the face
 * on a canvas. One opacity slider and one colour-map select drive the whole output.
 */
import type { ActivationFunction } from "vscode-notebook-renderer";
import type { GradcamCam, GradcamItem, GradcamPayload } from "../../protocol";
import {
  BASE_CSS,
  COLOR_MAPS,
  PayloadError,
  blendHeat,
  clamp01,
  colorLut,
  upsample,
  type ColorMap,
  basename,
  decodeBase64,
  expectArray,
  expectClasses,
  expectInt,
  expectNumber,
  expectObject,
  expectString,
  h,
  isImageDataUrl,
  optionalNumber,
  optionalString,
  percent,
  probability,
  readJson,
  showError,
  uniqueId,
} from "./_shared";

// GradcamPayload is declared in protocol/payloads.ts, which the kernel's producer
// (kernel/fer/cam/index.ts CamReport.payload) uses too.

type ValidCam = GradcamCam & { values: Uint8Array };
type ValidItem = Omit<GradcamItem, "cams"> & { cams: ValidCam[] };
type ValidPayload = Omit<GradcamPayload, "items"> & { items: ValidItem[] };

/** Checks the payload's shape and decodes the CAMs; throws a PayloadError naming the first problem. */
export function validateGradcam(raw: unknown): ValidPayload {
  const p = expectObject(raw, "the payload");
  const classes = expectClasses(p.classes);
  const k = classes.length;
  const items = expectArray(p.items, "items").map((rawItem, n): ValidItem => {
    const w = `items[${n}]`;
    const it = expectObject(rawItem, w);
    const image = expectString(it.image, `${w}.image`);
    if (!isImageDataUrl(image)) throw new PayloadError(`${w}.image must be a data:image/...;base64 URL`);
    const probs = expectArray(it.probs, `${w}.probs`).map((v, i) => probability(v, `${w}.probs[${i}]`));
    if (probs.length !== k) throw new PayloadError(`${w}.probs has ${probs.length} values but there are ${k} classes`);
    const cams = expectArray(it.cams, `${w}.cams`).map((rawCam, c): ValidCam => {
      const wc = `${w}.cams[${c}]`;
      const cam = expectObject(rawCam, wc);
      const width = expectInt(cam.width, `${wc}.width`, 1, 4096);
      const height = expectInt(cam.height, `${wc}.height`, 1, 4096);
      const data = expectString(cam.data, `${wc}.data`);
      const values = decodeBase64(data, `${wc}.data`);
      if (values.length !== width * height) throw new PayloadError(`${wc}.data holds ${values.length} bytes but width×height is ${width}×${height} = ${width * height}`);
      let faithfulness: GradcamCam["faithfulness"];
      if (cam.faithfulness !== undefined && cam.faithfulness !== null) {
        const f = expectObject(cam.faithfulness, `${wc}.faithfulness`);
        faithfulness = {
          camDrop: expectNumber(f.camDrop, `${wc}.faithfulness.camDrop`),
          randomDrop: expectNumber(f.randomDrop, `${wc}.faithfulness.randomDrop`),
          shiftedDrop: optionalNumber(f.shiftedDrop, `${wc}.faithfulness.shiftedDrop`),
          fraction: optionalNumber(f.fraction, `${wc}.faithfulness.fraction`, 0, 1),
        };
      }
      return { class: expectInt(cam.class, `${wc}.class`, 0, k - 1), width, height, data, values, faithfulness };
    });
    return {
      path: expectString(it.path, `${w}.path`),
      label: expectInt(it.label, `${w}.label`, 0, k - 1),
      predicted: expectInt(it.predicted, `${w}.predicted`, 0, k - 1),
      probs,
      image,
      cams,
    };
  });
  return {
    title: optionalString(p.title, "title"),
    method: expectString(p.method, "method"),
    layer: expectString(p.layer, "layer"),
    grid: optionalGrid(p.grid),
    classes,
    items,
  };
}

/** The layer's grid [rows, columns], when the payload gives one. */
function optionalGrid(raw: unknown): [number, number] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const g = expectArray(raw, "grid");
  if (g.length !== 2) throw new PayloadError(`grid must be [rows, columns], not ${g.length} numbers`);
  return [expectInt(g[0], "grid[0]", 1, 4096), expectInt(g[1], "grid[1]", 1, 4096)];
}

// The colour maps, the bilinear upsampling and the blend live in _shared.ts (the review grid's
// Grad-CAM overlay draws with the same code); re-exported here for existing importers.
export { COLOR_MAPS, colorLut, upsample, type ColorMap } from "./_shared";

// ---- rendering -------------------------------------------------------------------------------

const FACE_PX = 144;

const CSS = `
.fernb-gc { ${BASE_CSS} }
.fernb-gc .gc-head { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 16px; margin: 2px 0 10px; }
.fernb-gc .gc-title { font-weight: 600; }
.fernb-gc .gc-meta { opacity: 0.85; }
.fernb-gc code { font-family: var(--vscode-editor-font-family, monospace); font-size: 0.95em; }
.fernb-gc .gc-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; }
.fernb-gc .gc-controls label { display: inline-flex; align-items: center; gap: 6px; }
.fernb-gc input[type="range"] { width: 120px; accent-color: var(--vscode-button-background, #0e639c); }
.fernb-gc select { font: inherit; padding: 1px 4px; border-radius: 2px;
  color: var(--vscode-dropdown-foreground, var(--vscode-editor-foreground, #333));
  background: var(--vscode-dropdown-background, var(--vscode-editor-background, #fff));
  border: 1px solid var(--vscode-dropdown-border, var(--vscode-contrastBorder, #8888)); }
.fernb-gc input:focus-visible, .fernb-gc select:focus-visible { outline: 2px solid var(--vscode-focusBorder, #0078d4); outline-offset: 1px; }
.fernb-gc output { font-variant-numeric: tabular-nums; min-width: 3ch; }
.fernb-gc .gc-bar { display: inline-flex; align-items: center; gap: 4px; font-size: 0.9em; opacity: 0.9; }
.fernb-gc .gc-bar canvas { width: 96px; height: 10px; border-radius: 2px; }
.fernb-gc .gc-item { padding: 8px 0; border-top: 1px solid var(--vscode-editorWidget-border, var(--vscode-contrastBorder, #8884)); }
.fernb-gc .gc-item-head { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-bottom: 6px; }
.fernb-gc .gc-path { font-family: var(--vscode-editor-font-family, monospace); opacity: 0.85; }
.fernb-gc .gc-ok { color: var(--vscode-charts-green, #388a34); }
.fernb-gc .gc-bad { color: var(--vscode-errorForeground, #c72e0f); }
.fernb-gc .gc-row { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.fernb-gc figure { margin: 0; width: ${FACE_PX + 24}px; }
.fernb-gc canvas.gc-canvas { display: block; image-rendering: pixelated; border-radius: 2px;
  outline: 1px solid var(--vscode-contrastBorder, transparent); }
.fernb-gc figcaption { margin-top: 4px; line-height: 1.3; font-size: 0.95em; }
.fernb-gc .gc-cap { font-weight: 600; }
.fernb-gc .gc-faith { display: block; opacity: 0.85; font-size: 0.92em; margin-top: 2px; }
.fernb-gc .gc-weak { display: block; font-size: 0.92em; margin-top: 2px; font-weight: 600;
  color: var(--vscode-editorWarning-foreground, #a65e00); }
.fernb-gc ol.gc-top { margin: 2px 0 0; padding-left: 1.6em; font-variant-numeric: tabular-nums; }
.fernb-gc .gc-msg { color: var(--vscode-errorForeground, #c72e0f); }
`;

interface CamView {
  ctx: CanvasRenderingContext2D;
  face: ImageData;
  heat: Uint8Array;
}

interface Settings {
  opacity: number;
  colorMap: ColorMap;
}

const settingsById = new Map<string, Settings>();

function blend(view: CamView, lut: Uint8ClampedArray, alpha: number): void {
  blendHeat(view.ctx, view.face, view.heat, lut, alpha);
}

function camCaption(payload: ValidPayload, item: ValidItem, cam: ValidCam): string {
  const name = `${payload.classes[cam.class]} ${percent(item.probs[cam.class])}`;
  if (cam.class === item.predicted && cam.class === item.label) return `predicted = true: ${name}`;
  if (cam.class === item.predicted) return `predicted: ${name}`;
  if (cam.class === item.label) return `true: ${name}`;
  return `class: ${name}`;
}

/** A change of probability (0..1) in words: "lowers it by 41 points" / "raises it by 3 points". */
function drop(d: number): string {
  const pts = Math.round(Math.abs(d) * 100);
  if (pts === 0) return "leaves it unchanged";
  return `${d > 0 ? "lowers" : "raises"} it by ${pts} point${pts === 1 ? "" : "s"}`;
}

/**
 * What the faithfulness test measured, in plain words: hiding the part of the face the map marks
 * changes the model's confidence in the class by so much; hiding the same area elsewhere, or as many
 * random pixels, by so much.
 */
export function faithText(f: NonNullable<GradcamCam["faithfulness"]>, className: string): string {
  const pct = `${Math.round((f.fraction ?? 0.2) * 100)}%`;
  const others = [
    f.shiftedDrop !== undefined ? `the same area moved elsewhere ${drop(f.shiftedDrop)}` : undefined,
    `${pct} random pixels ${drop(f.randomDrop)}`,
  ].filter(Boolean);
  return `Hiding the ${pct} of the face this map marks ${drop(f.camDrop).replace("it", `the model's confidence in ${className}`)}; ${others.join("; ")}.`;
}

/** A map that explains less than random pixels (or nothing at all), said so beside it; else null. */
export function faithWarning(f: GradcamCam["faithfulness"], values: Uint8Array): string | null {
  if (values.every((v) => v === 0)) return "Empty map: nothing at this layer raised the class's score.";
  if (f && f.camDrop <= f.randomDrop) return "Explains less than random pixels: hiding random pixels changed the confidence as much or more.";
  return null;
}

async function loadImage(src: string): Promise<HTMLImageElement> {
  const img = new Image();
  img.src = src;
  await img.decode();
  return img;
}

function canvas(width: number, height: number, label: string): HTMLCanvasElement {
  const c = h("canvas", { class: "gc-canvas", width, height, role: "img", "aria-label": label });
  c.style.width = `${width}px`;
  c.style.height = `${height}px`;
  return c;
}

async function renderItem(payload: ValidPayload, item: ValidItem, index: number, views: CamView[], signal?: AbortSignal): Promise<HTMLElement> {
  const { classes } = payload;
  const correct = item.label === item.predicted;
  const section = h("section", { class: "gc-item", "aria-label": `face ${index + 1}: ${basename(item.path)}` },
    h("div", { class: "gc-item-head" },
      h("span", { class: "gc-path", title: item.path }, `#${index + 1} ${basename(item.path)}`),
      h("span", {}, `true: ${classes[item.label]} · predicted: ${classes[item.predicted]} `,
        h("span", { class: correct ? "gc-ok" : "gc-bad" }, correct ? "✓ correct" : "✗ wrong"))));
  const row = h("div", { class: "gc-row" });
  section.append(row);

  const top = item.probs.map((p, c) => [p, c] as const).sort((a, b) => b[0] - a[0]).slice(0, 3);
  const topList = h("ol", { class: "gc-top", "aria-label": "top-3 probabilities" }, ...top.map(([p, c]) => h("li", {}, `${classes[c]} ${percent(p)}`)));

  let img: HTMLImageElement;
  try {
    img = await loadImage(item.image);
  } catch {
    row.append(h("div", { class: "gc-msg" }, `could not decode the face image of ${item.path}`), topList);
    return section;
  }
  if (signal?.aborted) return section;
  const iw = img.naturalWidth || FACE_PX, ih = img.naturalHeight || FACE_PX;
  const scale = FACE_PX / Math.max(iw, ih);
  const W = Math.max(1, Math.round(iw * scale)), H = Math.max(1, Math.round(ih * scale));

  const faceCanvas = canvas(W, H, `face ${item.path}`);
  const fctx = faceCanvas.getContext("2d", { willReadFrequently: true })!;
  // Upscaled faces stay crisp (pixelated); larger images are downscaled smoothly.
  fctx.imageSmoothingEnabled = scale < 1;
  fctx.drawImage(img, 0, 0, W, H);
  const face = fctx.getImageData(0, 0, W, H);
  row.append(h("figure", { class: "gc-face" }, faceCanvas, h("figcaption", {}, h("span", { class: "gc-cap" }, "face"), topList)));

  // Predicted class first, then the true class, then any others in payload order.
  const rank = (c: ValidCam) => (c.class === item.predicted ? 0 : c.class === item.label ? 1 : 2);
  const cams = [...item.cams].sort((a, b) => rank(a) - rank(b));
  for (const cam of cams) {
    const caption = camCaption(payload, item, cam);
    const warning = faithWarning(cam.faithfulness, cam.values);
    const c = canvas(W, H, `${payload.method} heat map for ${classes[cam.class]} over the face (${caption})`);
    const ctx = c.getContext("2d", { willReadFrequently: true })!;
    views.push({ ctx, face, heat: upsample(cam.values, cam.width, cam.height, W, H) });
    row.append(h("figure", { class: "gc-cam", "data-class": cam.class }, c,
      h("figcaption", {}, h("span", { class: "gc-cap" }, caption),
        cam.faithfulness ? h("span", { class: "gc-faith" }, faithText(cam.faithfulness, classes[cam.class])) : null,
        warning ? h("span", { class: "gc-weak", role: "note" }, `⚠ ${warning}`) : null)));
  }
  if (!cams.length) row.append(h("div", { class: "gc-msg" }, "no CAMs were sent for this face"));
  return section;
}

async function render(payload: ValidPayload, element: HTMLElement, settings: Settings, signal?: AbortSignal): Promise<void> {
  const sliderId = uniqueId("fernb-gc-opacity");
  const selectId = uniqueId("fernb-gc-cmap");
  const slider = h("input", { id: sliderId, type: "range", min: 0, max: 1, step: 0.05, value: settings.opacity, class: "gc-opacity" });
  const shown = h("output", { for: sliderId }, percent(settings.opacity));
  const select = h("select", { id: selectId, class: "gc-cmap" }, ...COLOR_MAPS.map((m) => h("option", { value: m, selected: m === settings.colorMap }, m)));
  const bar = h("canvas", { width: 128, height: 1, "aria-hidden": "true" });
  const title = payload.title ?? payload.method;
  const grid = payload.grid ? ` (${payload.grid[0]}×${payload.grid[1]} grid)` : "";
  const faces = `${payload.items.length} face${payload.items.length === 1 ? "" : "s"}`;
  const root = h("div", { class: "fernb-gc" },
    h("style", {}, CSS),
    h("div", { class: "gc-head" },
      h("span", { class: "gc-title" }, title),
      // The layer is named once: here, unless the title already names it.
      title.includes(payload.layer)
        ? h("span", { class: "gc-meta" }, `${payload.method}${grid} · ${faces}`)
        : h("span", { class: "gc-meta" }, `${payload.method} at layer `, h("code", {}, payload.layer), `${grid} · ${faces}`),
      h("div", { class: "gc-controls" },
        h("label", { for: sliderId }, "Heat-map opacity"), slider, shown,
        h("label", { for: selectId }, "Colour map"), select,
        h("span", { class: "gc-bar" }, "low", bar, "high"))));
  element.replaceChildren(root);

  const views: CamView[] = [];
  let frame = 0;
  const draw = () => {
    frame = 0;
    const lut = colorLut(settings.colorMap);
    for (const v of views) blend(v, lut, settings.opacity);
    const bctx = bar.getContext("2d")!;
    const strip = bctx.createImageData(128, 1);
    for (let x = 0; x < 128; x++) {
      const c = Math.round((x / 127) * 255) * 3;
      strip.data.set([lut[c], lut[c + 1], lut[c + 2], 255], x * 4);
    }
    bctx.putImageData(strip, 0, 0);
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };
  slider.addEventListener("input", () => {
    settings.opacity = clamp01(Number(slider.value));
    slider.setAttribute("aria-valuetext", percent(settings.opacity));
    shown.textContent = percent(settings.opacity);
    schedule();
  });
  select.addEventListener("change", () => {
    settings.colorMap = select.value as ColorMap;
    schedule();
  });

  if (!payload.items.length) root.append(h("p", {}, "No faces in this output."));
  const sections = await Promise.all(payload.items.map((item, i) => renderItem(payload, item, i, views, signal)));
  if (signal?.aborted) return;
  root.append(...sections);
  draw();
  root.dataset.ready = "true";
}

export const activate: ActivationFunction = () => ({
  async renderOutputItem(item, element, signal) {
    try {
      const payload = validateGradcam(readJson(item));
      let settings = settingsById.get(item.id);
      if (!settings) settingsById.set(item.id, (settings = { opacity: 0.5, colorMap: "turbo" }));
      await render(payload, element, settings, signal);
    } catch (e) {
      showError(element, "Grad-CAM", e);
    }
  },
  disposeOutputItem(id) {
    if (id === undefined) settingsById.clear();
    else settingsById.delete(id);
  },
});
