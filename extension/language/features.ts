/**
 * Editor help in fernb notebooks: completion, hover, signature help, go to definition and live
 * diagnostics for the code cells (language "fernb-ts"), answered by one TypeScript language service
 * per notebook over all of its code cells in notebook order (./service.ts, run on its own thread by
 * ./worker.ts). Nothing needs a kernel: it works as soon as a notebook opens.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import { LanguageClient, type NotebookRef } from "./client";
import { CELL_LANGUAGE, FILE_CELL_LANGUAGE, isTypeScriptCell } from "./languageId";
import type { CellDiagnostic, CellRange, DefinitionLocation, Position } from "./service";
import { PRELUDE_DECLARATIONS } from "../../kernel/prelude";

/** Milliseconds of quiet typing before the notebook's diagnostics are recomputed. */
const DIAGNOSTICS_DELAY_MS = 300;

interface CellContext {
  notebook: vscode.NotebookDocument;
  ref: NotebookRef;
  /** The code cells, in notebook order (what `ref.cells` holds the text of). */
  cells: vscode.NotebookCell[];
  /** Index of the asking cell among them. */
  index: number;
}

class FernbCompletionItem extends vscode.CompletionItem {
  constructor(
    label: string,
    readonly context: { ref: NotebookRef; cell: number; position: Position; name: string; source?: string; data?: unknown },
  ) {
    super(label);
  }
}

