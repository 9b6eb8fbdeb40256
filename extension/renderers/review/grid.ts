/**
 * The review grid as a whole: header and toolbar (filters by label, issue and predicted class, sort,
 * heat-map colours, undo), the batch toolbar (selection.ts), the grid of tiles (tile.ts) laid out by
 * the filters, and the wiring of the parts: each part is a function of the `Grid` built here and
 * reaches the others through it (view.ts).
 */
import type { RendererContext } from "vscode-notebook-renderer";
import type { ReviewItem, ReviewPayload } from "../../../protocol";
import { COLOR_MAPS, h, uniqueId, type ColorMap } from "../_shared";
import { disposeCams, drawCam, onCamReply, showCam, toggleCam } from "./gradcam";
import { onDecisionReply, post, send, setStatus, undo } from "./messaging";
import { batchToolbar, listenToGrid } from "./selection";
import { CSS } from "./style";
import { makeTile, updateTile } from "./tile";
import { option, type Grid, type View, type ViewState } from "./view";

export function render(payload: ReviewPayload, element: HTMLElement, state: ViewState, outputId: string, ctx: RendererContext<unknown>): View {
  const { classes, items } = payload;
  const headId = uniqueId("fernb-rv-head");
  const canPost = typeof ctx.postMessage === "function";
  const camInfo = payload.cam;
  const undoStatus = h("span", { class: "rv-undo-status", role: "status", "aria-live": "polite" });
  let batch: ReturnType<typeof batchToolbar> | undefined;

  const g: Grid = {
    payload, classes, items, state, outputId, ctx, canPost, camInfo, undoStatus,
    byPath: new Map(items.map((it) => [it.path, it] as const)),
    tiles: new Map(),
    visible: [],
    camTimers: new Map(),
    current: (it) => state.states.get(it.path) ?? it.state,
    updateTile: (it, tile) => updateTile(g, it, tile),
    setStatus: (path, text, kind) => setStatus(g, path, text, kind),
    post: (message, path, camKey) => post(g, message, path, camKey),
    send: (action, paths, label) => send(g, action, paths, label),
    undo: () => undo(g),
    toggleCam: (path) => toggleCam(g, path),
    showCam: (path, which) => showCam(g, path, which),
    drawCam: (path) => drawCam(g, path),
    updateSelection: () => batch?.update(),
  };

  // ---- header and toolbar ----
  const stats = h("span", { class: "rv-stats" });
  const head = h("div", { class: "rv-head" }, h("span", { class: "rv-title", id: headId }, `Review: ${payload.dataset}`), stats);
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
  const undoButton = h("button", { type: "button", class: "rv-undo", title: "Undo this review's last decision (u)", disabled: !canPost }, "Undo last");
  const bar = h("div", { class: "rv-bar", role: "toolbar", "aria-label": "Filters" }, fLabel.el, hasIssues ? fIssue.el : null, hasPreds ? fPred.el : null, fSort.el, fCmap?.el, undoButton, undoStatus);
  batch = batchToolbar(g);

  const hint = h("p", { class: "rv-hint" },
    "Click to select (Shift: range, Ctrl/Cmd: toggle). Arrow keys move; 1–7 relabel, x exclude, r restore, u undo — on the selection if the focused image is in it." +
      (camInfo ? ` g shows or hides the focused image's ${camInfo.method}.` : ""));
  const row = h("div", { class: "rv-row", role: "row" });
  const grid = h("div", { class: "rv-grid", role: "grid", "aria-multiselectable": "true", "aria-labelledby": headId }, row);
  const empty = h("p", { class: "rv-empty", hidden: true }, "No images match these filters.");
  const root = h("div", { class: "fernb-rv" }, h("style", {}, CSS), head, bar, batch.el, hint, grid, empty);
  if (!canPost) {
    root.insertBefore(h("p", { class: "rv-empty", role: "note" }, "Read-only here: this view cannot reach the kernel (open the notebook in VS Code to curate)."), bar);
  }

  // ---- layout ----
  function matches(it: ReviewItem): boolean {
    const s = g.current(it);
    if (state.label === "excluded" ? !s.excluded : state.label && s.label !== state.label) return false;
    if (state.issue === "any" ? !it.issue : state.issue === "none" ? !!it.issue : state.issue && it.issue?.kind !== state.issue) return false;
    if (state.predicted && it.predictions?.[0]?.label !== state.predicted) return false;
    return true;
  }

  function layout(): void {
    const visible = items.filter(matches);
    if (state.sort === "score") {
      const order = new Map(items.map((it, i) => [it.path, i] as const));
      visible.sort((a, b) => (b.issue?.score ?? -1) - (a.issue?.score ?? -1) || order.get(a.path)! - order.get(b.path)!);
    }
    g.visible = visible;
    const tiles = g.tiles;
    row.replaceChildren(...visible.map((it) => {
      let t = tiles.get(it.path);
      if (!t) tiles.set(it.path, (t = makeTile(g, it)));
      t.el.tabIndex = -1;
      return t.el;
    }));
    if (!visible.some((it) => it.path === state.focus)) state.focus = visible[0]?.path ?? null;
    if (state.focus) tiles.get(state.focus)!.el.tabIndex = 0;
    empty.hidden = visible.length > 0;
    stats.textContent = `${visible.length} shown of ${items.length}${payload.total > items.length ? ` (${payload.total} matched in the kernel; the first ${items.length} sent)` : ""}`;
    g.updateSelection();
  }

  // ---- events ----
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
    for (const path of state.camShown.keys()) g.drawCam(path);
  });
  undoButton.addEventListener("click", g.undo);
  listenToGrid(g, grid);

  layout();
  element.replaceChildren(root);
  return {
    state,
    onReply: (reply, request) => {
      if (request?.camKey !== undefined || request?.action === "gradcam") return onCamReply(g, reply, request);
      if (reply.action === "gradcam") return; // another webview's Grad-CAM: not asked for here
      onDecisionReply(g, reply, request);
    },
    dispose: () => disposeCams(g),
  };
}
