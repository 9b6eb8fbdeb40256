/** Adapts the `.fernb` format (notebookFormat.ts) to VS Code's NotebookSerializer. */
import * as vscode from "vscode";
import { NotebookFormatError, parseNotebook, serializeNotebook, type Notebook, type NotebookCell } from "./notebookFormat";
import { toEditorLanguage, toFileLanguage } from "./language/languageId";

export const NOTEBOOK_TYPE = "fernb";

function toCellData(cell: NotebookCell): vscode.NotebookCellData {
  const kind = cell.kind === "code" ? vscode.NotebookCellKind.Code : vscode.NotebookCellKind.Markup;
  // TypeScript cells get fernb's own language in the editor ("fernb-ts"); the file keeps "typescript".
  const data = new vscode.NotebookCellData(kind, cell.source, cell.kind === "code" ? toEditorLanguage(cell.language) : cell.language);
  if (cell.metadata) data.metadata = cell.metadata;
  if (cell.outputs) {
    data.outputs = cell.outputs.map(
      (o) => new vscode.NotebookCellOutput(o.items.map((i) => new vscode.NotebookCellOutputItem(i.data, i.mime)), o.metadata),
    );
  }
  if (cell.execution) {
    const { order, success, startTime, endTime } = cell.execution;
    data.executionSummary = {
      executionOrder: order,
      success,
      timing: startTime !== undefined && endTime !== undefined ? { startTime, endTime } : undefined,
    };
  }
  return data;
}

function fromCellData(cell: vscode.NotebookCellData): NotebookCell {
  const out: NotebookCell = {
    kind: cell.kind === vscode.NotebookCellKind.Code ? "code" : "markdown",
    language: cell.kind === vscode.NotebookCellKind.Code ? toFileLanguage(cell.languageId) : cell.languageId,
    source: cell.value,
  };
  if (cell.metadata && Object.keys(cell.metadata).length > 0) out.metadata = cell.metadata;
  if (cell.outputs && cell.outputs.length > 0) {
    out.outputs = cell.outputs.map((o) => ({
      items: o.items.map((i) => ({ mime: i.mime, data: i.data })),
      metadata: o.metadata,
    }));
  }
  const summary = cell.executionSummary;
  if (summary && (summary.executionOrder !== undefined || summary.success !== undefined)) {
    out.execution = {
      order: summary.executionOrder,
      success: summary.success,
      startTime: summary.timing?.startTime,
      endTime: summary.timing?.endTime,
    };
  }
  return out;
}

export class FernbSerializer implements vscode.NotebookSerializer {
  deserializeNotebook(content: Uint8Array): vscode.NotebookData {
    // The error propagates: VS Code opens nothing, so the file on disk can never be overwritten by
    // an empty notebook. VS Code's own placeholder only says "unexpected error", so we say what.
    let notebook: Notebook;
    try {
      notebook = parseNotebook(content, "This .fernb file");
    } catch (e) {
      if (e instanceof NotebookFormatError) void vscode.window.showErrorMessage(e.message);
      throw e;
    }
    const data = new vscode.NotebookData(notebook.cells.map(toCellData));
    data.metadata = notebook.metadata;
    return data;
  }

  serializeNotebook(data: vscode.NotebookData): Uint8Array {
    // A notebook that cannot be written (metadata set too deep by an extension) is not saved, and
    // the user is told why; the file on disk keeps its last saved content.
    try {
      return serializeNotebook({ metadata: data.metadata ?? {}, cells: data.cells.map(fromCellData) });
    } catch (e) {
      if (e instanceof NotebookFormatError) void vscode.window.showErrorMessage(e.message);
      throw e;
    }
  }
}
