/**
 * The review grid's Grad-CAM on demand: the "Grad-CAM" button (or g) posts `{ action: "gradcam",
 * reviewId, path, class? }` (protocol/rendererMessages.ts ReviewCamRequest; path is the item's id in
 * this review, which the kernel checks against the review's items); the tile shows "computing
 * Grad-CAM…" until the reply, whose heat map is checked (parseReviewCamReply), cached per image and
 * class, and blended over the thumbnail with the Grad-CAM renderer's colour maps (_shared.ts).
 * Toggling and switching between the predicted and the labelled class are instant once cached. A
 * request unanswered after CAM_TIMEOUT_MS (the kernel is blocked by a running cell) says so in the
 * tile; a late reply is still drawn.
 */
import { parseReviewCamReply, type ReviewItem } from "../../../protocol";
import { basename, blendHeat, colorLut, h, percent, upsample } from "../_shared";
import type { CamData, Grid, SentRequest, Tile } from "./view";

/** How long a Grad-CAM request waits for the kernel before the tile says it is busy. */
export const CAM_TIMEOUT_MS = 60_000;
const CAM_OPACITY = 0.5;
export const NO_MODEL_HINT = "Grad-CAM needs a model: pass `model` (and `normalization`) to review() and run the cell again.";

/** The cache key of an image's Grad-CAM for `which` ("predicted" or a class name). */
export const camKey = (path: string, which: string) => `${path}\u0000${which}`;

/** The tile's Grad-CAM parts (button, canvas, info line), when the review has a model. */
export function camParts(g: Grid, name: string): Tile["cam"] {
  const camInfo = g.camInfo;
  if (!camInfo) return undefined;
  return {
    button: h("button", {
      type: "button", class: "rv-cam", "aria-pressed": "false", disabled: !g.canPost,
      "aria-label": `${camInfo.method} of ${name}`,
      title: g.canPost ? `Show or hide the ${camInfo.method} heat map of this image (g)` : `${camInfo.method} needs the kernel: open the notebook in VS Code`,
    }, "Grad-CAM"),
    canvas: h("canvas", { class: "rv-cam-canvas", width: 48, height: 48, role: "img", "aria-label": `${camInfo.method} heat map over ${name}` }),
    info: h("div", { class: "rv-cam-info" }),
  };
}

/** The Grad-CAM the tile should show (cached), if any. */
function shownCam(g: Grid, path: string): CamData | undefined {
  const which = g.state.camShown.get(path);
  return which === undefined ? undefined : g.state.cams.get(camKey(path, which));
}

/** Shows or hides the tile's heat map and its info line (which class, and the switch to the other). */
export function updateCam(g: Grid, it: ReviewItem, tile: Tile): void {
  if (!tile.cam) return;
  const { button, canvas, info } = tile.cam;
  const cam = shownCam(g, it.path);
  button.setAttribute("aria-pressed", String(g.state.camShown.has(it.path)));
  tile.img.style.display = cam ? "none" : "";
  canvas.style.display = cam ? "" : "none";
  tile.el.dataset.cam = cam ? cam.class : "";
  if (!cam) {
    info.replaceChildren();
    info.hidden = true;
    return;
  }
  const label = g.current(it).label;
  const role = cam.class === cam.predicted ? (cam.class === label ? "predicted = label" : "predicted") : cam.class === label ? "label" : "class";
  info.hidden = false;
  info.replaceChildren(h("span", { class: "rv-cam-class" }, `${g.camInfo!.method}: ${cam.class} ${percent(cam.p)} (${role})`));
  const other = cam.class !== label ? { which: label, text: `for label ${label}` } : cam.class !== cam.predicted ? { which: "predicted", text: `for predicted ${cam.predicted}` } : null;
  if (other) {
    const b = h("button", { type: "button", class: "rv-cam-switch", disabled: !g.canPost, "aria-label": `${g.camInfo!.method} of ${basename(it.path)} ${other.text}` }, other.text);
    b.addEventListener("click", () => g.showCam(it.path, other.which));
    info.append(b);
  }
}

