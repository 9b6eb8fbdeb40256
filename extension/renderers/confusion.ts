/**
 * Notebook renderer for `application/vnd.fernb.confusion+json`: a confusion matrix as an accessible
 * HTML heat-map table (rows = true class, columns = predicted class) with row/column totals, a
 * counts ↔ row-normalised % toggle, and, per cell, a grid of the example faces the kernel sent.
 *
 * Keyboard: the matrix is one tab stop (roving tabindex); arrow keys, Home/End (Ctrl+Home/End)
 * move between cells; Enter/Space open or close a cell's faces; Escape closes them.
 * Colours follow the VS Code theme through its CSS variables and are recomputed on theme change.
 */
import type { ActivationFunction } from "vscode-notebook-renderer";
import type { ConfusionPayload } from "../../protocol";
import {
  BASE_CSS,
  PayloadError,
  basename,
  cssRgb,
  disposeViews,
  expectArray,
  expectClasses,
  expectInt,
  expectNumber,
  expectObject,
  expectString,
  h,
  isImageDataUrl,
  mix,
  onThemeChange,
  optionalNumber,
  optionalString,
  over,
  percent,
  probability,
  readJson,
  readableText,
  resolveColor,
  showError,
  uniqueId,
} from "./_shared";

// ConfusionPayload is declared in protocol/payloads.ts, which the kernel's producer
// (kernel/fer/evaluate.ts confusionPayload) uses too.

/** Checks the payload's shape; throws a PayloadError naming the first problem. */
export function validateConfusion(raw: unknown): ConfusionPayload {
  const p = expectObject(raw, "the payload");
  const classes = expectClasses(p.classes);
  const k = classes.length;
  const rows = expectArray(p.counts, "counts");
  if (rows.length !== k) throw new PayloadError(`counts has ${rows.length} rows but there are ${k} classes`);
  const counts = rows.map((row, i) => {
    const r = expectArray(row, `counts[${i}]`);
    if (r.length !== k) throw new PayloadError(`counts[${i}] has ${r.length} columns but there are ${k} classes`);
    return r.map((v, j) => expectInt(v, `counts[${i}][${j}]`));
  });
  const out: ConfusionPayload = {
    title: optionalString(p.title, "title"),
    classes,
    counts,
    n: expectInt(p.n, "n"),
    accuracy: optionalNumber(p.accuracy, "accuracy", 0, 1),
    macroF1: optionalNumber(p.macroF1, "macroF1", 0, 1),
  };
  if (p.examples !== undefined && p.examples !== null) {
    const ex = expectObject(p.examples, "examples");
    out.examples = {};
    for (const [key, list] of Object.entries(ex)) {
      const where = `examples["${key}"]`;
      const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(key);
      if (!m || Number(m[1]) >= k || Number(m[2]) >= k) throw new PayloadError(`${where}: the key must be "true,predicted" with class indices below ${k}`);
      out.examples[`${Number(m[1])},${Number(m[2])}`] = expectArray(list, where).map((e, i) => {
        const o = expectObject(e, `${where}[${i}]`);
        // A missing or non-data: thumbnail is drawn as a placeholder (the webview must not fetch URLs).
        const thumb = o.thumb === undefined || o.thumb === null ? "" : expectString(o.thumb, `${where}[${i}].thumb`);
        const probs = o.probs === undefined || o.probs === null ? undefined : expectArray(o.probs, `${where}[${i}].probs`).map((v, j) => expectNumber(v, `${where}[${i}].probs[${j}]`));
        return { path: expectString(o.path, `${where}[${i}].path`), thumb, confidence: probability(o.confidence, `${where}[${i}].confidence`), probs };
      });
    }
  }
  return out;
}

