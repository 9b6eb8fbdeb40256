/**
 * Notebook renderer for `application/vnd.fernb.review+json` (kernel/fer/curation/review.ts): a grid
 * of face thumbnails to curate a dataset. Filter by label, suspected issue or predicted class, sort
 * by suspicion score; per image relabel (one of the classes), exclude, restore; multi-select
 * (click, Shift+click, Ctrl/Cmd+click) for batch actions; the model's top predictions per image;
 * when the review was given a model (payload `cam`), the Grad-CAM of an image on demand.
 *
 * Each action is posted to the kernel (ctx.postMessage → extension/rendererBridge.ts → kernel,
 * which appends it to the curation ledger); the tile shows "saving…", then "saved ✓" or the error
 * when the reply arrives (ctx.onDidReceiveMessage).
 *
 * Keyboard: the grid is one tab stop (roving tabindex); arrow keys and Home/End move; Shift+arrow
 * extends the selection, Space toggles it, Ctrl+A selects all shown, Escape clears it; 1–7 relabel,
 * x excludes, r restores (the selection if the focused image is in it, else the focused image);
 * u undoes this review's last decision; g shows or hides the focused image's Grad-CAM. Colours follow
 * the VS Code theme through its CSS variables.
 *
 * Grad-CAM: the "Grad-CAM" button (or g) posts `{ action: "gradcam", reviewId, path, class? }`
 * (protocol/rendererMessages.ts ReviewCamRequest; path is the item's id in this review, which the kernel checks
 * against the review's items); the tile shows "computing Grad-CAM…" until the reply, whose heat map
 * is checked (parseReviewCamReply), cached per image and class, and blended over the thumbnail with
 * the Grad-CAM renderer's colour maps (_shared.ts). Toggling and switching between the predicted
 * and the labelled class are instant once cached. A request unanswered after CAM_TIMEOUT_MS (the
 * kernel is blocked by a running cell) says so in the tile; a late reply is still drawn.
 */
import type { ActivationFunction, RendererContext } from "vscode-notebook-renderer";
import { parseReviewCamReply, RENDERER_ID, type ReviewItem, type ReviewItemState, type ReviewPayload, type SuspectKind } from "../../protocol";
import {
  BASE_CSS,
  COLOR_MAPS,
  PayloadError,
  blendHeat,
  colorLut,
  upsample,
  type ColorMap,
  basename,
  expectArray,
  expectClasses,
  expectInt,
  disposeViews,
  expectObject,
  expectString,
  h,
  isImageDataUrl,
  optionalString,
  percent,
  probability,
  readJson,
  showError,
  uniqueId,
} from "./_shared";

// The payload's types (ReviewPayload, ReviewItem, ReviewItemState, SuspectKind) are declared in
// protocol/payloads.ts, which the kernel's producer (kernel/fer/curation/review.ts) uses too.

/** How long a Grad-CAM request waits for the kernel before the tile says it is busy. */
export const CAM_TIMEOUT_MS = 60_000;
const CAM_OPACITY = 0.5;
export const NO_MODEL_HINT = "Grad-CAM needs a model: pass `model` (and `normalization`) to review() and run the cell again.";

const ISSUE_NAMES: Record<SuspectKind, string> = { label: "label error", duplicate: "duplicate", unusable: "unusable" };
/** A label issue's score is the share of such faces that were mislabelled on the curation benchmark; 0 means the model is too weak to tell (the detail says why). */
const issueText = (issue: { kind: SuspectKind; score: number }): string =>
  issue.kind === "label" && issue.score === 0 ? "label error? model too weak" : `${ISSUE_NAMES[issue.kind]} ${percent(issue.score)}`;

function expectLabel(value: unknown, where: string, classes: string[]): string {
  const s = expectString(value, where);
  if (!classes.includes(s)) throw new PayloadError(`${where} must be one of the classes (got ${JSON.stringify(s)})`);
  return s;
}

