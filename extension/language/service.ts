/**
 * A notebook's language service: one TypeScript LanguageService over all of its code cells in
 * notebook order (./virtualNotebook.ts), with the kernel's compiler options (./compilerOptions.ts),
 * the kernel's globals and fernb's declarations. It knows nothing of VS Code: cells come in as
 * strings and every answer is in cell coordinates (cell index among the code cells, 0-based line and
 * column), so it is tested on its own (test/unit/languageService.test.ts); ./vscodeProviders.ts
 * serves it to the editor.
 */
import * as ts from "@tslab/typescript-for-tslab";
import * as path from "node:path";
import { kernelCompilerOptions, typeRootsFor } from "./compilerOptions";
import { createHost } from "./host";
import { assignmentMessage, buildCells, importedKind, type VirtualCell } from "./virtualNotebook";
import { topLevelNames, type CellName } from "./cellNames";

export interface NotebookLanguageServiceOptions {
  /** The notebook's folder: where `import` of installed packages resolves from, as in the kernel. */
  notebookDir: string;
  /** fernb's declarations (dist/fernb-types, built by esbuild.mjs), mounted as the package "fernb". */
  fernbTypesDir: string;
  /** Declarations of the kernel's globals (kernel/prelude.ts). */
  preludeDeclarations: string;
  /** An `@types` folder used when the notebook's folder and those above it have no @types/node. */
  fallbackTypesRoot?: string;
  /** How long a "Cannot find module" answer is kept before the diagnostics look for the module again (default 10 s). */
  retryUnresolvedMs?: number;
}

export interface Position {
  line: number;
  character: number;
}
export interface CellRange {
  cell: number;
  start: Position;
  end: Position;
}
/** Where a definition is: in a cell, or in a file (fernb's declarations, a package, Node's types). */
export type DefinitionLocation = ({ kind: "cell" } & CellRange) | { kind: "file"; path: string; start: Position; end: Position };

export interface CellDiagnostic extends CellRange {
  message: string;
  code: number;
  category: "error" | "warning" | "suggestion" | "message";
}

export interface Completion {
  name: string;
  /** TypeScript's element kind (ts.ScriptElementKind): "function", "const", "property", … */
  kind: string;
  kindModifiers?: string;
  sortText: string;
  insertText?: string;
  /** The text the completion replaces, where TypeScript says. */
  replace?: CellRange;
  source?: string;
  data?: unknown;
}

export interface CompletionList {
  entries: Completion[];
  isMemberCompletion: boolean;
}

export interface Documentation {
  /** The declaration, as TypeScript prints it (`const d: FaceDataset`, a signature, …). */
  signature: string;
  /** The doc comment, plain text with JSDoc tags appended (`@param x …`). */
  documentation: string;
  kind: string;
}

export interface Hover extends Documentation {
  range: CellRange;
}

export interface SignatureHelp {
  signatures: { label: string; documentation: string; parameters: { label: [number, number]; documentation: string }[] }[];
  activeSignature: number;
  activeParameter: number;
}

/** "Cannot find module …" diagnostics. */
const UNRESOLVED_MODULE = new Set([2307, 2792]);
/** How long a missing module's answer is kept before the service looks for it again. */
const RETRY_UNRESOLVED_MS = 10_000;

let serviceCounter = 0;
/** Shared by every notebook's service: lib and package declarations are parsed once. */
const registry = ts.createDocumentRegistry(ts.sys.useCaseSensitiveFileNames);

export class NotebookLanguageService {
  private readonly dir: string;
  private readonly id = ++serviceCounter;
  private service: ts.LanguageService;
  private readonly host: ts.LanguageServiceHost;
  /** When a cell imports a module that could not be found: TypeScript keeps that answer until the cell changes. */
  private unresolvedAt: number | undefined;
  private readonly retryUnresolvedMs: number;
  private cells: VirtualCell[] = [];
  private readonly versions = new Map<string, { text: string; version: number }>();
  private readonly preludeFile: string;
  private readonly namesCache = new Map<string, CellName[]>();
  /** A cell's diagnostics depend on it and the cells above it only: kept while none of them changed. */
  private readonly diagnosticsCache = new Map<number, { key: string; diagnostics: CellDiagnostic[] }>();