const CSS = `
.fernb-cm { ${BASE_CSS} }
.fernb-cm .cm-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; margin: 2px 0 8px; }
.fernb-cm .cm-title { font-weight: 600; }
.fernb-cm .cm-stats { opacity: 0.85; font-variant-numeric: tabular-nums; }
.fernb-cm button { font: inherit; cursor: pointer; border-radius: 2px; padding: 2px 8px;
  color: var(--vscode-button-secondaryForeground, var(--vscode-editor-foreground, #333));
  background: var(--vscode-button-secondaryBackground, transparent);
  border: 1px solid var(--vscode-button-border, var(--vscode-contrastBorder, var(--vscode-editorWidget-border, #8888))); }
.fernb-cm button[aria-pressed="true"] { color: var(--vscode-button-foreground, #fff); background: var(--vscode-button-background, #0e639c); }
.fernb-cm button:focus-visible, .fernb-cm td.cm-cell:focus-visible { outline: 2px solid var(--vscode-focusBorder, #0078d4); outline-offset: -2px; }
.fernb-cm td.cm-cell:focus { outline: 2px solid var(--vscode-focusBorder, #0078d4); outline-offset: -2px; }
.fernb-cm .cm-scroll { overflow-x: auto; }
.fernb-cm table { border-collapse: separate; border-spacing: 2px; font-variant-numeric: tabular-nums; }
.fernb-cm th { font-weight: normal; opacity: 0.9; padding: 2px 6px; white-space: nowrap; }
.fernb-cm thead th[scope="col"] { text-align: center; vertical-align: bottom; }
.fernb-cm tbody th[scope="row"], .fernb-cm tfoot th { text-align: right; }
.fernb-cm .cm-axis { font-weight: 600; opacity: 1; }
.fernb-cm .cm-axis-y { writing-mode: vertical-rl; transform: rotate(180deg); text-align: center; padding: 2px; }
.fernb-cm td { text-align: center; padding: 0 6px; min-width: 3.6em; height: 2.2em; border-radius: 2px; }
.fernb-cm td.cm-cell { border: 1px solid var(--vscode-contrastBorder, transparent); }
.fernb-cm td.cm-diag { font-weight: 600; }
.fernb-cm td.cm-zero { opacity: 0.75; }
.fernb-cm td.cm-clickable { cursor: pointer; }
.fernb-cm td.cm-clickable:hover { box-shadow: inset 0 0 0 1px var(--vscode-editor-foreground, #333); }
.fernb-cm td.cm-open { box-shadow: inset 0 0 0 2px var(--vscode-editor-foreground, #333); }
.fernb-cm td.cm-total { opacity: 0.85; font-style: italic; }
.fernb-cm .cm-hint { margin: 4px 0 0; opacity: 0.7; font-size: 0.92em; }
.fernb-cm .cm-faces { margin-top: 8px; padding: 8px; border-radius: 3px;
  border: 1px solid var(--vscode-editorWidget-border, var(--vscode-contrastBorder, #8886)); }
.fernb-cm .cm-faces-head { display: flex; align-items: baseline; gap: 8px; margin-bottom: 6px; }
.fernb-cm .cm-faces-head .cm-note { opacity: 0.8; flex: 1; }
.fernb-cm .cm-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(92px, 1fr)); gap: 8px; }
.fernb-cm figure { margin: 0; text-align: center; font-size: 0.92em; }
.fernb-cm figure img { width: 72px; height: 72px; object-fit: contain; image-rendering: pixelated; display: block; margin: 0 auto 2px;
  background: var(--vscode-editorWidget-background, #8882); }
.fernb-cm .cm-noimg { width: 72px; height: 72px; margin: 0 auto 2px; display: flex; align-items: center; justify-content: center;
  font-size: 0.85em; opacity: 0.7; border: 1px dashed var(--vscode-editorWidget-border, #8888); }
.fernb-cm figcaption { display: flex; flex-direction: column; line-height: 1.25; }
.fernb-cm .cm-conf { font-variant-numeric: tabular-nums; opacity: 0.85; }
`;

interface ViewState {
  percent: boolean;
  open: string | null;
  focus: [number, number];
}

const views = new Map<string, { state: ViewState; dispose: () => void }>();

function formatCell(count: number, rowTotal: number, asPercent: boolean): string {
  if (!asPercent) return String(count);
  if (rowTotal === 0) return "–";
  const v = (count / rowTotal) * 100;
  return v === 0 ? "0%" : v === 100 ? "100%" : `${v.toFixed(1)}%`;
}