/** Checks the payload's shape; throws a PayloadError naming the first problem. */
export function validateReview(raw: unknown): ReviewPayload {
  const p = expectObject(raw, "the payload");
  const reviewId = expectString(p.reviewId, "reviewId");
  const classes = expectClasses(p.classes);
  const items = expectArray(p.items, "items").map((v, i): ReviewItem => {
    const where = `items[${i}]`;
    const o = expectObject(v, where);
    const label = expectLabel(o.label, `${where}.label`, classes);
    const thumb = o.thumb === undefined || o.thumb === null ? "" : expectString(o.thumb, `${where}.thumb`);
    const st = expectObject(o.state ?? { originalLabel: label, label, excluded: false }, `${where}.state`);
    const state: ReviewItemState = {
      originalLabel: expectLabel(st.originalLabel ?? label, `${where}.state.originalLabel`, classes),
      label: expectLabel(st.label ?? label, `${where}.state.label`, classes),
      excluded: st.excluded === true,
    };
    const item: ReviewItem = { path: expectString(o.path, `${where}.path`), label, thumb, state };
    if (o.predictions !== undefined && o.predictions !== null) {
      item.predictions = expectArray(o.predictions, `${where}.predictions`).map((q, j) => {
        const po = expectObject(q, `${where}.predictions[${j}]`);
        return { label: expectLabel(po.label, `${where}.predictions[${j}].label`, classes), p: probability(po.p, `${where}.predictions[${j}].p`) };
      });
    }
    if (o.issue !== undefined && o.issue !== null) {
      const io = expectObject(o.issue, `${where}.issue`);
      const kind = expectString(io.kind, `${where}.issue.kind`);
      if (!(kind in ISSUE_NAMES)) throw new PayloadError(`${where}.issue.kind must be label, duplicate or unusable`);
      item.issue = {
        kind: kind as SuspectKind,
        score: probability(io.score, `${where}.issue.score`),
        suggested: io.suggested === undefined || io.suggested === null ? undefined : expectLabel(io.suggested, `${where}.issue.suggested`, classes),
        detail: optionalString(io.detail, `${where}.issue.detail`),
      };
    }
    return item;
  });
  let cam: ReviewPayload["cam"];
  if (p.cam !== undefined && p.cam !== null) {
    const c = expectObject(p.cam, "cam");
    cam = { method: expectString(c.method, "cam.method"), layer: expectString(c.layer, "cam.layer") };
  }
  const renderer = typeof p.renderer === "string" ? p.renderer : RENDERER_ID.review;
  return { reviewId, dataset: optionalString(p.dataset, "dataset") ?? "dataset", classes, renderer, total: p.total === undefined ? items.length : expectInt(p.total, "total"), items, cam };
}

const CSS = `
.fernb-rv { ${BASE_CSS} }
.fernb-rv .rv-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; margin: 2px 0 6px; }
.fernb-rv .rv-title { font-weight: 600; }
.fernb-rv .rv-stats, .fernb-rv .rv-hint { opacity: 0.85; }
.fernb-rv .rv-hint { font-size: 0.92em; margin: 4px 0; }
.fernb-rv .rv-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; margin: 4px 0; }
.fernb-rv label { display: inline-flex; align-items: center; gap: 4px; }
.fernb-rv select, .fernb-rv button { font: inherit; border-radius: 2px; padding: 1px 6px;
  color: var(--vscode-dropdown-foreground, var(--vscode-editor-foreground, #333));
  background: var(--vscode-dropdown-background, var(--vscode-editor-background, #fff));
  border: 1px solid var(--vscode-dropdown-border, var(--vscode-editorWidget-border, #8888)); }
.fernb-rv button { cursor: pointer; color: var(--vscode-button-secondaryForeground, var(--vscode-editor-foreground, #333));
  background: var(--vscode-button-secondaryBackground, transparent); }
.fernb-rv button:disabled { opacity: 0.5; cursor: default; }
.fernb-rv select:focus-visible, .fernb-rv button:focus-visible, .fernb-rv .rv-tile:focus { outline: 2px solid var(--vscode-focusBorder, #0078d4); outline-offset: 1px; }
.fernb-rv .rv-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin-top: 6px; }
.fernb-rv .rv-row { display: contents; }
.fernb-rv .rv-tile { padding: 6px; border-radius: 3px; display: flex; flex-direction: column; gap: 3px; font-size: 0.92em; cursor: default;
  border: 1px solid var(--vscode-editorWidget-border, var(--vscode-contrastBorder, #8886)); }
.fernb-rv .rv-tile[aria-selected="true"] { background: var(--vscode-list-activeSelectionBackground, var(--vscode-editor-selectionBackground, #add6ff));
  color: var(--vscode-list-activeSelectionForeground, inherit); }
.fernb-rv .rv-tile.rv-excluded img { opacity: 0.35; }
.fernb-rv .rv-tile img, .fernb-rv .rv-noimg { width: 72px; height: 72px; object-fit: contain; image-rendering: pixelated; align-self: center;
  background: var(--vscode-editorWidget-background, #8882); }
.fernb-rv .rv-noimg { display: flex; align-items: center; justify-content: center; opacity: 0.7; border: 1px dashed var(--vscode-editorWidget-border, #8888); }
.fernb-rv .rv-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; opacity: 0.85; }
.fernb-rv .rv-label { font-weight: 600; }
.fernb-rv .rv-badge { font-weight: normal; font-size: 0.85em; padding: 0 4px; border-radius: 2px; margin-left: 4px;
  color: var(--vscode-badge-foreground, #fff); background: var(--vscode-badge-background, #616161); }
.fernb-rv .rv-issue { color: var(--vscode-editorWarning-foreground, #bf8803); }
.fernb-rv .rv-issue-low { color: var(--vscode-descriptionForeground, #717171); }
.fernb-rv .rv-preds { margin: 0; padding: 0; list-style: none; font-variant-numeric: tabular-nums; opacity: 0.9; }
.fernb-rv .rv-actions { display: flex; flex-wrap: wrap; gap: 4px; }
.fernb-rv .rv-status { min-height: 1.2em; font-size: 0.9em; opacity: 0.9; }
.fernb-rv .rv-status.rv-err, .fernb-rv .rv-undo-status.rv-err { color: var(--vscode-errorForeground, #c72e0f); opacity: 1; }
.fernb-rv .rv-status.rv-ok { color: var(--vscode-charts-green, #388a34); opacity: 1; }
.fernb-rv .rv-empty { opacity: 0.8; padding: 8px 0; }
.fernb-rv .rv-face { align-self: center; display: flex; }
.fernb-rv canvas.rv-cam-canvas { width: 72px; height: 72px; image-rendering: pixelated; }
.fernb-rv .rv-cam[aria-pressed="true"] { outline: 1px solid var(--vscode-focusBorder, #0078d4); }
.fernb-rv .rv-cam-info { font-size: 0.9em; opacity: 0.9; display: flex; flex-wrap: wrap; gap: 2px 6px; align-items: center; }
.fernb-rv .rv-cam-info button { font-size: 0.92em; padding: 0 4px; }
`;

