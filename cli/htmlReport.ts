/**
 * A standalone HTML report of an executed notebook: markdown cells rendered, code cells with their
 * outputs, and fernb's custom outputs (charts, confusion matrices, Grad-CAM) drawn by the very
 * renderers VS Code uses, embedded in the file so it opens offline in any browser.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import MarkdownIt from "markdown-it";
import type { Notebook, NotebookOutput } from "../extension/notebookFormat";
import { MIME } from "../protocol";

const markdown = new MarkdownIt({ html: false, linkify: true });
const decoder = new TextDecoder();

interface RendererEntry {
  id: string;
  mimeTypes: string[];
  entrypoint: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Strips ANSI colour codes (Node's inspect output, stack traces). */
function plain(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}

/** Richest first: what VS Code would pick for an output with several representations. */
const PREFERENCE = ["text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "application/json", "text/plain"];

function renderOutput(output: NotebookOutput, renderers: RendererEntry[], counter: { n: number }): string {
  const items = output.items;
  const custom = items.find((i) => renderers.some((r) => r.mimeTypes.includes(i.mime)));
  if (custom) {
    const renderer = renderers.find((r) => r.mimeTypes.includes(custom.mime))!;
    const id = `out-${++counter.n}`;
    // JSON payloads go in a script element. Every "<" is written as \u003c (the same JSON), so no
    // payload can end the element ("</script>") or switch the parser's state ("<!--<script>").
    const text = decoder.decode(custom.data);
    let payload: string;
    try {
      JSON.parse(text);
      payload = text.replace(/</g, "\\u003c");
    } catch {
      payload = text.replace(/<(\/|!--)/g, (m) => (m === "</" ? "<\\/" : "<\\!--"));
    }
    return `<div class="output custom" data-renderer="${renderer.id}" data-mime="${escapeHtml(custom.mime)}" id="${id}"><script type="application/json">${payload}</script></div>`;
  }
  const stream = items.find((i) => i.mime === MIME.stdout || i.mime === MIME.stderr);
  if (stream) return `<pre class="output stream ${stream.mime.endsWith("stderr") ? "stderr" : ""}">${escapeHtml(plain(decoder.decode(stream.data)))}</pre>`;
  const error = items.find((i) => i.mime === MIME.error);
  if (error) {
    let e: { name?: string; message?: string; stack?: string } = {};
    try {
      e = JSON.parse(decoder.decode(error.data));
    } catch {
      e = { message: decoder.decode(error.data) };
    }
    const stack = e.stack && !e.stack.startsWith(`${e.name}: ${e.message}`) ? `\n${e.stack}` : e.stack ? `\n${e.stack.split("\n").slice(1).join("\n")}` : "";
    return `<pre class="output error">${escapeHtml(plain(`${e.name ?? "Error"}: ${e.message ?? ""}${stack}`))}</pre>`;
  }
  for (const mime of PREFERENCE) {
    const item = items.find((i) => i.mime === mime);
    if (!item) continue;
    const text = () => decoder.decode(item.data);
    switch (mime) {
      case "text/html":
        return `<div class="output html">${text()}</div>`;
      case "image/svg+xml":
        return `<div class="output image">${text()}</div>`;
      case "image/png":
      case "image/jpeg":
        return `<div class="output image"><img alt="" src="data:${mime};base64,${Buffer.from(item.data).toString("base64")}"></div>`;
      case "text/markdown":
        return `<div class="output markdown">${markdown.render(text())}</div>`;
      case "application/json":
        return `<pre class="output json">${escapeHtml(text())}</pre>`;
      default:
        return `<pre class="output text">${escapeHtml(plain(text()))}</pre>`;
    }
  }
  return `<pre class="output text">(output of type ${escapeHtml(items.map((i) => i.mime).join(", "))})</pre>`;
}

const STYLE = `
:root { --vscode-editor-foreground: #1f1f1f; --vscode-editor-background: #ffffff; --vscode-font-family: system-ui, sans-serif;
  --vscode-editor-font-family: ui-monospace, Menlo, Consolas, monospace; --vscode-focusBorder: #0078d4; --vscode-charts-blue: #1a85ff;
  --vscode-errorForeground: #c72e2e; --vscode-editorWidget-border: #c8c8c8; --vscode-descriptionForeground: #616161; }
body { font-family: var(--vscode-font-family); color: var(--vscode-editor-foreground); background: var(--vscode-editor-background); max-width: 1100px; margin: 2em auto; padding: 0 1em; }
header { border-bottom: 1px solid var(--vscode-editorWidget-border); margin-bottom: 1.5em; }
header p { color: var(--vscode-descriptionForeground); }
.cell { margin: 1.2em 0; }
.cell.code .source { background: #f5f5f5; border-left: 3px solid var(--vscode-charts-blue); padding: .6em .8em; overflow-x: auto; font-family: var(--vscode-editor-font-family); font-size: 13px; margin: 0; }
.cell .meta { font-size: 12px; color: var(--vscode-descriptionForeground); margin: .2em 0; }
.output { margin: .4em 0 .4em 1em; font-size: 13px; }
pre.output { font-family: var(--vscode-editor-font-family); white-space: pre-wrap; margin-top: .3em; }
pre.output.error, pre.output.stderr { color: var(--vscode-errorForeground); }
.output img { max-width: 100%; }
table { border-collapse: collapse; } th, td { padding: 2px 6px; }
.markdown table th, .markdown table td, .cell.markdown table th, .cell.markdown table td { border: 1px solid var(--vscode-editorWidget-border); }
`;

/** The standalone HTML document for `notebook`. `extensionRoot` holds package.json and dist/renderers. */
export function renderHtmlReport(notebook: Notebook, options: { title: string; extensionRoot: string; subtitle?: string }): string {
  const pkg = JSON.parse(readFileSync(path.join(options.extensionRoot, "package.json"), "utf8")) as { contributes?: { notebookRenderer?: RendererEntry[] } };
  const renderers = pkg.contributes?.notebookRenderer ?? [];
  const counter = { n: 0 };
  const cells = notebook.cells.map((cell) => {
    if (cell.kind === "markdown") return `<section class="cell markdown">${markdown.render(cell.source)}</section>`;
    const meta = cell.execution?.order !== undefined
      ? `<div class="meta">[${cell.execution.order}] ${cell.execution.success === false ? "failed" : "ran"}${cell.execution.startTime !== undefined && cell.execution.endTime !== undefined ? ` in ${((cell.execution.endTime - cell.execution.startTime) / 1000).toFixed(1)} s` : ""}</div>`
      : `<div class="meta">not run</div>`;
    const outputs = (cell.outputs ?? []).map((o) => renderOutput(o, renderers, counter)).join("\n");
    return `<section class="cell code"><pre class="source"><code>${escapeHtml(cell.source)}</code></pre>${meta}${outputs}</section>`;
  });
  const used = renderers.filter((r) => cells.some((c) => c.includes(`data-renderer="${r.id}"`)));
  const sources = used.map((r) => `<script type="text/plain" class="renderer-source" data-renderer="${r.id}">${readFileSync(path.join(options.extensionRoot, r.entrypoint), "utf8").replace(/<\/script/gi, "<\\/script")}</script>`);
  const boot = `<script type="module">
const modules = {};
for (const s of document.querySelectorAll("script.renderer-source")) {
  const url = URL.createObjectURL(new Blob([s.textContent], { type: "text/javascript" }));
  modules[s.dataset.renderer] = import(url).then((m) => m.activate({ postMessage() {}, onDidReceiveMessage() { return { dispose() {} }; }, setState() {}, getState() { return undefined; } }));
}
for (const el of document.querySelectorAll(".output.custom")) {
  const json = el.querySelector("script").textContent;
  const bytes = new TextEncoder().encode(json);
  const item = { id: el.id, mime: el.dataset.mime, metadata: {}, json: () => JSON.parse(json), text: () => json, data: () => bytes, blob: () => new Blob([bytes]) };
  const target = document.createElement("div");
  el.append(target);
  modules[el.dataset.renderer].then((r) => r.renderOutputItem(item, target, new AbortController().signal)).catch((e) => { target.textContent = "renderer failed: " + e; });
}
</script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)}</title><style>${STYLE}</style></head>
<body><header><h1>${escapeHtml(options.title)}</h1>${options.subtitle ? `<p>${escapeHtml(options.subtitle)}</p>` : ""}</header>
${cells.join("\n")}
${sources.join("\n")}
${boot}
</body></html>
`;
}
