/**
 * Runs every code cell of a `.fernb` notebook headlessly, with the same kernel process and client
 * as VS Code, and returns the notebook with its outputs. Progress and cell output print as lines.
 */
import * as path from "node:path";
import { KernelClient } from "../extension/kernelClient";
import type { Notebook, NotebookOutput, NotebookOutputItem } from "../extension/notebookFormat";
import { MIME, type CellError, type OutputItem } from "../protocol";

const encoder = new TextEncoder();

export interface RunOptions {
  /** The bundled kernel (dist/kernel.js). */
  kernelPath: string;
  /** Folder the kernel runs in (the notebook's folder). */
  cwd: string;
  /** Where lines go (default: stdout). */
  print?: (line: string) => void;
  /** Interval between progress-bar lines (default 15 s). */
  progressIntervalMs?: number;
}

export interface RunResult {
  ok: boolean;
  notebook: Notebook;
  /**
   * The failing cell as VS Code shows it in the executed notebook: its execution order, "[k]" beside
   * the cell (the k-th code cell; markdown cells are not counted).
   */
  failedCell?: number;
  error?: CellError;
  backend?: string;
  seconds: number;
}

function toItem(item: OutputItem): NotebookOutputItem {
  return { mime: item.mime, data: typeof item.data === "string" ? encoder.encode(item.data) : item.data };
}

function htmlToText(html: string): string {
  return html
    .replace(/<\/div>/g, " · ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .replace(/( · )+/g, " · ")
    .replace(/^[\s·]+|[\s·]+$/g, "")
    .trim();
}

export async function runNotebook(source: Notebook, options: RunOptions): Promise<RunResult> {
  const print = options.print ?? ((line: string) => process.stdout.write(line + "\n"));
  const started = Date.now();
  const notebook: Notebook = { metadata: source.metadata, cells: source.cells.map((c) => ({ ...c, outputs: c.kind === "code" ? [] : c.outputs, execution: c.kind === "code" ? undefined : c.execution })) };
  const codeCells = notebook.cells.map((c, i) => ({ cell: c, index: i })).filter((c) => c.cell.kind === "code");
  const client = new KernelClient({ kernelPath: options.kernelPath, cwd: options.cwd });
  client.on("log", (text: string) => process.stderr.write(text));
  client.on("interrupted-output", (cellLabel: string, text: string) => process.stderr.write(`(${cellLabel}, interrupted, still running) ${text}`));
  let order = 0;
  try {
    await client.start();
    print(`Kernel ready (TensorFlow.js backend ${client.backend})`);
    for (const [k, { cell }] of codeCells.entries()) {
      const firstLine = cell.source.split("\n").find((l) => l.trim() !== "") ?? "";
      // Named as VS Code shows the executed notebook's cell: its execution order "[k]" beside it.
      const label = `Cell [${k + 1}]`;
      print(`${label} of ${codeCells.length}: ${firstLine.slice(0, 80)}`);
      const outputs: NotebookOutput[] = [];
      const displays = new Map<string, NotebookOutput>();
      let stream: { name: string; output: NotebookOutput } | undefined;
      let lastProgressLine = 0;
      const cellStart = Date.now();
      const outcome = await client.execute(cell.source, label, {
        onStream(name, text) {
          (name === "stdout" ? process.stdout : process.stderr).write(text);
          const mime = name === "stdout" ? MIME.stdout : MIME.stderr;
          if (stream?.name === name) {
            const item = stream.output.items[0];
            const merged = new Uint8Array(item.data.length + encoder.encode(text).length);
            merged.set(item.data);
            merged.set(encoder.encode(text), item.data.length);
            item.data = merged;
          } else {
            stream = { name, output: { items: [{ mime, data: encoder.encode(text) }] } };
            outputs.push(stream.output);
          }
        },
        onDisplay(displayId, update, items) {
          stream = undefined;
          const existing = displays.get(displayId);
          if (update && existing) existing.items = items.map(toItem);
          else {
            const output = { items: items.map(toItem) };
            displays.set(displayId, output);
            outputs.push(output);
          }
          const html = items.find((i) => i.mime === "text/html" && typeof i.data === "string" && i.data.includes("fernb-progress"));
          const now = Date.now();
          if (html && (now - lastProgressLine >= (options.progressIntervalMs ?? 15000) || !update)) {
            lastProgressLine = now;
            print(`  ${htmlToText(html.data as string)}`);
          }
        },
      });
      order++;
      if (outcome.error) {
        outputs.push({ items: [{ mime: MIME.error, data: encoder.encode(JSON.stringify(outcome.error)) }] });
      }
      cell.outputs = outputs;
      cell.execution = { order, success: outcome.ok, startTime: cellStart, endTime: Date.now() };
      if (!outcome.ok) {
        const e = outcome.error!;
        print(`${label} failed: ${e.name}: ${e.message}${e.stack ? `\n${e.stack}` : ""}`);
        return { ok: false, notebook, failedCell: k + 1, error: e, backend: client.backend, seconds: (Date.now() - started) / 1000 };
      }
    }
    return { ok: true, notebook, backend: client.backend, seconds: (Date.now() - started) / 1000 };
  } finally {
    await client.stop();
  }
}

/** The default path of an executed copy: `name.fernb` → `name.executed.fernb`, beside it. */
export function executedPath(file: string): string {
  const ext = path.extname(file);
  return path.join(path.dirname(file), `${path.basename(file, ext)}.executed${ext || ".fernb"}`);
}