/** Blends the shown Grad-CAM over the thumbnail on the tile's canvas. */
export function drawCam(g: Grid, path: string): void {
  const tile = g.tiles.get(path);
  const cam = shownCam(g, path);
  if (!tile?.cam || !cam) return;
  const img = tile.img instanceof HTMLImageElement ? tile.img : null;
  if (img && !img.complete) {
    img.decode().then(() => g.drawCam(path), () => undefined);
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
  blendHeat(c2d, face, upsample(cam.values, cam.width, cam.height, W, H), colorLut(g.state.colorMap), CAM_OPACITY);
  canvas.dataset.colorMap = g.state.colorMap;
}

/** Shows the Grad-CAM of `which` ("predicted" or a class name): from the cache, or asks the kernel. */
export function showCam(g: Grid, path: string, which: string): void {
  const { state, camInfo } = g;
  const it = g.byPath.get(path);
  if (!it || !camInfo || !g.canPost) return;
  state.camShown.set(path, which);
  const key = camKey(path, which);
  if (state.cams.has(key)) {
    g.updateTile(it);
    g.drawCam(path);
    return;
  }
  g.updateTile(it);
  if (state.camPending.has(key)) return;
  state.camPending.add(key);
  g.setStatus(path, `computing ${camInfo.method}…`, "busy");
  const sent = g.post(which === "predicted" ? { action: "gradcam", path } : { action: "gradcam", path, class: which }, path, key);
  if (!sent) {
    state.camPending.delete(key);
    return;
  }
  g.camTimers.set(key, setTimeout(() => {
    g.camTimers.delete(key);
    if (!state.camPending.delete(key)) return;
    g.setStatus(path, `error: no ${camInfo.method} from the kernel after ${CAM_TIMEOUT_MS / 1000} s (a running cell may be keeping it busy); it is drawn if it still comes, or press g to ask again`, "err");
  }, CAM_TIMEOUT_MS));
}

/** The Grad-CAM button and the g key: shows the predicted class's heat map, or hides the one shown. */
export function toggleCam(g: Grid, path: string): void {
  const it = g.byPath.get(path);
  if (!it) return;
  if (!g.camInfo) return g.setStatus(path, NO_MODEL_HINT, "err");
  if (!g.canPost) return g.setStatus(path, "Grad-CAM needs the kernel: open the notebook in VS Code.", "err");
  if (g.state.camShown.has(path)) {
    g.state.camShown.delete(path);
    g.updateTile(it);
    return;
  }
  g.showCam(path, "predicted");
}

/** The kernel's answer to a Grad-CAM request: checked, cached, drawn. */
export function onCamReply(g: Grid, reply: Record<string, unknown>, request: SentRequest): void {
  const { state, camInfo, classes } = g;
  const path = request.path;
  const key = request.camKey;
  if (!path || !key || !g.byPath.has(path)) return;
  state.camPending.delete(key);
  clearTimeout(g.camTimers.get(key));
  g.camTimers.delete(key);
  const parsed = parseReviewCamReply(reply);
  if (typeof parsed === "string") return g.setStatus(path, `error: malformed ${camInfo?.method ?? "Grad-CAM"} reply (${parsed})`, "err");
  if (!parsed.ok) return g.setStatus(path, `${camInfo?.method ?? "Grad-CAM"} error: ${parsed.error}`, "err");
  if (parsed.path !== path || !classes.includes(parsed.class) || !classes.includes(parsed.predicted)) {
    return g.setStatus(path, "error: the kernel's heat map is for another image or class", "err");
  }
  const data: CamData = {
    class: parsed.class, predicted: parsed.predicted, p: parsed.p, width: parsed.width, height: parsed.height,
    values: Uint8Array.from(parsed.cam.flat(), (v) => Math.round(v * 255)),
  };
  state.cams.set(key, data);
  state.cams.set(camKey(path, parsed.class), data);
  if (parsed.class === parsed.predicted) state.cams.set(camKey(path, "predicted"), data);
  state.status.delete(path);
  g.updateTile(g.byPath.get(path)!);
  g.drawCam(path);
}

/** Stops the grid's Grad-CAM timers (the output is re-rendered or removed). */
export function disposeCams(g: Grid): void {
  for (const t of g.camTimers.values()) clearTimeout(t);
  g.camTimers.clear();
  g.state.camPending.clear();
}