function render(payload: ConfusionPayload, element: HTMLElement, state: ViewState): () => void {
  const { classes, counts, examples } = payload;
  const k = classes.length;
  const rowTotals = counts.map((r) => r.reduce((a, b) => a + b, 0));
  const colTotals = classes.map((_, j) => counts.reduce((a, r) => a + r[j], 0));
  const total = rowTotals.reduce((a, b) => a + b, 0);
  const hasFaces = examples !== undefined;
  const clickable = (i: number, j: number) => hasFaces && counts[i][j] > 0;
  const headId = uniqueId("fernb-cm-head");
  const facesId = uniqueId("fernb-cm-faces");

  // Header: title, n / accuracy / macro-F1, counts ↔ % toggle.
  const stats = [`n = ${payload.n}`];
  if (payload.n !== total) stats.push(`matrix total ${total}`);
  if (payload.accuracy !== undefined) stats.push(`accuracy ${(payload.accuracy * 100).toFixed(1)}%`);
  if (payload.macroF1 !== undefined) stats.push(`macro-F1 ${payload.macroF1.toFixed(3)}`);
  const toggle = h("button", { type: "button", class: "cm-toggle", "aria-pressed": String(state.percent), title: "Show each row as percentages of its true class" }, "Row-normalised %");
  const head = h("div", { class: "cm-head", id: headId },
    h("span", { class: "cm-title" }, payload.title ?? "Confusion matrix"),
    h("span", { class: "cm-stats" }, stats.join(" · ")),
    toggle);

  // Table.
  const cells: HTMLTableCellElement[][] = [];
  const table = h("table", { class: "cm-table", role: "grid", "aria-labelledby": headId, "aria-readonly": "true" });
  const thead = h("thead", {},
    h("tr", {}, h("td", { colspan: 2 }), h("th", { scope: "colgroup", colspan: k, class: "cm-axis" }, "predicted class"), h("td", {})),
    h("tr", {}, h("td", { colspan: 2 }), ...classes.map((c) => h("th", { scope: "col" }, c)), h("th", { scope: "col", class: "cm-total-head" }, "total")));
  const tbody = h("tbody");
  counts.forEach((row, i) => {
    const tr = h("tr");
    if (i === 0) tr.append(h("th", { scope: "rowgroup", rowspan: k, class: "cm-axis cm-axis-y" }, "true class"));
    tr.append(h("th", { scope: "row" }, classes[i]));
    cells.push(row.map((count, j) => {
      const td = h("td", {
        class: `cm-cell${i === j ? " cm-diag" : ""}${count === 0 ? " cm-zero" : ""}${clickable(i, j) ? " cm-clickable" : ""}`,
        tabindex: "-1",
        "data-row": i,
        "data-col": j,
      });
      tr.append(td);
      return td;
    }));
    tr.append(h("td", { class: "cm-total", "data-row-total": i }, String(rowTotals[i])));
    tbody.append(tr);
  });
  const tfoot = h("tfoot", {},
    h("tr", {}, h("td", {}), h("th", { scope: "row" }, "total"),
      ...colTotals.map((t, j) => h("td", { class: "cm-total", "data-col-total": j }, String(t))),
      h("td", { class: "cm-total cm-grand" }, String(total))));
  table.append(thead, tbody, tfoot);

  const hint = hasFaces ? h("p", { class: "cm-hint" }, "Click a cell, or focus it and press Enter, to see its faces. Arrow keys move between cells; Escape closes.") : null;
  const faces = h("div", { class: "cm-faces", id: facesId, role: "region", hidden: true });
  const root = h("div", { class: "fernb-cm" }, h("style", {}, CSS), head, h("div", { class: "cm-scroll" }, table), hint, faces);

  function updateText(): void {
    toggle.setAttribute("aria-pressed", String(state.percent));
    cells.forEach((row, i) => row.forEach((td, j) => {
      const count = counts[i][j];
      td.textContent = formatCell(count, rowTotals[i], state.percent);
      const share = rowTotals[i] ? ` (${((count / rowTotals[i]) * 100).toFixed(1)}% of true ${classes[i]})` : "";
      td.setAttribute("aria-label", `true ${classes[i]}, predicted ${classes[j]}: ${count}${share}`);
      if (clickable(i, j)) {
        td.setAttribute("aria-expanded", String(state.open === `${i},${j}`));
        td.setAttribute("aria-controls", facesId);
      }
      td.classList.toggle("cm-open", state.open === `${i},${j}`);
    }));
  }

  /** Heat colours from the theme: accent (charts-blue) mixed into the background by the row share. */
  function paint(): void {
    const bg = over(resolveColor(root, "var(--vscode-editor-background, #ffffff)"), [255, 255, 255, 1]);
    const fg = over(resolveColor(root, "var(--vscode-editor-foreground, #333333)"), bg);
    const accent = over(resolveColor(root, "var(--vscode-charts-blue, #1a85ff)"), bg);
    cells.forEach((row, i) => row.forEach((td, j) => {
      const share = rowTotals[i] ? counts[i][j] / rowTotals[i] : 0;
      const fill = counts[i][j] === 0 ? mix(bg, fg, 0.05) : mix(bg, accent, 0.12 + 0.88 * share);
      td.style.background = cssRgb(fill);
      td.style.color = cssRgb(readableText(fill, fg));
    }));
  }

  function setFocus(i: number, j: number, move = true): void {
    const [pi, pj] = state.focus;
    cells[pi][pj].tabIndex = -1;
    state.focus = [i, j];
    cells[i][j].tabIndex = 0;
    if (move) cells[i][j].focus();
  }

  function showFaces(): void {
    faces.replaceChildren();
    if (state.open === null) {
      faces.hidden = true;
      return;
    }
    const [i, j] = state.open.split(",").map(Number);
    const list = [...(examples?.[state.open] ?? [])].sort((a, b) => b.confidence - a.confidence);
    const label = `${classes[i]} → ${classes[j]}`;
    const total = counts[i][j];
    const note = list.length === 0
      ? `no example faces were sent for this cell (${total} face${total === 1 ? "" : "s"})`
      : list.length < total ? `showing ${list.length} of ${total}, most confident first` : `all ${list.length}, most confident first`;
    faces.setAttribute("aria-label", `Faces with true class ${classes[i]} predicted as ${classes[j]}`);
    const close = h("button", { type: "button", class: "cm-close", "aria-label": "Close faces (Escape)", title: "Close (Escape)" }, "Close");
    close.addEventListener("click", () => closeFaces(true));
    faces.append(h("div", { class: "cm-faces-head" }, h("strong", {}, label), h("span", { class: "cm-note" }, note), close));
    if (list.length) {
      faces.append(h("div", { class: "cm-grid" }, ...list.map((e) =>
        h("figure", { class: "cm-face", title: e.path },
          isImageDataUrl(e.thumb)
            ? h("img", { src: e.thumb, alt: `${label}, ${percent(e.confidence)} confident: ${basename(e.path)}`, loading: "lazy", decoding: "async" })
            : h("div", { class: "cm-noimg", role: "img", "aria-label": `no image: ${basename(e.path)}` }, "no image"),
          h("figcaption", {}, h("span", { class: "cm-label" }, label), h("span", { class: "cm-conf" }, percent(e.confidence)))))));
    }
    faces.hidden = false;
  }

  function toggleCell(i: number, j: number): void {
    if (!clickable(i, j)) return;
    const key = `${i},${j}`;
    state.open = state.open === key ? null : key;
    updateText();
    showFaces();
  }

  function closeFaces(refocus: boolean): void {
    if (state.open === null) return;
    const [i, j] = state.open.split(",").map(Number);
    state.open = null;
    updateText();
    showFaces();
    if (refocus) setFocus(i, j);
  }

  toggle.addEventListener("click", () => {
    state.percent = !state.percent;
    updateText();
  });
  tbody.addEventListener("click", (ev) => {
    const td = (ev.target as Element).closest("td.cm-cell") as HTMLTableCellElement | null;
    if (!td) return;
    const i = Number(td.dataset.row);
    const j = Number(td.dataset.col);
    setFocus(i, j);
    toggleCell(i, j);
  });
  tbody.addEventListener("keydown", (ev) => {
    const td = (ev.target as Element).closest("td.cm-cell") as HTMLTableCellElement | null;
    if (!td) return;
    let [i, j] = [Number(td.dataset.row), Number(td.dataset.col)];
    switch (ev.key) {
      case "ArrowUp": i = Math.max(0, i - 1); break;
      case "ArrowDown": i = Math.min(k - 1, i + 1); break;
      case "ArrowLeft": j = Math.max(0, j - 1); break;
      case "ArrowRight": j = Math.min(k - 1, j + 1); break;
      case "Home": j = 0; if (ev.ctrlKey) i = 0; break;
      case "End": j = k - 1; if (ev.ctrlKey) i = k - 1; break;
      case "Enter": case " ": ev.preventDefault(); toggleCell(i, j); return;
      default: return;
    }
    ev.preventDefault();
    setFocus(i, j);
  });
  root.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape" || state.open === null) return;
    ev.preventDefault();
    ev.stopPropagation();
    closeFaces(true);
  });

  const [fi, fj] = state.focus[0] < k && state.focus[1] < k ? state.focus : [0, 0];
  state.focus = [fi, fj];
  cells[fi][fj].tabIndex = 0;
  if (state.open !== null && !clickable(...(state.open.split(",").map(Number) as [number, number]))) state.open = null;
  updateText();
  showFaces();
  element.replaceChildren(root);
  paint();
  return onThemeChange(paint);
}

export const activate: ActivationFunction = () => ({
  renderOutputItem(item, element) {
    const previous = views.get(item.id);
    previous?.dispose();
    views.delete(item.id);
    try {
      const payload = validateConfusion(readJson(item));
      const state = previous?.state ?? { percent: false, open: null, focus: [0, 0] };
      views.set(item.id, { state, dispose: render(payload, element, state) });
    } catch (e) {
      showError(element, "confusion matrix", e);
    }
  },
  disposeOutputItem(id) {
    disposeViews(views, id);
  },
});
