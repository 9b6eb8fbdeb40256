/**
 * What the status bar says about a notebook's FER Kernel: its state in the text, the backend and
 * the kernel's memory in the tooltip, a warning icon when the backend reports a missing fast path.
 * Free of the `vscode` API so unit tests check the words.
 */
import type { KernelState } from "./kernelClient";

export interface KernelStatusInput {
  state: KernelState;
  /** The backend line of the kernel's ready message ("wasm: WebAssembly (SIMD, 2 threads) — fast path missing: …"). */
  backend?: string;
  pid?: number;
  /** Resident memory of the kernel process, in bytes. */
  rssBytes?: number;
  /** How a dead kernel ended ("exit code 1"). */
  crash?: string;
}

export interface KernelStatusView {
  text: string;
  /** Plain text, one fact a line. */
  tooltip: string;
  /** True when the backend runs without its fast path (the icon is a warning). */
  warning: boolean;
}

/** The "fast path missing: …" notice of a backend line (kernel/fer/backend.ts fastPathMissing), if any. */
export function fastPathNotice(backend: string | undefined): string | undefined {
  return backend ? /fast path missing:.*$/s.exec(backend)?.[0] : undefined;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(0)} MB`;
  return `${Math.round(bytes / 1024)} kB`;
}

const ICONS: Record<KernelState, string> = {
  "not started": "$(circle-outline)",
  starting: "$(loading~spin)",
  idle: "$(circle-outline)",
  busy: "$(circle-filled)",
  "not responding": "$(error)",
  dead: "$(error)",
};

export function describeKernelStatus(input: KernelStatusInput): KernelStatusView {
  const notice = input.state === "not started" || input.state === "dead" ? undefined : fastPathNotice(input.backend);
  const lines: string[] = [];
  switch (input.state) {
    case "not started":
      lines.push("FER Kernel: not started. It starts when you run a cell.");
      break;
    case "starting":
      lines.push("FER Kernel: starting (loading TensorFlow.js and choosing its backend)…");
      break;
    case "idle":
      lines.push("FER Kernel: idle, ready for the next cell.");
      break;
    case "busy":
      lines.push("FER Kernel: busy running a cell.");
      break;
    case "not responding":
      lines.push("FER Kernel: not responding. A cell did not stop after an interrupt; restart the kernel (its variables will be lost).");
      break;
    case "dead":
      lines.push(`FER Kernel: dead (the process stopped: ${input.crash ?? "unknown reason"}). The next run starts a fresh kernel; variables from before are gone.`);
      break;
  }
  if (input.backend && input.state !== "not started" && input.state !== "dead") {
    const backend = notice ? input.backend.slice(0, input.backend.indexOf(notice)).replace(/\s*—\s*$/, "") : input.backend;
    lines.push(`Backend: ${backend}`);
  }
  if (notice) lines.push(`⚠ ${notice[0].toUpperCase()}${notice.slice(1)}`);
  if (input.pid !== undefined && input.state !== "not started" && input.state !== "dead") {
    lines.push(`Memory: ${input.rssBytes !== undefined ? `${formatBytes(input.rssBytes)} (resident, kernel process ${input.pid})` : `unknown (kernel process ${input.pid})`}`);
  }
  lines.push("Click for restart, interrupt and the kernel's log.");
  const icon = notice ? "$(warning)" : ICONS[input.state];
  return { text: `${icon} FER: ${input.state}`, tooltip: lines.join("\n"), warning: notice !== undefined };
}
