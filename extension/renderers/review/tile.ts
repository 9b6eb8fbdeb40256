/**
 * One image's tile in the review grid: the thumbnail (or the Grad-CAM over it), the file name, the
 * label (relabelled and excluded shown), the suspected issue and the model's top predictions, the
 * actions (relabel, exclude, restore, accept the suggestion, Grad-CAM) and the save status.
 */
import type { ReviewItem } from "../../../protocol";
import { basename, h, isImageDataUrl, percent } from "../_shared";
import { camParts, updateCam } from "./gradcam";
import { issueText } from "./validation";
import { option, type Grid, type Tile } from "./view";

export function makeTile(g: Grid, it: ReviewItem): Tile {
  const { classes, canPost } = g;
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
  const cam = camParts(g, name);
  const el = h("div", { class: "rv-tile", role: "gridcell", tabindex: "-1", "data-path": it.path, title: it.path },
    h("div", { class: "rv-face" }, img, cam?.canvas), h("div", { class: "rv-name" }, name), labelEl, issue, preds, cam?.info,
    h("div", { class: "rv-actions" }, relabel, exclude, restore, accept, cam?.button), status);
  relabel.addEventListener("change", () => {
    if (relabel.value) g.send("relabel", [it.path], relabel.value);
    relabel.value = "";
  });
  exclude.addEventListener("click", () => g.send("exclude", [it.path]));
  restore.addEventListener("click", () => g.send("restore", [it.path]));
  accept?.addEventListener("click", () => g.send("relabel", [it.path], suggested));
  cam?.button.addEventListener("click", () => g.toggleCam(it.path));
  const tile: Tile = { el, labelEl, relabel, exclude, restore, status, img, cam };
  updateTile(g, it, tile);
  if (cam && g.state.camShown.has(it.path)) queueMicrotask(() => g.drawCam(it.path));
  return tile;
}

/** Brings the tile in line with the item's state, its status and the selection. */
export function updateTile(g: Grid, it: ReviewItem, tile = g.tiles.get(it.path)): void {
  if (!tile) return;
  const s = g.current(it);
  const relabelled = s.label !== s.originalLabel;
  tile.labelEl.replaceChildren(relabelled ? `${s.originalLabel} → ${s.label}` : s.label);
  if (s.excluded) tile.labelEl.append(h("span", { class: "rv-badge" }, "excluded"));
  tile.el.classList.toggle("rv-excluded", s.excluded);
  tile.el.dataset.label = s.label;
  tile.el.dataset.excluded = String(s.excluded);
  tile.exclude.hidden = s.excluded;
  tile.restore.hidden = !s.excluded;
  const st = g.state.status.get(it.path);
  tile.status.textContent = st?.text ?? "";
  tile.status.className = `rv-status${st ? ` rv-${st.kind}` : ""}`;
  tile.el.setAttribute("aria-selected", String(g.state.selected.has(it.path)));
  updateCam(g, it, tile);
  const issue = it.issue ? `, ${issueText(it.issue)}` : "";
  const pred = it.predictions?.[0] ? `, predicted ${it.predictions[0].label} ${percent(it.predictions[0].p)}` : "";
  tile.el.setAttribute("aria-label", `${basename(it.path)}: ${relabelled ? `relabelled ${s.originalLabel} to ${s.label}` : s.label}${s.excluded ? ", excluded" : ""}${issue}${pred}${st ? `, ${st.text}` : ""}`);
}