  constructor(options: NotebookLanguageServiceOptions) {
    this.dir = path.resolve(options.notebookDir).replace(/\\/g, "/");
    this.retryUnresolvedMs = options.retryUnresolvedMs ?? RETRY_UNRESOLVED_MS;
    this.preludeFile = `${this.dir}/__fernb_${this.id}_prelude__.d.ts`;
    this.versions.set(this.preludeFile, { text: options.preludeDeclarations, version: 1 });
    const compilerOptions = kernelCompilerOptions(typeRootsFor(options.notebookDir, options.fallbackTypesRoot));
    const host = (this.host = createHost({
      currentDirectory: this.dir,
      compilerOptions,
      mounts: { fernb: path.resolve(options.fernbTypesDir) },
      files: {
        names: () => [this.preludeFile, ...this.cells.map((_, i) => this.fileName(i))],
        get: (fileName) => this.versions.get(fileName),
      },
    }));
    this.service = ts.createLanguageService(host, registry);
  }

  /** The virtual file of code cell `cell`, without folder or extension (as the headers import it). */
  private baseName(cell: number): string {
    return `__fernb_${this.id}_cell${cell}__`;
  }

  private fileName(cell: number): string {
    return `${this.dir}/${this.baseName(cell)}.ts`;
  }

  private cellOfFile(fileName: string): number | undefined {
    const m = /__fernb_(\d+)_cell(\d+)__\.ts$/.exec(fileName.replace(/\\/g, "/"));
    if (!m || Number(m[1]) !== this.id) return undefined;
    const cell = Number(m[2]);
    return cell < this.cells.length ? cell : undefined;
  }

  /** Replaces the notebook's code cells (their sources, in notebook order). Cheap when little changed. */
  setCells(sources: readonly string[]): void {
    const namesOf = (source: string): CellName[] => {
      let names = this.namesCache.get(source);
      if (!names) {
        names = topLevelNames(source);
        if (this.namesCache.size > 500) this.namesCache.clear();
        this.namesCache.set(source, names);
      }
      return names;
    };
    this.cells = buildCells(sources, (i) => this.baseName(i), namesOf);
    this.cells.forEach((cell, i) => {
      const file = this.fileName(i);
      const old = this.versions.get(file);
      if (!old || old.text !== cell.content) this.versions.set(file, { text: cell.content, version: (old?.version ?? 0) + 1 });
    });
  }

  get cellCount(): number {
    return this.cells.length;
  }

  private offsetOf(cell: number, pos: Position): number {
    const c = this.cellAt(cell);
    return c.offset + offsetInText(c.source, pos);
  }

  private cellAt(cell: number): VirtualCell {
    const c = this.cells[cell];
    if (!c) throw new RangeError(`No code cell ${cell} (the notebook has ${this.cells.length}).`);
    return c;
  }

  /** A span of a cell's file in cell coordinates, or undefined when it lies in the header line. */
  private rangeOf(cell: number, start: number, length: number): CellRange | undefined {
    const c = this.cells[cell];
    if (!c || start < c.offset) return undefined;
    return {
      cell,
      start: positionInText(c.source, start - c.offset),
      end: positionInText(c.source, Math.min(start + length, c.content.length) - c.offset),
    };
  }

  completions(cell: number, pos: Position): CompletionList {
    const file = this.fileName(cell);
    const info = this.service.getCompletionsAtPosition(file, this.offsetOf(cell, pos), {
      includeCompletionsWithInsertText: true,
      includeCompletionsWithSnippetText: false,
      includeCompletionsForModuleExports: false,
      includeAutomaticOptionalChainCompletions: true,
    });
    if (!info) return { entries: [], isMemberCompletion: false };
    const c = this.cells[cell];
    const entries: Completion[] = [];
    for (const e of info.entries) {
      // The header's module names are no names of the notebook.
      if (e.name.startsWith("__fernb_")) continue;
      const fromCell = e.kind === ts.ScriptElementKind.alias ? importedKind(this.cells, cell, e.name) : undefined;
      const span = e.replacementSpan ?? info.optionalReplacementSpan;
      entries.push({
        name: e.name,
        kind: fromCell ? elementKindOf(fromCell.name.kind) : e.kind,
        kindModifiers: e.kindModifiers,
        sortText: e.sortText,
        insertText: e.insertText,
        replace: span && span.start >= c.offset ? this.rangeOf(cell, span.start, span.length) : undefined,
        source: e.source,
        data: e.data,
      });
    }
    return { entries, isMemberCompletion: info.isMemberCompletion };
  }