/** A Grad-CAM heat map the kernel sent: uint8 values (0..255), row-major. */
interface CamData {
  class: string;
  predicted: string;
  p: number;
  width: number;
  height: number;
  values: Uint8Array;
}

interface ViewState {
  label: string;
  issue: string;
  predicted: string;
  sort: "score" | "order";
  selected: Set<string>;
  anchor: string | null;
  focus: string | null;
  /** Decisions the kernel confirmed since the payload was made. */
  states: Map<string, ReviewItemState>;
  status: Map<string, { text: string; kind: "busy" | "ok" | "err" }>;
  /** Grad-CAMs received, by path + "\0" + class name (or "predicted", the model's predicted class). */
  cams: Map<string, CamData>;
  /** Path → the class ("predicted" or a class name) whose Grad-CAM the tile shows; absent: hidden. */
  camShown: Map<string, string>;
  /** Cache keys of Grad-CAM requests not answered yet. */
  camPending: Set<string>;
  colorMap: ColorMap;
}

interface View {
  state: ViewState;
  onReply(reply: Record<string, unknown>, request?: { path?: string; action: string; camKey?: string }): void;
  dispose(): void;
}

const views = new Map<string, View>();
/** requestId → the output and image it was sent for. */
const pending = new Map<string, { outputId: string; path?: string; action: string; camKey?: string }>();
const sessionTag = Math.random().toString(36).slice(2, 8);
let nextRequest = 0;

function isState(v: unknown, classes: string[]): v is ReviewItemState {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return typeof s.label === "string" && classes.includes(s.label) && typeof s.excluded === "boolean";
}

