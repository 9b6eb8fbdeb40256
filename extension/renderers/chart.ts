/**
 * Notebook renderer (runs in the notebook webview) for `application/vnd.fernb.chart+json`: a
 * vega-lite spec drawn with vega-embed as SVG, in VS Code's theme colours (text, grid, series
 * colours from --vscode-editor-foreground, --vscode-charts-*, …). When the same output is rendered
 * again with a spec that differs only in its inline data (a live training curve), the existing
 * view's data is swapped in place instead of rebuilding the chart. When the theme changes, every
 * chart is drawn again with the new colours and its latest data (vega bakes colours into the SVG).
 */
import type { ActivationFunction } from "vscode-notebook-renderer";
import embed, { type Result, type VisualizationSpec } from "vega-embed";
import type { ChartPayload } from "../../protocol";
import { onThemeChange } from "./_shared";

const DATASET = "fernb";

interface ChartState {
  /** JSON of the spec without its inline data: same skeleton → data-only update. */
  skeleton: string;
  spec: Record<string, unknown>;
  /** The latest inline data, when the spec has it. */
  values?: unknown[];
  container: HTMLElement;
  result?: Result;
  /** JSON of the theme config it was drawn with. */
  config: string;
  /** Bumped by every draw, so a slower older draw does not replace a newer one. */
  generation: number;
}

const charts = new Map<string, ChartState>();

/** Splits inline `data.values` out of a spec so data-only updates can reuse the view. */
export function splitInlineData(spec: Record<string, unknown>): { skeleton: Record<string, unknown>; values?: unknown[] } {
  const data = spec.data as { values?: unknown } | undefined;
  if (data && Array.isArray(data.values) && Object.keys(data).length === 1) {
    return { skeleton: { ...spec, data: { name: DATASET } }, values: data.values };
  }
  return { skeleton: spec };
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** Series colours: VS Code's chart colours (the theme's), in the order of vega's category10. */
const CHART_COLORS: [string, string][] = [
  ["--vscode-charts-blue", "#1a85ff"],
  ["--vscode-charts-orange", "#d18616"],
  ["--vscode-charts-green", "#388a34"],
  ["--vscode-charts-red", "#e51400"],
  ["--vscode-charts-purple", "#652d90"],
  ["--vscode-charts-yellow", "#bf8803"],
];

/** vega config that follows the VS Code theme (light, dark, high contrast). */
export function themeConfig(): Record<string, unknown> {
  const fg = cssVar("--vscode-editor-foreground", "#333");
  const muted = cssVar("--vscode-descriptionForeground", fg);
  const grid = cssVar("--vscode-editorWidget-border", "#8884");
  const font = cssVar("--vscode-font-family", "sans-serif");
  const category = CHART_COLORS.map(([name, fallback]) => cssVar(name, fallback));
  const axis = { labelColor: fg, titleColor: fg, domainColor: muted, tickColor: muted, gridColor: grid, gridOpacity: 0.6, labelFont: font, titleFont: font };
  return {
    background: "transparent",
    axis,
    legend: { labelColor: fg, titleColor: fg, labelFont: font, titleFont: font },
    title: { color: fg, subtitleColor: muted, font, subtitleFont: font },
    header: { labelColor: fg, titleColor: fg, labelFont: font, titleFont: font },
    text: { color: fg },
    view: { stroke: grid },
    range: { category },
    mark: { color: category[0] },
  };
}

function showError(element: HTMLElement, message: string): void {
  element.replaceChildren();
  const div = document.createElement("div");
  div.className = "fernb-chart-error";
  div.style.color = cssVar("--vscode-errorForeground", "#c00");
  div.textContent = `fernb chart: ${message}`;
  element.append(div);
}

export const activate: ActivationFunction = () => ({
  async renderOutputItem(item, element) {
    let spec: ChartPayload;
    try {
      spec = item.json() as Record<string, unknown>;
      if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new Error("the output is not a vega-lite spec object");
    } catch (e) {
      showError(element, (e as Error).message);
      return;
    }
    const { skeleton, values } = splitInlineData(spec);
    const key = JSON.stringify(skeleton);
    const existing = charts.get(item.id);
    if (existing?.result && existing.skeleton === key && values && element.contains(existing.container) && existing.config === JSON.stringify(themeConfig())) {
      existing.values = values;
      // resize(): a data change can change the layout (e.g. the number of facet rows).
      await existing.result.view.data(DATASET, values).resize().runAsync();
      return;
    }
    existing?.result?.finalize();
    if (existing) existing.generation++;
    element.replaceChildren();
    const container = document.createElement("div");
    container.className = "fernb-chart";
    element.append(container);
    const state: ChartState = { skeleton: key, spec: skeleton, values, container, config: "", generation: 0 };
    charts.set(item.id, state);
    watchTheme();
    await draw(state, element);
  },
  disposeOutputItem(id) {
    for (const [key, chart] of charts) {
      if (id !== undefined && id !== key) continue;
      chart.generation++;
      chart.result?.finalize();
      charts.delete(key);
    }
    if (charts.size === 0) stopWatchingTheme();
  },
});

/** Draws (or draws again) a chart with the theme's current colours and its latest data. */
async function draw(state: ChartState, element: HTMLElement): Promise<void> {
  const generation = ++state.generation;
  const config = themeConfig();
  // The first render gets its data inline, so the initial layout is computed from it.
  const spec = state.values ? { ...state.spec, data: { name: DATASET, values: state.values } } : state.spec;
  const target = document.createElement("div");
  try {
    const result = await embed(target, spec as VisualizationSpec, { actions: false, renderer: "svg", config, mode: "vega-lite" });
    if (generation !== state.generation) {
      result.finalize();
      return;
    }
    state.result?.finalize();
    state.result = result;
    state.config = JSON.stringify(config);
    state.container.replaceChildren(target);
    state.container.dataset.ready = "true";
    state.container.dataset.theme = document.body.getAttribute("data-vscode-theme-kind") ?? "";
  } catch (e) {
    if (generation === state.generation) showError(element, (e as Error).message);
  }
}

let stopTheme: (() => void) | undefined;

/** One observer for all charts: on a theme switch, each chart whose colours changed is drawn again. */
function watchTheme(): void {
  stopTheme ??= onThemeChange(() => {
    const config = JSON.stringify(themeConfig());
    for (const state of charts.values()) {
      if (state.result && state.config !== config && state.container.isConnected) void draw(state, state.container.parentElement ?? state.container);
    }
  });
}

function stopWatchingTheme(): void {
  stopTheme?.();
  stopTheme = undefined;
}
