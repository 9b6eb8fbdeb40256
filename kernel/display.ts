/**
 * The `display` API that cells use to show rich output: text, HTML, Markdown, images, JSON,
 * vega-lite charts (drawn by fernb's chart renderer) and any custom MIME type. Every call returns a
 * handle whose `update` replaces that output in place (a live training curve uses it).
 */
import { inspect } from "node:util";
import { MIME, type OutputItem } from "../protocol";

/** Objects that know how to show themselves implement this symbol (datasets, metrics, ...). */
export const DISPLAY = Symbol.for("fernb.display");

export interface Displayable {
  [DISPLAY](): OutputItem[];
}

export type Emit = (displayId: string, update: boolean, items: OutputItem[]) => void;

/** Marks display handles, so a cell ending in `display.x(...)` does not also print the handle. */
export const DISPLAY_HANDLE = Symbol.for("fernb.displayHandle");

export interface DisplayHandle<T> {
  readonly id: string;
  /** Replaces this output's content in place. */
  update(value: T): void;
}

/** Anything cells may pass as MIME data: text, bytes, or a JSON-serialisable value. */
export type MimeData = string | Uint8Array | object;

export interface Display {
  /** Shows any value: rich if it implements the display protocol, else as inspected text. */
  (value: unknown): DisplayHandle<unknown>;
  text(text: string): DisplayHandle<string>;
  html(html: string): DisplayHandle<string>;
  markdown(markdown: string): DisplayHandle<string>;
  svg(svg: string): DisplayHandle<string>;
  png(bytes: Uint8Array): DisplayHandle<Uint8Array>;
  jpeg(bytes: Uint8Array): DisplayHandle<Uint8Array>;
  json(value: unknown): DisplayHandle<unknown>;
  /** A vega-lite spec drawn by fernb's chart renderer; `update` redraws it in place. */
  chart(spec: object): DisplayHandle<object>;
  /** One output with one or more MIME representations, e.g. `{"application/vnd.fernb.x+json": {...}}`. */
  mime(bundle: Record<string, MimeData>): DisplayHandle<Record<string, MimeData>>;
}

function isDisplayable(value: unknown): value is Displayable {
  return typeof value === "object" && value !== null && typeof (value as Partial<Displayable>)[DISPLAY] === "function";
}

function toItem(mime: string, data: MimeData): OutputItem {
  if (typeof data === "string" || data instanceof Uint8Array) return { mime, data };
  return { mime, data: JSON.stringify(data) };
}

/** One output holding a vega-lite chart (fernb's chart renderer) with a text fallback. */
export function chartWithText(spec: object, text: string): OutputItem[] {
  return [
    { mime: MIME.chart, data: JSON.stringify(spec) },
    { mime: MIME.text, data: text },
  ];
}

/** One output holding HTML with a text fallback. */
export function htmlWithText(html: string, text: string): OutputItem[] {
  return [
    { mime: "text/html", data: html },
    { mime: MIME.text, data: text },
  ];
}

/** Output items for an arbitrary value, as shown for a cell's last expression or `display(x)`. */
export function itemsForValue(value: unknown): OutputItem[] {
  if (isDisplayable(value)) return value[DISPLAY]();
  const text = typeof value === "string" ? value : inspect(value, { colors: false, depth: 4 });
  return [{ mime: MIME.text, data: text }];
}

export function createDisplay(emit: Emit): Display {
  let counter = 0;
  function show<T>(toItems: (value: T) => OutputItem[], value: T): DisplayHandle<T> {
    const id = `display-${process.pid}-${++counter}`;
    emit(id, false, toItems(value));
    const handle = { id, update: (next: T) => emit(id, true, toItems(next)) };
    Object.defineProperty(handle, DISPLAY_HANDLE, { value: true });
    return handle;
  }
  const one =
    <T extends MimeData>(mime: string) =>
    (value: T) =>
      show((v: T) => [toItem(mime, v)], value);

  const display = ((value: unknown) => show(itemsForValue, value)) as Display;
  display.text = one<string>(MIME.text);
  display.html = one<string>(MIME.html);
  display.markdown = one<string>(MIME.markdown);
  display.svg = one<string>(MIME.svg);
  display.png = one<Uint8Array>(MIME.png);
  display.jpeg = one<Uint8Array>(MIME.jpeg);
  display.json = (value: unknown) => show((v: unknown) => [{ mime: MIME.json, data: JSON.stringify(v, null, 2) }], value);
  display.chart = one<object>(MIME.chart);
  display.mime = (bundle: Record<string, MimeData>) =>
    show((b: Record<string, MimeData>) => Object.entries(b).map(([mime, data]) => toItem(mime, data)), bundle);
  return display;
}

/** TypeScript declarations of the kernel's globals, given to the type checker before every cell. */
export const DISPLAY_DECLARATIONS = `
interface FernbDisplayHandle<T> { readonly id: string; update(value: T): void; }
type FernbMimeData = string | Uint8Array | object;
interface FernbDisplay {
  (value: unknown): FernbDisplayHandle<unknown>;
  text(text: string): FernbDisplayHandle<string>;
  html(html: string): FernbDisplayHandle<string>;
  markdown(markdown: string): FernbDisplayHandle<string>;
  svg(svg: string): FernbDisplayHandle<string>;
  png(bytes: Uint8Array): FernbDisplayHandle<Uint8Array>;
  jpeg(bytes: Uint8Array): FernbDisplayHandle<Uint8Array>;
  json(value: unknown): FernbDisplayHandle<unknown>;
  chart(spec: object): FernbDisplayHandle<object>;
  mime(bundle: Record<string, FernbMimeData>): FernbDisplayHandle<Record<string, FernbMimeData>>;
}
declare const display: FernbDisplay;
`;