function render(payload: ReviewPayload, element: HTMLElement, state: ViewState, outputId: string, ctx: RendererContext<unknown>): View {
  const { classes, items } = payload;
  const byPath = new Map(items.map((it) => [it.path, it] as const));
  const current = (it: ReviewItem) => state.states.get(it.path) ?? it.state;
  const headId = uniqueId("fernb-rv-head");
  const canPost = typeof ctx.postMessage === "function";
  const camInfo = payload.cam;
  const camKey = (path: string, which: string) => `${path}\u0000${which}`;
  const camTimers = new Map<string, ReturnType<typeof setTimeout>>();

  // ---- header and toolbar ----
  const stats = h("span", { class: "rv-stats" });
  const head = h("div", { class: "rv-head" }, h("span", { class: "rv-title", id: headId }, `Review: ${payload.dataset}`), stats);
  const option = (value: string, text: string, selected: boolean) => h("option", { value, selected }, text);
  const filterSelect = (cls: string, name: string, value: string, options: [string, string][]) => {
    const s = h("select", { class: cls, "aria-label": name }, ...options.map(([v, t]) => option(v, t, v === value)));
    return { el: h("label", {}, `${name}:`, s), select: s };
  };
  const hasIssues = items.some((i) => i.issue);
  const hasPreds = items.some((i) => i.predictions?.length);
  const fLabel = filterSelect("rv-filter-label", "Label", state.label, [["", "all"], ...classes.map((c): [string, string] => [c, c]), ["excluded", "excluded"]]);
  const fIssue = filterSelect("rv-filter-issue", "Issue", state.issue, [["", "all"], ["any", "any issue"], ["label", "label error"], ["duplicate", "duplicate"], ["unusable", "unusable"], ["none", "no issue"]]);
  const fPred = filterSelect("rv-filter-predicted", "Predicted", state.predicted, [["", "all"], ...classes.map((c): [string, string] => [c, c])]);
  const fSort = filterSelect("rv-sort", "Sort", state.sort, [["score", "suspicion score"], ["order", "dataset order"]]);
  const fCmap = camInfo ? filterSelect("rv-cam-cmap", "Heat map", state.colorMap, COLOR_MAPS.map((m): [string, string] => [m, m])) : null;
  const undoStatus = h("span", { class: "rv-undo-status", role: "status", "aria-live": "polite" });
  const undoButton = h("button", { type: "button", class: "rv-undo", title: "Undo this review's last decision (u)", disabled: !canPost }, "Undo last");
  const bar = h("div", { class: "rv-bar", role: "toolbar", "aria-label": "Filters" }, fLabel.el, hasIssues ? fIssue.el : null, hasPreds ? fPred.el : null, fSort.el, fCmap?.el, undoButton, undoStatus);

  const selCount = h("span", { class: "rv-selcount" });
  const batchRelabel = h("select", { class: "rv-batch-relabel", "aria-label": "Relabel the selected images" },
    option("", "Relabel selected…", true), ...classes.map((c, i) => h("option", { value: c }, `${i + 1} ${c}`)));
  const batchExclude = h("button", { type: "button", class: "rv-batch-exclude" }, "Exclude selected");
  const batchRestore = h("button", { type: "button", class: "rv-batch-restore" }, "Restore selected");
  const batchClear = h("button", { type: "button", class: "rv-batch-clear" }, "Clear selection");
  const batch = h("div", { class: "rv-bar rv-batch", role: "toolbar", "aria-label": "Actions on the selected images" }, selCount, batchRelabel, batchExclude, batchRestore, batchClear);

  const hint = h("p", { class: "rv-hint" },
    "Click to select (Shift: range, Ctrl/Cmd: toggle). Arrow keys move; 1–7 relabel, x exclude, r restore, u undo — on the selection if the focused image is in it." +
      (camInfo ? ` g shows or hides the focused image's ${camInfo.method}.` : ""));
  const row = h("div", { class: "rv-row", role: "row" });
  const grid = h("div", { class: "rv-grid", role: "grid", "aria-multiselectable": "true", "aria-labelledby": headId }, row);
  const empty = h("p", { class: "rv-empty", hidden: true }, "No images match these filters.");
  const root = h("div", { class: "fernb-rv" }, h("style", {}, CSS), head, bar, batch, hint, grid, empty);
  if (!canPost) {
    root.insertBefore(h("p", { class: "rv-empty", role: "note" }, "Read-only here: this view cannot reach the kernel (open the notebook in VS Code to curate)."), bar);
  }

  // ---- tiles ----
  interface Tile {
    el: HTMLElement; labelEl: HTMLElement; relabel: HTMLSelectElement; exclude: HTMLButtonElement; restore: HTMLButtonElement; status: HTMLElement; img: HTMLElement;
    /** Only when the review has a model. */
    cam?: { button: HTMLButtonElement; canvas: HTMLCanvasElement; info: HTMLElement };
  }
  const tiles = new Map<string, Tile>();
  let visible: ReviewItem[] = [];

  function makeTile(it: ReviewItem): Tile {
    const name = basename(it.path);
    const img = isImageDataUrl(it.thumb)
      ? h("img", { src: it.thumb, alt: `${it.label}: ${name}`, decoding: "async" })
      : h("div", { class: "rv-noimg", role: "img", "aria-label": `no image: ${name}` }, "no image");
    const labelEl = h("div", { class: "rv-label" });
    const relabel = h("select", { class: "rv-relabel", "aria-label": `Relabel ${name}`, disabled: !canPost },
      option("", "Relabel…", true), ...classes.map((c, i) => h("option", { value: c }, `${i + 1} ${c}`)));
    const exclude = h("button", { type: "button", class: "rv-exclude", "aria-label": `Exclude ${name}`, disabled: !canPost }, "Exclude");
    const restore = h("button", { type: "button", class: "rv-restore", "aria-label": `Restore ${name}`, disabled: !canPost }, "Restore");
    const suggested = it.issue?.suggested;
    const accept = suggested
      ? h("button", { type: "button", class: "rv-accept", "aria-label": `Relabel ${name} as the suggested ${suggested}`, disabled: !canPost }, `→ ${suggested}`)
      : null;
    const status = h("div", { class: "rv-status", role: "status", "aria-live": "polite" });
    const issue = it.issue
      ? h("div", { class: it.issue.kind === "label" && it.issue.score < 0.5 ? "rv-issue rv-issue-low" : "rv-issue", title: it.issue.detail ?? "" }, issueText(it.issue))
      : null;
    const preds = it.predictions?.length
      ? h("ol", { class: "rv-preds", "aria-label": "model's top predictions" }, ...it.predictions.map((p) => h("li", {}, `${p.label} ${percent(p.p)}`)))
      : null;
    const cam = camInfo
      ? {
          button: h("button", {
            type: "button", class: "rv-cam", "aria-pressed": "false", disabled: !canPost,
            "aria-label": `${camInfo.method} of ${name}`,
            title: canPost ? `Show or hide the ${camInfo.method} heat map of this image (g)` : `${camInfo.method} needs the kernel: open the notebook in VS Code`,
          }, "Grad-CAM"),
          canvas: h("canvas", { class: "rv-cam-canvas", width: 48, height: 48, role: "img", "aria-label": `${camInfo.method} heat map over ${name}` }),
          info: h("div", { class: "rv-cam-info" }),
        }
      : undefined;
    const el = h("div", { class: "rv-tile", role: "gridcell", tabindex: "-1", "data-path": it.path, title: it.path },
      h("div", { class: "rv-face" }, img, cam?.canvas), h("div", { class: "rv-name" }, name), labelEl, issue, preds, cam?.info,
      h("div", { class: "rv-actions" }, relabel, exclude, restore, accept, cam?.button), status);
    relabel.addEventListener("change", () => {
      if (relabel.value) send("relabel", [it.path], relabel.value);
      relabel.value = "";
    });
    exclude.addEventListener("click", () => send("exclude", [it.path]));
    restore.addEventListener("click", () => send("restore", [it.path]));
    accept?.addEventListener("click", () => send("relabel", [it.path], suggested));
    cam?.button.addEventListener("click", () => toggleCam(it.path));
    const tile: Tile = { el, labelEl, relabel, exclude, restore, status, img, cam };
    updateTile(it, tile);
    if (cam && state.camShown.has(it.path)) queueMicrotask(() => drawCam(it.path));
    return tile;
  }

  /** The Grad-CAM the tile should show (cached), if any. */
  function shownCam(path: string): CamData | undefined {
    const which = state.camShown.get(path);
    return which === undefined ? undefined : state.cams.get(camKey(path, which));
  }

  function updateCam(it: ReviewItem, tile: Tile): void {
    if (!tile.cam) return;
    const { button, canvas, info } = tile.cam;
    const cam = shownCam(it.path);
    button.setAttribute("aria-pressed", String(state.camShown.has(it.path)));
    tile.img.style.display = cam ? "none" : "";
    canvas.style.display = cam ? "" : "none";
    tile.el.dataset.cam = cam ? cam.class : "";
    if (!cam) {
      info.replaceChildren();
      info.hidden = true;
      return;
    }
    const label = current(it).label;
    const role = cam.class === cam.predicted ? (cam.class === label ? "predicted = label" : "predicted") : cam.class === label ? "label" : "class";
    info.hidden = false;
    info.replaceChildren(h("span", { class: "rv-cam-class" }, `${camInfo!.method}: ${cam.class} ${percent(cam.p)} (${role})`));
    const other = cam.class !== label ? { which: label, text: `for label ${label}` } : cam.class !== cam.predicted ? { which: "predicted", text: `for predicted ${cam.predicted}` } : null;
    if (other) {
      const b = h("button", { type: "button", class: "rv-cam-switch", disabled: !canPost, "aria-label": `${camInfo!.method} of ${basename(it.path)} ${other.text}` }, other.text);
      b.addEventListener("click", () => showCam(it.path, other.which));
      info.append(b);
    }
  }

  /** Blends the shown Grad-CAM over the thumbnail on the tile's canvas. */
  function drawCam(path: string): void {
    const tile = tiles.get(path);
    const cam = shownCam(path);
    if (!tile?.cam || !cam) return;
    const img = tile.img instanceof HTMLImageElement ? tile.img : null;
    if (img && !img.complete) {
      img.decode().then(() => drawCam(path), () => undefined);
      return;
    }
    const W = img?.naturalWidth || 48;
    const H = img?.naturalHeight || 48;
    const canvas = tile.cam.canvas;
    canvas.width = W;
    canvas.height = H;
    const c2d = canvas.getContext("2d", { willReadFrequently: true });
    if (!c2d) return;
    c2d.imageSmoothingEnabled = false;
    if (img?.naturalWidth) c2d.drawImage(img, 0, 0, W, H);
    else {
      c2d.fillStyle = "#808080";
      c2d.fillRect(0, 0, W, H);
    }
    const face = c2d.getImageData(0, 0, W, H);
    blendHeat(c2d, face, upsample(cam.values, cam.width, cam.height, W, H), colorLut(state.colorMap), CAM_OPACITY);
    canvas.dataset.colorMap = state.colorMap;
  }

  /** Shows the Grad-CAM of `which` ("predicted" or a class name): from the cache, or asks the kernel. */
  function showCam(path: string, which: string): void {
    const it = byPath.get(path);
    if (!it || !camInfo || !canPost) return;
    state.camShown.set(path, which);
    const key = camKey(path, which);
    if (state.cams.has(key)) {
      updateTile(it);
      drawCam(path);
      return;
    }
    updateTile(it);
    if (state.camPending.has(key)) return;
    state.camPending.add(key);
    setStatus(path, `computing ${camInfo.method}…`, "busy");
    const sent = post(which === "predicted" ? { action: "gradcam", path } : { action: "gradcam", path, class: which }, path, key);
    if (!sent) {
      state.camPending.delete(key);
      return;
    }
    camTimers.set(key, setTimeout(() => {
      camTimers.delete(key);
      if (!state.camPending.delete(key)) return;
      setStatus(path, `error: no ${camInfo.method} from the kernel after ${CAM_TIMEOUT_MS / 1000} s (a running cell may be keeping it busy); it is drawn if it still comes, or press g to ask again`, "err");
    }, CAM_TIMEOUT_MS));
  }

  function toggleCam(path: string): void {
    const it = byPath.get(path);
    if (!it) return;
    if (!camInfo) return setStatus(path, NO_MODEL_HINT, "err");
    if (!canPost) return setStatus(path, "Grad-CAM needs the kernel: open the notebook in VS Code.", "err");
    if (state.camShown.has(path)) {
      state.camShown.delete(path);
      updateTile(it);
      return;
    }
    showCam(path, "predicted");
  }

  function onCamReply(reply: Record<string, unknown>, request: { path?: string; camKey?: string }): void {
    const path = request.path;
    const key = request.camKey;
    if (!path || !key || !byPath.has(path)) return;
    state.camPending.delete(key);
    clearTimeout(camTimers.get(key));
    camTimers.delete(key);
    const parsed = parseReviewCamReply(reply);
    if (typeof parsed === "string") return setStatus(path, `error: malformed ${camInfo?.method ?? "Grad-CAM"} reply (${parsed})`, "err");
    if (!parsed.ok) return setStatus(path, `${camInfo?.method ?? "Grad-CAM"} error: ${parsed.error}`, "err");
    if (parsed.path !== path || !classes.includes(parsed.class) || !classes.includes(parsed.predicted)) {
      return setStatus(path, "error: the kernel's heat map is for another image or class", "err");
    }
    const data: CamData = {
      class: parsed.class, predicted: parsed.predicted, p: parsed.p, width: parsed.width, height: parsed.height,
      values: Uint8Array.from(parsed.cam.flat(), (v) => Math.round(v * 255)),
    };
    state.cams.set(key, data);
    state.cams.set(camKey(path, parsed.class), data);
    if (parsed.class === parsed.predicted) state.cams.set(camKey(path, "predicted"), data);
    state.status.delete(path);
    updateTile(byPath.get(path)!);
    drawCam(path);
  }

  function updateTile(it: ReviewItem, tile = tiles.get(it.path)): void {
    if (!tile) return;
    const s = current(it);
    const relabelled = s.label !== s.originalLabel;
    tile.labelEl.replaceChildren(relabelled ? `${s.originalLabel} → ${s.label}` : s.label);
    if (s.excluded) tile.labelEl.append(h("span", { class: "rv-badge" }, "excluded"));
    tile.el.classList.toggle("rv-excluded", s.excluded);
    tile.el.dataset.label = s.label;
    tile.el.dataset.excluded = String(s.excluded);
    tile.exclude.hidden = s.excluded;
    tile.restore.hidden = !s.excluded;
    const st = state.status.get(it.path);
    tile.status.textContent = st?.text ?? "";
    tile.status.className = `rv-status${st ? ` rv-${st.kind}` : ""}`;
    tile.el.setAttribute("aria-selected", String(state.selected.has(it.path)));
    updateCam(it, tile);
    const issue = it.issue ? `, ${issueText(it.issue)}` : "";
    const pred = it.predictions?.[0] ? `, predicted ${it.predictions[0].label} ${percent(it.predictions[0].p)}` : "";
    tile.el.setAttribute("aria-label", `${basename(it.path)}: ${relabelled ? `relabelled ${s.originalLabel} to ${s.label}` : s.label}${s.excluded ? ", excluded" : ""}${issue}${pred}${st ? `, ${st.text}` : ""}`);
  }

  function matches(it: ReviewItem): boolean {
    const s = current(it);
    if (state.label === "excluded" ? !s.excluded : state.label && s.label !== state.label) return false;
    if (state.issue === "any" ? !it.issue : state.issue === "none" ? !!it.issue : state.issue && it.issue?.kind !== state.issue) return false;
    if (state.predicted && it.predictions?.[0]?.label !== state.predicted) return false;
    return true;
  }

  function layout(): void {
    visible = items.filter(matches);
    if (state.sort === "score") {
      const order = new Map(items.map((it, i) => [it.path, i] as const));
      visible.sort((a, b) => (b.issue?.score ?? -1) - (a.issue?.score ?? -1) || order.get(a.path)! - order.get(b.path)!);
    }
    row.replaceChildren(...visible.map((it) => {
      let t = tiles.get(it.path);
      if (!t) tiles.set(it.path, (t = makeTile(it)));
      t.el.tabIndex = -1;
      return t.el;
    }));
    if (!visible.some((it) => it.path === state.focus)) state.focus = visible[0]?.path ?? null;
    if (state.focus) tiles.get(state.focus)!.el.tabIndex = 0;
    empty.hidden = visible.length > 0;
    stats.textContent = `${visible.length} shown of ${items.length}${payload.total > items.length ? ` (${payload.total} matched in the kernel; the first ${items.length} sent)` : ""}`;
    updateSelection();
  }

  function updateSelection(): void {
    for (const [path, t] of tiles) t.el.setAttribute("aria-selected", String(state.selected.has(path)));
    const n = state.selected.size;
    selCount.textContent = `${n} selected`;
    for (const b of [batchRelabel, batchExclude, batchRestore, batchClear]) b.disabled = n === 0 || (b !== batchClear && !canPost);
  }

  function setFocus(path: string, move = true): void {
    if (state.focus) tiles.get(state.focus)?.el.setAttribute("tabindex", "-1");
    state.focus = path;
    const t = tiles.get(path)!;
    t.el.tabIndex = 0;
    if (move) t.el.focus();
  }

  function selectRange(to: string): void {
    const from = state.anchor ?? to;
    const a = visible.findIndex((i) => i.path === from);
    const b = visible.findIndex((i) => i.path === to);
    const [lo, hi] = a < 0 ? [b, b] : [Math.min(a, b), Math.max(a, b)];
    state.selected = new Set(visible.slice(lo, hi + 1).map((i) => i.path));
  }

  // ---- messages ----
  function setStatus(path: string, text: string, kind: "busy" | "ok" | "err"): void {
    state.status.set(path, { text, kind });
    const it = byPath.get(path);
    if (it) updateTile(it);
  }

  function post(message: Record<string, unknown>, path?: string, camKey?: string): boolean {
    const requestId = `${sessionTag}-${++nextRequest}`;
    pending.set(requestId, { outputId, path, action: String(message.action), camKey });
    try {
      ctx.postMessage!({ ...message, reviewId: payload.reviewId, requestId });
      return true;
    } catch (e) {
      pending.delete(requestId);
      if (path) setStatus(path, `not sent: ${(e as Error).message}`, "err");
      return false;
    }
  }

  function send(action: "relabel" | "exclude" | "restore", paths: string[], label?: string): void {
    if (!canPost) return;
    for (const path of paths) {
      setStatus(path, "saving…", "busy");
      post(action === "relabel" ? { action, path, label } : { action, path }, path);
    }
  }

  function undo(): void {
    if (!canPost) return;
    undoStatus.textContent = "undoing…";
    undoStatus.className = "rv-undo-status";
    post({ action: "undo" });
  }

  function onReply(reply: Record<string, unknown>, request?: { path?: string; action: string; camKey?: string }): void {
    if (request?.camKey !== undefined || request?.action === "gradcam") return onCamReply(reply, request);
    if (reply.action === "gradcam") return; // another webview's Grad-CAM: not asked for here
    const path = typeof reply.path === "string" ? reply.path : request?.path;
    const action = typeof reply.action === "string" ? reply.action : request?.action;
    if (reply.ok === true && path && byPath.has(path)) {
      if (isState(reply.state, classes)) state.states.set(path, { ...reply.state, originalLabel: byPath.get(path)!.label });
      setStatus(path, action === "undo" ? "undone ✓" : reply.ledgerLine === null ? "already so: nothing to save" : "saved ✓", "ok");
      if (action === "undo") undoStatus.textContent = `undone: ${basename(path)}`;
    } else if (reply.ok !== true) {
      const error = typeof reply.error === "string" ? reply.error : "the kernel refused the action";
      if (path && byPath.has(path) && action !== "undo") setStatus(path, `error: ${error}`, "err");
      else {
        undoStatus.textContent = `error: ${error}`;
        undoStatus.className = "rv-undo-status rv-err";
      }
    }
  }

  // ---- events ----
  const targets = (): string[] => {
    if (state.focus && state.selected.has(state.focus)) return visible.filter((i) => state.selected.has(i.path)).map((i) => i.path);
    return state.focus ? [state.focus] : [];
  };
  const onFilter = (key: "label" | "issue" | "predicted" | "sort", sel: HTMLSelectElement) =>
    sel.addEventListener("change", () => {
      (state as unknown as Record<string, string>)[key] = sel.value;
      layout();
    });
  onFilter("label", fLabel.select);
  onFilter("issue", fIssue.select);
  onFilter("predicted", fPred.select);
  onFilter("sort", fSort.select);
  fCmap?.select.addEventListener("change", () => {
    state.colorMap = fCmap.select.value as ColorMap;
    for (const path of state.camShown.keys()) drawCam(path);
  });
  undoButton.addEventListener("click", undo);
  const selectedVisible = () => visible.filter((i) => state.selected.has(i.path)).map((i) => i.path);
  batchRelabel.addEventListener("change", () => {
    if (batchRelabel.value) send("relabel", selectedVisible(), batchRelabel.value);
    batchRelabel.value = "";
  });
  batchExclude.addEventListener("click", () => send("exclude", selectedVisible()));
  batchRestore.addEventListener("click", () => send("restore", selectedVisible()));
  batchClear.addEventListener("click", () => {
    state.selected.clear();
    updateSelection();
  });

  grid.addEventListener("click", (ev) => {
    const target = ev.target as Element;
    if (target.closest("select, button")) return;
    const tileEl = target.closest(".rv-tile") as HTMLElement | null;
    if (!tileEl) return;
    const path = tileEl.dataset.path!;
    if (ev.shiftKey) selectRange(path);
    else if (ev.ctrlKey || ev.metaKey) {
      if (state.selected.has(path)) state.selected.delete(path);
      else state.selected.add(path);
      state.anchor = path;
    } else {
      state.selected = new Set([path]);
      state.anchor = path;
    }
    setFocus(path);
    updateSelection();
  });

  function columns(): number {
    const els = visible.map((i) => tiles.get(i.path)!.el);
    if (els.length < 2) return 1;
    const top = els[0].offsetTop;
    const n = els.findIndex((e) => e.offsetTop !== top);
    return n < 0 ? els.length : n;
  }

  grid.addEventListener("keydown", (ev) => {
    const tileEl = ev.target as HTMLElement;
    if (!tileEl.classList?.contains("rv-tile")) return; // keys in a tile's select/button are theirs
    const path = tileEl.dataset.path!;
    const at = visible.findIndex((i) => i.path === path);
    let next = at;
    const key = ev.key;
    switch (key) {
      case "ArrowLeft": next = Math.max(0, at - 1); break;
      case "ArrowRight": next = Math.min(visible.length - 1, at + 1); break;
      case "ArrowUp": next = Math.max(0, at - columns()); break;
      case "ArrowDown": next = Math.min(visible.length - 1, at + columns()); break;
      case "Home": next = 0; break;
      case "End": next = visible.length - 1; break;
      case " ":
        if (state.selected.has(path)) state.selected.delete(path);
        else state.selected.add(path);
        state.anchor = path;
        updateSelection();
        ev.preventDefault();
        return;
      case "Escape":
        if (!state.selected.size) return;
        state.selected.clear();
        updateSelection();
        ev.preventDefault();
        ev.stopPropagation();
        return;
      default: {
        if (ev.altKey || ((ev.ctrlKey || ev.metaKey) && key.toLowerCase() !== "a")) return;
        if ((ev.ctrlKey || ev.metaKey) && key.toLowerCase() === "a") {
          state.selected = new Set(visible.map((i) => i.path));
          updateSelection();
        } else if (/^[1-9]$/.test(key) && Number(key) <= classes.length) send("relabel", targets(), classes[Number(key) - 1]);
        else if (key === "x" || key === "X") send("exclude", targets());
        else if (key === "r" || key === "R") send("restore", targets());
        else if (key === "u" || key === "U") undo();
        else if (key === "g" || key === "G") toggleCam(path);
        else return;
        ev.preventDefault();
        ev.stopPropagation();
        return;
      }
    }
    ev.preventDefault();
    const to = visible[next]?.path;
    if (!to) return;
    if (ev.shiftKey) {
      if (state.anchor === null) state.anchor = path;
      selectRange(to);
      updateSelection();
    }
    setFocus(to);
  });

  layout();
  element.replaceChildren(root);
  return {
    state,
    onReply,
    dispose: () => {
      for (const t of camTimers.values()) clearTimeout(t);
      camTimers.clear();
      state.camPending.clear();
    },
  };
}

