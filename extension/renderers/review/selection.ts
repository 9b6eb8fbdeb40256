/**
 * Selection, focus and the keyboard in the review grid. The grid is one tab stop (roving tabindex);
 * click selects (Shift+click: range, Ctrl/Cmd+click: toggle); arrow keys and Home/End move;
 * Shift+arrow extends the selection, Space toggles it, Ctrl+A selects all shown, Escape clears it;
 * 1–7 relabel, x excludes, r restores (the selection if the focused image is in it, else the focused
 * image); u undoes this review's last decision; g shows or hides the focused image's Grad-CAM. The
 * batch toolbar acts on the selected images shown.
 */
import { h } from "../_shared";
import { option, type Grid } from "./view";

/** The toolbar of actions on the selection, and `update` (the count, the buttons' state, the tiles' aria-selected). */
export function batchToolbar(g: Grid): { el: HTMLElement; update(): void } {
  const { classes, state } = g;
  const selCount = h("span", { class: "rv-selcount" });
  const batchRelabel = h("select", { class: "rv-batch-relabel", "aria-label": "Relabel the selected images" },
    option("", "Relabel selected…", true), ...classes.map((c, i) => h("option", { value: c }, `${i + 1} ${c}`)));
  const batchExclude = h("button", { type: "button", class: "rv-batch-exclude" }, "Exclude selected");
  const batchRestore = h("button", { type: "button", class: "rv-batch-restore" }, "Restore selected");
  const batchClear = h("button", { type: "button", class: "rv-batch-clear" }, "Clear selection");
  const el = h("div", { class: "rv-bar rv-batch", role: "toolbar", "aria-label": "Actions on the selected images" }, selCount, batchRelabel, batchExclude, batchRestore, batchClear);
  const update = () => {
    for (const [path, t] of g.tiles) t.el.setAttribute("aria-selected", String(state.selected.has(path)));
    const n = state.selected.size;
    selCount.textContent = `${n} selected`;
    for (const b of [batchRelabel, batchExclude, batchRestore, batchClear]) b.disabled = n === 0 || (b !== batchClear && !g.canPost);
  };
  const selectedVisible = () => g.visible.filter((i) => state.selected.has(i.path)).map((i) => i.path);
  batchRelabel.addEventListener("change", () => {
    if (batchRelabel.value) g.send("relabel", selectedVisible(), batchRelabel.value);
    batchRelabel.value = "";
  });
  batchExclude.addEventListener("click", () => g.send("exclude", selectedVisible()));
  batchRestore.addEventListener("click", () => g.send("restore", selectedVisible()));
  batchClear.addEventListener("click", () => {
    state.selected.clear();
    g.updateSelection();
  });
  return { el, update };
}

function setFocus(g: Grid, path: string, move = true): void {
  const { state, tiles } = g;
  if (state.focus) tiles.get(state.focus)?.el.setAttribute("tabindex", "-1");
  state.focus = path;
  const t = tiles.get(path)!;
  t.el.tabIndex = 0;
  if (move) t.el.focus();
}

function selectRange(g: Grid, to: string): void {
  const { state, visible } = g;
  const from = state.anchor ?? to;
  const a = visible.findIndex((i) => i.path === from);
  const b = visible.findIndex((i) => i.path === to);
  const [lo, hi] = a < 0 ? [b, b] : [Math.min(a, b), Math.max(a, b)];
  state.selected = new Set(visible.slice(lo, hi + 1).map((i) => i.path));
}

/** The images a key acts on: the selection shown if the focused image is in it, else the focused image. */
function targets(g: Grid): string[] {
  const { state } = g;
  if (state.focus && state.selected.has(state.focus)) return g.visible.filter((i) => state.selected.has(i.path)).map((i) => i.path);
  return state.focus ? [state.focus] : [];
}

/** Tiles per row, as laid out now. */
function columns(g: Grid): number {
  const els = g.visible.map((i) => g.tiles.get(i.path)!.el);
  if (els.length < 2) return 1;
  const top = els[0].offsetTop;
  const n = els.findIndex((e) => e.offsetTop !== top);
  return n < 0 ? els.length : n;
}

/** Clicks and keys on the grid element. */
export function listenToGrid(g: Grid, grid: HTMLElement): void {
  const { state, classes } = g;
  grid.addEventListener("click", (ev) => {
    const target = ev.target as Element;
    if (target.closest("select, button")) return;
    const tileEl = target.closest(".rv-tile") as HTMLElement | null;
    if (!tileEl) return;
    const path = tileEl.dataset.path!;
    if (ev.shiftKey) selectRange(g, path);
    else if (ev.ctrlKey || ev.metaKey) {
      if (state.selected.has(path)) state.selected.delete(path);
      else state.selected.add(path);
      state.anchor = path;
    } else {
      state.selected = new Set([path]);
      state.anchor = path;
    }
    setFocus(g, path);
    g.updateSelection();
  });

  grid.addEventListener("keydown", (ev) => {
    const tileEl = ev.target as HTMLElement;
    if (!tileEl.classList?.contains("rv-tile")) return; // keys in a tile's select/button are theirs
    const visible = g.visible;
    const path = tileEl.dataset.path!;
    const at = visible.findIndex((i) => i.path === path);
    let next = at;
    const key = ev.key;
    switch (key) {
      case "ArrowLeft": next = Math.max(0, at - 1); break;
      case "ArrowRight": next = Math.min(visible.length - 1, at + 1); break;
      case "ArrowUp": next = Math.max(0, at - columns(g)); break;
      case "ArrowDown": next = Math.min(visible.length - 1, at + columns(g)); break;
      case "Home": next = 0; break;
      case "End": next = visible.length - 1; break;
      case " ":
        if (state.selected.has(path)) state.selected.delete(path);
        else state.selected.add(path);
        state.anchor = path;
        g.updateSelection();
        ev.preventDefault();
        return;
      case "Escape":
        if (!state.selected.size) return;
        state.selected.clear();
        g.updateSelection();
        ev.preventDefault();
        ev.stopPropagation();
        return;
      default: {
        if (ev.altKey || ((ev.ctrlKey || ev.metaKey) && key.toLowerCase() !== "a")) return;
        if ((ev.ctrlKey || ev.metaKey) && key.toLowerCase() === "a") {
          state.selected = new Set(visible.map((i) => i.path));
          g.updateSelection();
        } else if (/^[1-9]$/.test(key) && Number(key) <= classes.length) g.send("relabel", targets(g), classes[Number(key) - 1]);
        else if (key === "x" || key === "X") g.send("exclude", targets(g));
        else if (key === "r" || key === "R") g.send("restore", targets(g));
        else if (key === "u" || key === "U") g.undo();
        else if (key === "g" || key === "G") g.toggleCam(path);
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
      selectRange(g, to);
      g.updateSelection();
    }
    setFocus(g, to);
  });
}