export function registerLanguageFeatures(context: vscode.ExtensionContext, notebookType: string, log: vscode.OutputChannel): vscode.Disposable {
  const client = new LanguageClient(
    context.asAbsolutePath("dist/languageWorker.js"),
    {
      fernbTypesDir: context.asAbsolutePath("dist/fernb-types"),
      preludeDeclarations: PRELUDE_DECLARATIONS,
      fallbackTypesRoot: context.asAbsolutePath(path.join("node_modules", "@types")),
    },
    (line) => log.appendLine(line),
  );
  const diagnostics = vscode.languages.createDiagnosticCollection("fernb");
  const timers = new Map<string, NodeJS.Timeout>();
  const generations = new Map<string, number>();
  /** Cell documents that have diagnostics, per notebook, so removed cells lose theirs. */
  const shown = new Map<string, Set<string>>();

  const isFernb = (nb: vscode.NotebookDocument) => nb.notebookType === notebookType;
  const codeCells = (nb: vscode.NotebookDocument) =>
    nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code && isTypeScriptCell(c.document.languageId));
  const refOf = (nb: vscode.NotebookDocument, cells: vscode.NotebookCell[]): NotebookRef => ({
    notebook: nb.uri.toString(),
    notebookDir: nb.uri.scheme === "file" ? path.dirname(nb.uri.fsPath) : (vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd()),
    cells: cells.map((c) => c.document.getText()),
  });

  function contextOf(document: vscode.TextDocument): CellContext | undefined {
    const uri = document.uri.toString();
    for (const notebook of vscode.workspace.notebookDocuments) {
      if (!isFernb(notebook)) continue;
      const cells = codeCells(notebook);
      const index = cells.findIndex((c) => c.document.uri.toString() === uri);
      if (index >= 0) return { notebook, cells, index, ref: refOf(notebook, cells) };
    }
    return undefined;
  }

  const toRange = (r: { start: Position; end: Position }) => new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
  const toPosition = (p: vscode.Position): Position => ({ line: p.line, character: p.character });

  /** Older notebooks' cells (and cells switched to "typescript") get fernb's language. */
  function adoptCells(nb: vscode.NotebookDocument): void {
    if (!isFernb(nb)) return;
    for (const cell of nb.getCells()) {
      if (cell.kind === vscode.NotebookCellKind.Code && cell.document.languageId === FILE_CELL_LANGUAGE) {
        void vscode.languages.setTextDocumentLanguage(cell.document, CELL_LANGUAGE);
      }
    }
  }

  function schedule(nb: vscode.NotebookDocument): void {
    const key = nb.uri.toString();
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => void refresh(nb), DIAGNOSTICS_DELAY_MS));
  }

  /** Recomputes every code cell's diagnostics (a cell's errors depend on the cells above it). */
  async function refresh(nb: vscode.NotebookDocument): Promise<void> {
    const key = nb.uri.toString();
    const generation = (generations.get(key) ?? 0) + 1;
    generations.set(key, generation);
    const cells = codeCells(nb);
    const ref = refOf(nb, cells);
    const now = new Set(cells.map((c) => c.document.uri.toString()));
    for (const uri of shown.get(key) ?? []) if (!now.has(uri)) diagnostics.delete(vscode.Uri.parse(uri));
    shown.set(key, now);
    // The cell being edited first; one request per cell, so completion requests are answered in between.
    const active = vscode.window.activeNotebookEditor?.notebook === nb ? vscode.window.activeTextEditor?.document.uri.toString() : undefined;
    const order = cells.map((_, i) => i).sort((a, b) => Number(cells[b].document.uri.toString() === active) - Number(cells[a].document.uri.toString() === active));
    for (const i of order) {
      let found: CellDiagnostic[];
      try {
        found = await client.diagnostics(ref, i);
      } catch (e) {
        log.appendLine(`fernb language service: diagnostics failed: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      if (generations.get(key) !== generation || nb.isClosed) return;
      diagnostics.set(
        cells[i].document.uri,
        found.map((d) => {
          const diagnostic = new vscode.Diagnostic(toRange(d), d.message, severityOf(d.category));
          diagnostic.source = "fernb";
          diagnostic.code = d.code;
          return diagnostic;
        }),
      );
    }
  }

  function close(nb: vscode.NotebookDocument): void {
    const key = nb.uri.toString();
    clearTimeout(timers.get(key));
    generations.set(key, (generations.get(key) ?? 0) + 1);
    for (const uri of shown.get(key) ?? []) diagnostics.delete(vscode.Uri.parse(uri));
    shown.delete(key);
    void client.close(key).catch(() => undefined);
  }

  const selector: vscode.DocumentSelector = { language: CELL_LANGUAGE, notebookType };

  const definitionLocation = (cells: vscode.NotebookCell[], d: DefinitionLocation): vscode.Location | undefined => {
    if (d.kind === "cell") {
      const cell = cells[d.cell];
      return cell && new vscode.Location(cell.document.uri, toRange(d));
    }
    return new vscode.Location(vscode.Uri.file(d.path), toRange(d));
  };

  const completionProvider: vscode.CompletionItemProvider<FernbCompletionItem> = {
    async provideCompletionItems(document, position) {
      const at = contextOf(document);
      if (!at) return undefined;
      const list = await client.completions(at.ref, at.index, toPosition(position));
      return new vscode.CompletionList(
        list.entries.map((e) => {
          const item = new FernbCompletionItem(e.name, { ref: at.ref, cell: at.index, position: toPosition(position), name: e.name, source: e.source, data: e.data });
          item.kind = completionKind(e.kind);
          item.sortText = e.sortText;
          if (e.insertText !== undefined) item.insertText = e.insertText;
          if (e.replace && sameLine(e.replace, position)) item.range = toRange(e.replace);
          if (e.kindModifiers?.includes("deprecated")) item.tags = [vscode.CompletionItemTag.Deprecated];
          return item;
        }),
      );
    },
    async resolveCompletionItem(item) {
      const c = item.context;
      const details = await client.completionDetails(c.ref, c.cell, c.position, c.name, c.source, c.data).catch(() => null);
      if (details) {
        item.detail = details.signature;
        if (details.documentation) item.documentation = new vscode.MarkdownString(details.documentation);
      }
      return item;
    },
  };

  const disposables: vscode.Disposable[] = [
    diagnostics,
    vscode.languages.registerCompletionItemProvider(selector, completionProvider, ".", '"', "'", "/", "@", "<"),
    vscode.languages.registerHoverProvider(selector, {
      async provideHover(document, position) {
        const at = contextOf(document);
        if (!at) return undefined;
        const hover = await client.hover(at.ref, at.index, toPosition(position));
        if (!hover) return undefined;
        const text = new vscode.MarkdownString().appendCodeblock(hover.signature, "typescript");
        if (hover.documentation) text.appendMarkdown("\n\n" + hover.documentation);
        return new vscode.Hover(text, toRange(hover.range));
      },
    }),
    vscode.languages.registerSignatureHelpProvider(
      selector,
      {
        async provideSignatureHelp(document, position) {
          const at = contextOf(document);
          if (!at) return undefined;
          const help = await client.signatureHelp(at.ref, at.index, toPosition(position));
          if (!help) return undefined;
          const result = new vscode.SignatureHelp();
          result.activeSignature = help.activeSignature;
          result.activeParameter = help.activeParameter;
          result.signatures = help.signatures.map((s) => {
            const info = new vscode.SignatureInformation(s.label, s.documentation ? new vscode.MarkdownString(s.documentation) : undefined);
            info.parameters = s.parameters.map((p) => new vscode.ParameterInformation(p.label, p.documentation || undefined));
            return info;
          });
          return result;
        },
      },
      { triggerCharacters: ["(", ","], retriggerCharacters: [")"] },
    ),
    vscode.languages.registerDefinitionProvider(selector, {
      async provideDefinition(document, position) {
        const at = contextOf(document);
        if (!at) return undefined;
        const defs = await client.definition(at.ref, at.index, toPosition(position));
        return defs.map((d) => definitionLocation(at.cells, d)).filter((l): l is vscode.Location => l !== undefined);
      },
    }),
    vscode.workspace.onDidOpenNotebookDocument((nb) => {
      if (!isFernb(nb)) return;
      adoptCells(nb);
      schedule(nb);
    }),
    vscode.workspace.onDidChangeNotebookDocument((e) => {
      if (!isFernb(e.notebook)) return;
      if (e.contentChanges.length > 0) adoptCells(e.notebook);
      schedule(e.notebook);
    }),
    vscode.workspace.onDidOpenTextDocument((document) => {
      // A cell whose language was switched (to "typescript", or to fernb's from another one).
      if (document.uri.scheme !== "vscode-notebook-cell") return;
      const nb = vscode.workspace.notebookDocuments.find((n) => isFernb(n) && n.getCells().some((c) => c.document === document));
      if (!nb) return;
      adoptCells(nb);
      schedule(nb);
    }),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.uri.scheme !== "vscode-notebook-cell" || e.contentChanges.length === 0) return;
      const at = contextOf(e.document);
      if (at) schedule(at.notebook);
    }),
    vscode.workspace.onDidCloseNotebookDocument((nb) => {
      if (isFernb(nb)) close(nb);
    }),
    { dispose: () => client.dispose() },
  ];
  for (const nb of vscode.workspace.notebookDocuments) {
    if (!isFernb(nb)) continue;
    adoptCells(nb);
    schedule(nb);
  }
  return vscode.Disposable.from(...disposables);
}

function sameLine(r: CellRange, position: vscode.Position): boolean {
  return r.start.line === r.end.line && r.start.line === position.line && r.start.character <= position.character && position.character <= r.end.character;
}

function severityOf(category: CellDiagnostic["category"]): vscode.DiagnosticSeverity {
  switch (category) {
    case "error":
      return vscode.DiagnosticSeverity.Error;
    case "warning":
      return vscode.DiagnosticSeverity.Warning;
    case "suggestion":
      return vscode.DiagnosticSeverity.Hint;
    default:
      return vscode.DiagnosticSeverity.Information;
  }
}

function completionKind(kind: string): vscode.CompletionItemKind {
  const K = vscode.CompletionItemKind;
  switch (kind) {
    case "primitive type":
    case "keyword":
      return K.Keyword;
    case "const":
      return K.Constant;
    case "let":
    case "var":
    case "local var":
    case "alias":
    case "parameter":
      return K.Variable;
    case "property":
    case "getter":
    case "setter":
      return K.Field;
    case "function":
    case "local function":
      return K.Function;
    case "method":
    case "construct":
    case "call":
    case "index":
      return K.Method;
    case "enum":
      return K.Enum;
    case "enum member":
      return K.EnumMember;
    case "module":
    case "external module name":
      return K.Module;
    case "class":
    case "local class":
    case "type":
      return K.Class;
    case "interface":
      return K.Interface;
    case "string":
      return K.Constant;
    case "directory":
      return K.Folder;
    case "script":
      return K.File;
    default:
      return K.Property;
  }
}