export const activate: ActivationFunction = (ctx) => {
  ctx.onDidReceiveMessage?.((raw: unknown) => {
    if (typeof raw !== "object" || raw === null) return;
    const reply = raw as Record<string, unknown>;
    const requestId = typeof reply.requestId === "string" ? reply.requestId : undefined;
    const request = requestId !== undefined ? pending.get(requestId) : undefined;
    if (requestId !== undefined) pending.delete(requestId);
    if (request) views.get(request.outputId)?.onReply(reply, request);
    else if (requestId === undefined || !requestId.startsWith(`${sessionTag}-`)) {
      // A reply to another webview's request for the same review (the notebook open twice): apply it too.
      for (const [, view] of views) if ((view as View & { reviewId?: string }).reviewId === reply.reviewId) view.onReply(reply);
    }
  });
  return {
    renderOutputItem(item, element) {
      const previous = views.get(item.id);
      previous?.dispose();
      views.delete(item.id);
      try {
        const payload = validateReview(readJson(item));
        const keep = previous && (previous as View & { reviewId?: string }).reviewId === payload.reviewId;
        const state: ViewState = (keep && previous?.state) || {
          label: "", issue: "", predicted: "", sort: "score", selected: new Set(), anchor: null, focus: null, states: new Map(), status: new Map(),
          cams: new Map(), camShown: new Map(), camPending: new Set(), colorMap: "turbo",
        };
        const view = render(payload, element, state, item.id, ctx) as View & { reviewId?: string };
        view.reviewId = payload.reviewId;
        views.set(item.id, view);
      } catch (e) {
        showError(element, "review", e);
      }
    },
    disposeOutputItem(id) {
      disposeViews(views, id);
    },
  };
};
