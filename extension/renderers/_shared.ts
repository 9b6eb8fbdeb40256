/**
 * Helpers shared by the fernb notebook renderers (bundled into each renderer; not an entry point):
 * payload validation, DOM building without innerHTML, theme colours resolved from VS Code's CSS
 * variables, and number formatting.
 */

/** A payload that does not have the documented shape; its message is shown in the output. */
export class PayloadError extends Error {}

export type Json = Record<string, unknown>;

export function expectObject(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PayloadError(`${where} must be an object`);
  return value as Json;
}

export function expectArray(value: unknown, where: string, minLength = 0): unknown[] {
  if (!Array.isArray(value)) throw new PayloadError(`${where} must be an array`);
  if (value.length < minLength) throw new PayloadError(`${where} must have at least ${minLength} element(s)`);
  return value;
}

export function expectString(value: unknown, where: string): string {
  if (typeof value !== "string") throw new PayloadError(`${where} must be a string`);
  return value;
}

export function optionalString(value: unknown, where: string): string | undefined {
  return value === undefined || value === null ? undefined : expectString(value, where);
}

export function expectNumber(value: unknown, where: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new PayloadError(`${where} must be a finite number`);
  if (value < min || value > max) throw new PayloadError(`${where} must be between ${min} and ${max} (got ${value})`);
  return value;
}

export function optionalNumber(value: unknown, where: string, min = -Infinity, max = Infinity): number | undefined {
  return value === undefined || value === null ? undefined : expectNumber(value, where, min, max);
}

/** A probability in [0, 1], tolerating float round-off just outside (clamped). */
export function probability(value: unknown, where: string): number {
  return Math.max(0, Math.min(1, expectNumber(value, where, -1e-6, 1 + 1e-6)));
}

export function expectInt(value: unknown, where: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = expectNumber(value, where, min, max);
  if (!Number.isInteger(n)) throw new PayloadError(`${where} must be an integer (got ${n})`);
  return n;
}

export function expectClasses(value: unknown, where = "classes"): string[] {
  return expectArray(value, where, 1).map((c, i) => expectString(c, `${where}[${i}]`));
}

/** Reads an output item's JSON; a parse failure becomes a PayloadError. */
export function readJson(item: { json(): unknown }): unknown {
  try {
    return item.json();
  } catch (e) {
    throw new PayloadError(`the output is not valid JSON (${(e as Error).message})`);
  }
}

/** `data:image/...;base64,` URLs only, so a payload cannot make the webview fetch anything. */
export function isImageDataUrl(value: string): boolean {
  return /^data:image\/(png|jpeg|jpg|gif|webp|bmp);base64,[A-Za-z0-9+/=\s]*$/.test(value);
}

export function decodeBase64(value: string, where: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(value.replace(/\s+/g, ""));
  } catch {
    throw new PayloadError(`${where} is not valid base64`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

type Child = Node | string | null | undefined | false;

/** Creates an element; `attrs` keys starting with "on" are listeners, others are attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | EventListener | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

let uid = 0;
/** A document-unique id (several outputs share one webview document). */
export function uniqueId(prefix: string): string {
  return `${prefix}-${++uid}`;
}

/** Replaces the element's content with a readable error; never throws. */
export function showError(element: HTMLElement, renderer: string, error: unknown): void {
  const message = error instanceof PayloadError ? `malformed payload: ${error.message}` : `${(error as Error)?.message ?? String(error)}`;
  const div = document.createElement("div");
  div.className = "fernb-error";
  div.setAttribute("role", "alert");
  div.style.cssText =
    "color: var(--vscode-errorForeground, #c72e0f); font-family: var(--vscode-font-family, sans-serif); padding: 4px 0; white-space: pre-wrap;";
  div.textContent = `fernb ${renderer}: ${message}`;
  element.replaceChildren(div);
}

export type Rgba = [number, number, number, number];

/** Resolves any CSS colour expression (e.g. `var(--vscode-charts-blue, #3794ff)`) to RGBA 0..255 / 0..1. */
export function resolveColor(context: HTMLElement, css: string): Rgba {
  const probe = document.createElement("span");
  probe.style.display = "none";
  probe.style.color = css;
  context.append(probe);
  const value = getComputedStyle(probe).color;
  probe.remove();
  const m = value.match(/rgba?\(([^)]+)\)/);
  if (!m) return [0, 0, 0, 1];
  const parts = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
  return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
}

/** a·(1-t) + b·t per channel. */
export function mix(a: Rgba, b: Rgba, t: number): Rgba {
  return [0, 1, 2].map((i) => Math.round(a[i] * (1 - t) + b[i] * t)).concat(1) as Rgba;
}

/** Composites a possibly translucent colour over an opaque one. */
export function over(top: Rgba, bottom: Rgba): Rgba {
  return mix(bottom, top, top[3]);
}

export function cssRgb(c: Rgba): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function luminance(c: Rgba): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
}

/** WCAG contrast ratio (1..21). */
export function contrast(a: Rgba, b: Rgba): number {
  const la = luminance(a);
  const lb = luminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** The theme's foreground when it reads well on `bg` (≥ 4.5:1), else black or white, whichever reads better. */
export function readableText(bg: Rgba, fg: Rgba): Rgba {
  if (contrast(bg, fg) >= 4.5) return fg;
  const black: Rgba = [0, 0, 0, 1];
  const white: Rgba = [255, 255, 255, 1];
  return contrast(bg, black) >= contrast(bg, white) ? black : white;
}

/**
 * Calls `callback` (once per frame at most) when VS Code switches theme: it rewrites the CSS
 * variables in the style attribute of <html> and the theme class of <body>. Returns a disposer.
 */
export function onThemeChange(callback: () => void): () => void {
  let pending = 0;
  const observer = new MutationObserver(() => {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      callback();
    });
  });
  for (const target of [document.documentElement, document.body]) {
    observer.observe(target, { attributes: true, attributeFilter: ["style", "class", "data-vscode-theme-kind"] });
  }
  return () => {
    observer.disconnect();
    if (pending) cancelAnimationFrame(pending);
  };
}

/** 0.8312 → "83%", 0.004 → "0.4%", 0 → "0%". */
export function percent(p: number): string {
  const v = p * 100;
  if (v === 0) return "0%";
  if (Math.abs(v) < 1) return `${v.toFixed(1)}%`;
  return `${Math.round(v)}%`;
}

/** Last path segment, for compact labels (the full path goes into tooltips). */
export function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** Shared base styles: theme font and colours, with fallbacks outside VS Code. */
export const BASE_CSS = `
  font-family: var(--vscode-font-family, system-ui, sans-serif);
  font-size: var(--vscode-font-size, 13px);
  color: var(--vscode-editor-foreground, #333);
`;
