/**
 * The live training chart that `train` shows in a notebook (kernel/fer/train.ts, through
 * progress.ts liveChart): three plots, each with its own y scale, axis format and legend, so it reads
 * well from its first update:
 *   - loss (from 0, two decimals), series: train (running), train (epoch), validation;
 *   - accuracy (0–100%), series: the same plus validation macro-F1;
 *   - learning rate (from 0; 0.05, 0.002 or 3e-4 rather than six-decimal ticks), series: lr.
 * The x axis spans the whole run (epoch 0 to `epochs`, whole-epoch ticks) from the start, and every
 * point is drawn while there are few (a line through one point shows nothing); later only the
 * per-epoch series' points.
 * Colours are left to the renderer, which takes them from the editor's theme.
 */
import type { ChartPayload } from "../../protocol";

/** One row of the chart's data, as train.ts pushes them. */
export interface TrainingChartRow {
  epoch: number;
  metric: "loss" | "accuracy" | "learning rate";
  series: string;
  value: number;
}

const RUNNING = "train (running)";
const EPOCH = "train (epoch)";
const VALIDATION = "validation";

const PLOTS = [
  {
    metric: "loss",
    title: "loss",
    series: [RUNNING, EPOCH, VALIDATION],
    scale: { zero: true, nice: true },
    axis: { format: ".2~f" },
  },
  {
    metric: "accuracy",
    title: "accuracy",
    series: [RUNNING, EPOCH, VALIDATION, "validation macro-F1"],
    scale: { domain: [0, 1] },
    axis: { format: ".0%" },
  },
  {
    metric: "learning rate",
    title: "learning rate",
    series: ["lr"],
    scale: { zero: true, nice: true },
    // 0.05 and 0.002 as such, smaller ones as 3e-4: never "0.000120".
    axis: { labelExpr: "datum.value === 0 ? '0' : abs(datum.value) >= 0.001 ? format(datum.value, '.2~g') : format(datum.value, '.1~e')" },
  },
] as const;

/** Series with one value per epoch. */
const PER_EPOCH = [EPOCH, VALIDATION, "validation macro-F1"];

/** Below this many rows every point is drawn; above it, only the per-epoch series' points. */
const FEW_ROWS = 90;

export function trainingChartSpec(values: readonly object[], epochs: number): ChartPayload {
  const few = values.length <= FEW_ROWS;
  return {
    title: { text: "Training", anchor: "start" },
    data: { values },
    vconcat: PLOTS.map((p) => ({
      title: { text: p.title, anchor: "start", fontSize: 12, fontWeight: "normal" },
      width: 420,
      height: 100,
      transform: [{ filter: { field: "metric", equal: p.metric } }],
      encoding: {
        x: {
          field: "epoch",
          type: "quantitative",
          title: "epoch",
          scale: { domain: [0, Math.max(1, epochs)], nice: false },
          axis: { tickMinStep: 1, format: "d" },
        },
        y: { field: "value", type: "quantitative", title: null, scale: p.scale, axis: { tickCount: 4, ...p.axis } },
        color: { field: "series", type: "nominal", title: null, scale: { domain: p.series }, legend: { orient: "right", symbolType: "stroke" } },
      },
      layer: [
        { mark: { type: "line", strokeWidth: 1.5, interpolate: "linear" } },
        {
          mark: { type: "point", filled: true, size: 24 },
          // Many rows: points only for the per-epoch series (a few dozen), not the running ones.
          ...(few ? {} : { transform: [{ filter: { field: "series", oneOf: PER_EPOCH } }] }),
        },
      ],
    })),
    spacing: 18,
    resolve: { scale: { y: "independent", color: "independent" }, legend: { color: "independent" } },
  };
}