  completionDetails(cell: number, pos: Position, name: string, source?: string, data?: unknown): Documentation | undefined {
    const fromCell = importedKind(this.cells, cell, name);
    if (fromCell) {
      const at = this.quickInfoAt(fromCell.cell, this.cells[fromCell.cell].offset + fromCell.name.offset);
      if (at) return at;
    }
    const details = this.service.getCompletionEntryDetails(this.fileName(cell), this.offsetOf(cell, pos), name, {}, source, {}, data as ts.CompletionEntryData | undefined);
    if (!details) return undefined;
    return {
      signature: this.clean(ts.displayPartsToString(details.displayParts)),
      documentation: docText(details.documentation, details.tags),
      kind: details.kind,
    };
  }

  hover(cell: number, pos: Position): Hover | undefined {
    const offset = this.offsetOf(cell, pos);
    const info = this.service.getQuickInfoAtPosition(this.fileName(cell), offset);
    if (!info) return undefined;
    const range = this.rangeOf(cell, info.textSpan.start, info.textSpan.length);
    if (!range) return undefined;
    const c = this.cells[cell];
    // A name from an earlier cell is an import in this cell's file: show its declaration instead.
    if (info.kind === ts.ScriptElementKind.alias) {
      const name = c.content.slice(info.textSpan.start, info.textSpan.start + info.textSpan.length);
      const fromCell = importedKind(this.cells, cell, name);
      const at = fromCell && this.quickInfoAt(fromCell.cell, this.cells[fromCell.cell].offset + fromCell.name.offset);
      if (at) return { ...at, range };
    }
    return { ...this.documentationOf(info), range };
  }

  private quickInfoAt(cell: number, offset: number): Documentation | undefined {
    const info = this.service.getQuickInfoAtPosition(this.fileName(cell), offset);
    return info ? this.documentationOf(info) : undefined;
  }

  private documentationOf(info: ts.QuickInfo): Documentation {
    return {
      signature: this.clean(ts.displayPartsToString(info.displayParts)),
      documentation: docText(info.documentation, info.tags),
      kind: info.kind,
    };
  }

  signatureHelp(cell: number, pos: Position): SignatureHelp | undefined {
    const help = this.service.getSignatureHelpItems(this.fileName(cell), this.offsetOf(cell, pos), {});
    if (!help) return undefined;
    return {
      activeSignature: help.selectedItemIndex,
      activeParameter: help.argumentIndex,
      signatures: help.items.map((item) => {
        let label = ts.displayPartsToString(item.prefixDisplayParts);
        const parameters = item.parameters.map((p, i) => {
          if (i > 0) label += ts.displayPartsToString(item.separatorDisplayParts);
          const text = ts.displayPartsToString(p.displayParts);
          const start = label.length;
          label += text;
          return { label: [start, label.length] as [number, number], documentation: ts.displayPartsToString(p.documentation) };
        });
        label += ts.displayPartsToString(item.suffixDisplayParts);
        return { label: this.clean(label), documentation: docText(item.documentation, item.tags), parameters };
      }),
    };
  }

  definition(cell: number, pos: Position): DefinitionLocation[] {
    const defs = this.service.getDefinitionAtPosition(this.fileName(cell), this.offsetOf(cell, pos)) ?? [];
    const out: DefinitionLocation[] = [];
    for (const d of defs) {
      const inCell = this.cellOfFile(d.fileName);
      if (inCell !== undefined) {
        const range = this.rangeOf(inCell, d.textSpan.start, d.textSpan.length);
        if (range) out.push({ kind: "cell", ...range });
        continue;
      }
      if (d.fileName === this.preludeFile) continue;
      const program = this.service.getProgram();
      const file = program?.getSourceFile(d.fileName);
      if (!file) continue;
      const start = file.getLineAndCharacterOfPosition(d.textSpan.start);
      const end = file.getLineAndCharacterOfPosition(d.textSpan.start + d.textSpan.length);
      out.push({ kind: "file", path: path.normalize(d.fileName), start, end });
    }
    return out;
  }

