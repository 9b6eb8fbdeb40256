/**
 * Notebook renderer (runs in the notebook webview) for `application/vnd.fernb.chart+json`: a
 * vega-lite spec drawn with vega-embed as SVG, in VS Code's theme colours. When the same output is
 * rendered again with a spec that differs only in its inline data (a live training curve), the
 * existing view's data is swapped in place instead of rebuilding the chart.
 */
import type { ActivationFunction } from "vscode-notebook-renderer";
import embed, { type Result, type VisualizationSpec } from "vega-embed";
import type { ChartPayload } from "../../protocol";

const DATASET = "fernb";

interface ChartState {
  skeleton: string;
  result: Result;
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

/** vega config that follows the VS Code theme (light, dark, high contrast). */
function themeConfig(): Record<string, unknown> {
  const fg = cssVar("--vscode-editor-foreground", "#333");
  const grid = cssVar("--vscode-editorWidget-border", "#8884");
  const font = cssVar("--vscode-font-family", "sans-serif");
  const axis = { labelColor: fg, titleColor: fg, domainColor: fg, tickColor: fg, gridColor: grid, labelFont: font, titleFont: font };
  return {
    background: "transparent",
    axis,
    legend: { labelColor: fg, titleColor: fg, labelFont: font, titleFont: font },
    title: { color: fg, font },
    view: { stroke: grid },
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
    if (existing && existing.skeleton === key && values && element.contains(existing.result.view.container())) {
      // resize(): a data change can change the layout (e.g. the number of facet rows).
      await existing.result.view.data(DATASET, values).resize().runAsync();
      return;
    }
    existing?.result.finalize();
    element.replaceChildren();
    const container = document.createElement("div");
    container.className = "fernb-chart";
    element.append(container);
    try {
      // The first render gets its data inline, so the initial layout is computed from it.
      const initial = values ? { ...skeleton, data: { name: DATASET, values } } : skeleton;
      const result = await embed(container, initial as VisualizationSpec, {
        actions: false,
        renderer: "svg",
        config: themeConfig(),
        mode: "vega-lite",
      });
      charts.set(item.id, { skeleton: key, result });
      container.dataset.ready = "true";
    } catch (e) {
      showError(element, (e as Error).message);
    }
  },
  disposeOutputItem(id) {
    if (id === undefined) {
      charts.forEach((c) => c.result.finalize());
      charts.clear();
      return;
    }
    charts.get(id)?.result.finalize();
    charts.delete(id);
  },
});
