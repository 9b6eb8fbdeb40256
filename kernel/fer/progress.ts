/**
 * Progress of long work (training, k-fold audits, evaluation). In a notebook it is a progress bar
 * with ETA and a live chart, both updated in place; from a script, the same events print as lines.
 * The kernel process registers the notebook's `display` and interrupt signal here at start-up.
 */
import type { Display, DisplayHandle } from "../display";

let notebookDisplay: Display | undefined;
let lineWriter: (line: string) => void = (line) => process.stdout.write(line + "\n");

/** Where progress lines go outside notebooks (the CLI sends them to stderr, keeping stdout for results). */
export function setLineWriter(write: (line: string) => void): void {
  lineWriter = write;
}
let interruptSignal: (() => AbortSignal | undefined) | undefined;

/** Called by the kernel process: library code then shows progress as notebook outputs. */
export function attachNotebook(display: Display, signal: () => AbortSignal | undefined): void {
  notebookDisplay = display;
  interruptSignal = signal;
}

/** The running cell's interrupt signal inside a notebook, else undefined. */
export function currentSignal(): AbortSignal | undefined {
  return interruptSignal?.();
}

export function inNotebook(): boolean {
  return notebookDisplay !== undefined;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** Estimates time left from the average rate of the work done so far in this run. */
export class Eta {
  private readonly start = Date.now();
  constructor(
    private readonly total: number,
    private readonly doneAtStart = 0,
  ) {}

  secondsLeft(done: number): number {
    const elapsed = (Date.now() - this.start) / 1000;
    const progressed = done - this.doneAtStart;
    if (progressed <= 0) return NaN;
    return (elapsed / progressed) * (this.total - done);
  }

  get elapsedSeconds(): number {
    return (Date.now() - this.start) / 1000;
  }
}

export interface ProgressBar {
  /** Updates the bar: `done` of `total`, with a status line. Throttled. */
  update(done: number, status: string, force?: boolean): void;
  finish(status: string): void;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/**
 * A progress bar: an HTML output updated in place in a notebook, or a line printed at most every
 * `lineIntervalMs` from a script.
 */
export function progressBar(title: string, total: number, options: { doneAtStart?: number; lineIntervalMs?: number; write?: (line: string) => void } = {}): ProgressBar {
  const eta = new Eta(total, options.doneAtStart ?? 0);
  const write = options.write ?? ((line: string) => lineWriter(line));
  let last = 0;
  let handle: DisplayHandle<string> | undefined;
  let lastDone = options.doneAtStart ?? 0;
  let lastStatus = "";
  let stopped = false;
  const render = (done: number, status: string, final: boolean | "interrupted") => {
    const pct = total > 0 ? Math.min(100, (100 * done) / total) : 100;
    const left = eta.secondsLeft(done);
    const timing =
      final === "interrupted"
        ? `interrupted at ${done}/${total} after ${formatDuration(eta.elapsedSeconds)}`
        : final
          ? `took ${formatDuration(eta.elapsedSeconds)}`
          : `elapsed ${formatDuration(eta.elapsedSeconds)} · ETA ${formatDuration(left)}`;
    if (notebookDisplay) {
      const html =
        `<div class="fernb-progress" style="font-family: var(--vscode-editor-font-family, monospace); font-size: 12px">` +
        `<div><b>${escapeHtml(title)}</b> ${done}/${total} (${pct.toFixed(0)}%) · ${escapeHtml(timing)}</div>` +
        `<progress max="${total}" value="${done}" style="width: 100%"></progress>` +
        `<div>${escapeHtml(status)}</div></div>`;
      if (handle) handle.update(html);
      else handle = notebookDisplay.html(html);
    } else {
      write(`${title} ${done}/${total} (${pct.toFixed(0)}%) ${status} · ${timing}`);
    }
  };
  // When the cell is interrupted the bar says where it stopped, at once (before the cell's
  // "Interrupted" error), and is not redrawn afterwards.
  const signal = currentSignal();
  signal?.addEventListener(
    "abort",
    () => {
      if (stopped) return;
      stopped = true;
      render(lastDone, lastStatus, "interrupted");
    },
    { once: true },
  );
  return {
    update(done, status, force = false) {
      if (stopped) return;
      lastDone = done;
      lastStatus = status;
      const now = Date.now();
      const interval = notebookDisplay ? 1000 : (options.lineIntervalMs ?? 30000);
      if (!force && now - last < interval) return;
      last = now;
      render(done, status, false);
    },
    finish(status) {
      if (stopped) return;
      stopped = true;
      render(total, status, true);
    },
  };
}

/** A vega-lite chart shown once and redrawn in place (notebook only; no-op from scripts). */
export function liveChart(spec: (values: object[]) => object, minIntervalMs = 2000): { push(rows: object[], force?: boolean): void } {
  const values: object[] = [];
  let handle: DisplayHandle<object> | undefined;
  let last = 0;
  return {
    push(rows, force = false) {
      values.push(...rows);
      if (!notebookDisplay || currentSignal()?.aborted) return;
      const now = Date.now();
      if (!force && handle && now - last < minIntervalMs) return;
      last = now;
      if (handle) handle.update(spec(values));
      else handle = notebookDisplay.chart(spec(values));
    },
  };
}

/**
 * Prints a line: as cell output in a notebook, through the line writer from a script. Not after
 * the cell was interrupted: library work that winds down after an interrupt (the rest of a
 * validation pass) does not report on the work the user stopped.
 */
export function info(line: string): void {
  if (currentSignal()?.aborted) return;
  if (notebookDisplay) process.stdout.write(line + "\n");
  else lineWriter(line);
}