  /**
   * The errors the kernel reports for this cell when it runs after the cells above it: syntax,
   * types and declaration emit (tslab emits each cell's declarations), no suggestions (no "unused").
   */
  diagnostics(cell: number): CellDiagnostic[] {
    // A module that was missing may have been installed (or built) since: the diagnostics, which
    // run in the background, look for it again now and then (a fresh service resolves anew).
    if (this.unresolvedAt !== undefined && Date.now() - this.unresolvedAt >= this.retryUnresolvedMs) {
      this.unresolvedAt = undefined;
      this.service.dispose();
      this.service = ts.createLanguageService(this.host, registry);
      this.diagnosticsCache.clear();
    }
    const key = this.cells
      .slice(0, cell + 1)
      .map((_, i) => this.versions.get(this.fileName(i))?.version ?? 0)
      .join(",");
    const cached = this.diagnosticsCache.get(cell);
    if (cached && cached.key === key) return cached.diagnostics;
    const file = this.fileName(cell);
    const c = this.cellAt(cell);
    const all = [...this.service.getSyntacticDiagnostics(file), ...this.service.getSemanticDiagnostics(file)];
    const out: CellDiagnostic[] = [];
    for (const d of all) {
      if (d.start === undefined || d.length === undefined) continue;
      const range = this.rangeOf(cell, d.start, d.length);
      if (!range) continue;
      let message = this.clean(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      let code = d.code;
      if (d.code === 2632) {
        // "Cannot assign to 'x' because it is an import": x is an earlier cell's declaration.
        const name = c.content.slice(d.start, d.start + d.length);
        const from = importedKind(this.cells, cell, name);
        if (from) {
          const kernel = assignmentMessage(from.name.kind, name);
          if (!kernel) continue;
          ({ code, message } = kernel);
        }
      }
      if (UNRESOLVED_MODULE.has(d.code)) this.unresolvedAt ??= Date.now();
      out.push({ ...range, message, code, category: categoryName(d.category) });
    }
    this.diagnosticsCache.set(cell, { key, diagnostics: out });
    return out;
  }

  /** Parses and checks once, so the first request of the user does not pay for loading libraries. */
  warmUp(): void {
    if (this.cells.length > 0) this.service.getSemanticDiagnostics(this.fileName(this.cells.length - 1));
  }

  dispose(): void {
    this.service.dispose();
  }

  /** Types printed with a cell's virtual file name (`import("…/__fernb_1_cell3__").Row`) are shown by their name. */
  private clean(text: string): string {
    return text.replace(/import\("[^"]*__fernb_\d+_cell\d+__"\)\./g, "").replace(/"[^"]*__fernb_\d+_cell(\d+)__"/g, (_m, n: string) => `cell ${Number(n) + 1}`);
  }
}

function categoryName(category: ts.DiagnosticCategory): CellDiagnostic["category"] {
  switch (category) {
    case ts.DiagnosticCategory.Error:
      return "error";
    case ts.DiagnosticCategory.Warning:
      return "warning";
    case ts.DiagnosticCategory.Suggestion:
      return "suggestion";
    default:
      return "message";
  }
}

function elementKindOf(kind: CellName["kind"]): string {
  switch (kind) {
    case "const":
      return ts.ScriptElementKind.constElement;
    case "let":
      return ts.ScriptElementKind.letElement;
    case "var":
      return ts.ScriptElementKind.variableElement;
    case "function":
      return ts.ScriptElementKind.functionElement;
    case "class":
      return ts.ScriptElementKind.classElement;
    case "interface":
      return ts.ScriptElementKind.interfaceElement;
    case "type":
      return ts.ScriptElementKind.typeElement;
    case "enum":
      return ts.ScriptElementKind.enumElement;
    case "namespace":
      return ts.ScriptElementKind.moduleElement;
    default:
      return ts.ScriptElementKind.alias;
  }
}

function docText(documentation: ts.SymbolDisplayPart[] | undefined, tags: ts.JSDocTagInfo[] | undefined): string {
  const parts = [ts.displayPartsToString(documentation)];
  for (const tag of tags ?? []) {
    const text = tag.text ? ts.displayPartsToString(tag.text) : "";
    parts.push(`@${tag.name}${text ? " " + text : ""}`);
  }
  return parts.filter((p) => p.length > 0).join("\n\n");
}

/** Offsets of each line's start ("\n", "\r\n" and "\r" end lines, as in TypeScript). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 13 /* \r */) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    } else if (ch === 10) starts.push(i + 1);
  }
  return starts;
}

export function offsetInText(text: string, pos: Position): number {
  const starts = lineStarts(text);
  const line = Math.max(0, Math.min(pos.line, starts.length - 1));
  const end = line + 1 < starts.length ? starts[line + 1] : text.length;
  return Math.min(starts[line] + Math.max(0, pos.character), end);
}

export function positionInText(text: string, offset: number): Position {
  const starts = lineStarts(text);
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: offset - starts[lo] };
}
