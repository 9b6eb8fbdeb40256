/**
 * Helpers shared by the fernb notebook renderers (bundled into each renderer; not an entry point):
 * payload validation, DOM building without innerHTML, theme colours resolved from VS Code's CSS
 * variables, number formatting, and the heat-map colour maps and blending (Grad-CAM overlays).
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

/** Disposes and forgets the view of output `id`, or every view when `id` is undefined (renderer disposeOutputItem). */
export function disposeViews(views: Map<string, { dispose(): void }>, id: string | undefined): void {
  for (const [key, view] of views) {
    if (id === undefined || id === key) {
      view.dispose();
      views.delete(key);
    }
  }
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
 * variables in the style attribute of <html> and the theme class and `data-vscode-theme-kind` of
 * <body>. Outside VS Code (a page whose colours follow the system), a change of the system's
 * light/dark preference counts too. Returns a disposer.
 */
export function onThemeChange(callback: () => void): () => void {
  let pending = 0;
  const fire = () => {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      callback();
    });
  };
  const observer = new MutationObserver(fire);
  for (const target of [document.documentElement, document.body]) {
    observer.observe(target, { attributes: true, attributeFilter: ["style", "class", "data-vscode-theme-kind"] });
  }
  const scheme = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : undefined;
  scheme?.addEventListener("change", fire);
  return () => {
    observer.disconnect();
    scheme?.removeEventListener("change", fire);
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

// ---- heat maps: colour maps (256×RGB lookup tables), upsampling, blending over a face ---------------

/** 17 evenly spaced stops of matplotlib's viridis / inferno (as in d3-scale-chromatic), interpolated linearly. */
const STOPS: Record<string, string> = {
  viridis: "44015448186a472d7b4240863b528b33638d2c728e26828e21918c1fa08828ae803fbc735ec96284d44baddc30d8e219fde725",
  inferno: "0000040b0724210c4a3d096557106e71196e8a226aa32c61bc3754d24644e45a31f1731df98e09fcac11f9cb35f2ea69fcffa4",
};

export const clamp01 = (x: number): number => Math.max(0, Math.min(1, x));

/** Google's Turbo, polynomial approximation (as in d3-scale-chromatic). */
function turbo(t: number): [number, number, number] {
  return [
    34.61 + t * (1172.33 - t * (10793.56 - t * (33300.12 - t * (38394.49 - t * 14825.05)))),
    23.31 + t * (557.33 + t * (1225.33 - t * (3574.96 - t * (1073.77 + t * 707.56)))),
    27.2 + t * (3211.1 - t * (15327.97 - t * (27814 - t * (22569.18 - t * 6838.66)))),
  ];
}

function jet(t: number): [number, number, number] {
  return [clamp01(1.5 - Math.abs(4 * t - 3)) * 255, clamp01(1.5 - Math.abs(4 * t - 2)) * 255, clamp01(1.5 - Math.abs(4 * t - 1)) * 255];
}

export const COLOR_MAPS = ["turbo", "jet", "viridis", "inferno"] as const;
export type ColorMap = (typeof COLOR_MAPS)[number];

const luts = new Map<ColorMap, Uint8ClampedArray>();

export function colorLut(name: ColorMap): Uint8ClampedArray {
  let lut = luts.get(name);
  if (lut) return lut;
  lut = new Uint8ClampedArray(256 * 3);
  const stops = STOPS[name];
  const n = stops ? stops.length / 6 : 0;
  for (let v = 0; v < 256; v++) {
    const t = v / 255;
    let rgb: [number, number, number];
    if (stops) {
      const x = t * (n - 1);
      const i = Math.min(n - 2, Math.floor(x));
      const f = x - i;
      rgb = [0, 1, 2].map((c) => {
        const a = parseInt(stops.slice(i * 6 + c * 2, i * 6 + c * 2 + 2), 16);
        const b = parseInt(stops.slice((i + 1) * 6 + c * 2, (i + 1) * 6 + c * 2 + 2), 16);
        return a + (b - a) * f;
      }) as [number, number, number];
    } else {
      rgb = name === "jet" ? jet(t) : turbo(t);
    }
    lut.set(rgb.map(Math.round), v * 3);
  }
  luts.set(name, lut);
  return lut;
}

/** Bilinear upsampling (pixel centres aligned, edges clamped) of a w×h uint8 map to W×H. */
export function upsample(src: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  const out = new Uint8Array(W * H);
  const axis = (from: number, to: number) => {
    const i0 = new Int32Array(to), i1 = new Int32Array(to), f = new Float32Array(to);
    for (let x = 0; x < to; x++) {
      const s = Math.max(0, Math.min(from - 1, ((x + 0.5) * from) / to - 0.5));
      i0[x] = Math.floor(s);
      i1[x] = Math.min(from - 1, i0[x] + 1);
      f[x] = s - i0[x];
    }
    return { i0, i1, f };
  };
  const ax = axis(w, W);
  const ay = axis(h, H);
  for (let y = 0; y < H; y++) {
    const r0 = ay.i0[y] * w, r1 = ay.i1[y] * w, fy = ay.f[y];
    for (let x = 0; x < W; x++) {
      const x0 = ax.i0[x], x1 = ax.i1[x], fx = ax.f[x];
      const top = src[r0 + x0] + (src[r0 + x1] - src[r0 + x0]) * fx;
      const bottom = src[r1 + x0] + (src[r1 + x1] - src[r1 + x0]) * fx;
      out[y * W + x] = Math.round(top + (bottom - top) * fy);
    }
  }
  return out;
}

/** Alpha-blends a heat map (uint8 per pixel, same size as `face`) coloured by `lut` over the face and draws it. */
export function blendHeat(ctx: CanvasRenderingContext2D, face: ImageData, heat: Uint8Array, lut: Uint8ClampedArray, alpha: number): void {
  const out = ctx.createImageData(face.width, face.height);
  const s = face.data, d = out.data, a = alpha, b = 1 - alpha;
  for (let p = 0, q = 0; p < heat.length; p++, q += 4) {
    const c = heat[p] * 3;
    d[q] = s[q] * b + lut[c] * a;
    d[q + 1] = s[q + 1] * b + lut[c + 1] * a;
    d[q + 2] = s[q + 2] * b + lut[c + 2] * a;
    d[q + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

/** Shared base styles: theme font and colours, with fallbacks outside VS Code. */
export const BASE_CSS = `
  font-family: var(--vscode-font-family, system-ui, sans-serif);
  font-size: var(--vscode-font-size, 13px);
  color: var(--vscode-editor-foreground, #333);
`;
