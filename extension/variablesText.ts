/** The variables view's text (extension/variablesView.ts), without VS Code, so it is unit-tested. */
import type { VariableInfo } from "../protocol";

/** 1234567 → "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** The one-line description of a variable beside its name. */
export function describeVariable(v: VariableInfo): string {
  if (v.tensor) return `${v.type} ${v.tensor.dtype} [${v.tensor.shape.join(", ")}] · ${formatBytes(v.tensor.bytes)}${v.tensor.disposed ? " · disposed" : ""}`;
  if (v.model) return `${v.type} · ${v.model.parameters.toLocaleString("en-US")} parameters · ${formatBytes(v.model.bytes)}`;
  const tensors = v.tensors ? ` · ${v.tensors.count} tensor${v.tensors.count === 1 ? "" : "s"}, ${formatBytes(v.tensors.bytes)}` : "";
  return `${v.type}${tensors} · ${v.preview}`;
}
