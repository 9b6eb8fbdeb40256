/**
 * The notebook as TypeScript sees it: one module file per code cell, in notebook order. A cell's
 * file is its source unchanged below one header line that
 *   - imports every name declared at the top level of an earlier cell (from the latest cell that
 *     declares it, unless this cell declares it itself), and
 *   - exports every name this cell declares,
 * which is how tslab's converter carries declarations across cells (it exports each cell's
 * top-level locals and declares them for the cells after it; a later declaration of a name replaces
 * the earlier one). Since the header is a line of its own above the cell, a cell's positions are
 * the file's positions one line down, and an unfinished cell (an open comment or string while
 * typing) cannot swallow it.
 *
 * The kernel's other rewrite, `{ name }` → `{ name: name }` (kernel/shorthand.ts), works around a
 * gap of tslab's emitted JavaScript; both forms have the same types, so it is not needed here and
 * positions stay exact. Top-level `await` needs nothing either: every cell file is an ES module.
 */
import { topLevelNames, type CellName, type DeclarationKind } from "./cellNames";

export interface VirtualCell {
  /** The cell's source as the user wrote it. */
  source: string;
  /** The file's content: header line + "\n" + source. */
  content: string;
  /** Length of the header line plus its line break: a cell offset + `offset` is the file offset. */
  offset: number;
  /** Names this cell declares. */
  names: CellName[];
  /** Names this cell gets from earlier cells: name → index of the cell that declares it. */
  imported: Map<string, number>;
}

/** Declares what the kernel's type check gets from earlier cells, grouped by cell. */
export function buildCells(sources: readonly string[], fileOf: (cell: number) => string, namesOf: (source: string) => CellName[] = topLevelNames): VirtualCell[] {
  const visible = new Map<string, number>();
  const cells: VirtualCell[] = [];
  sources.forEach((source, index) => {
    const names = namesOf(source);
    const own = new Set(names.map((n) => n.name));
    const imported = new Map<string, number>();
    const byCell = new Map<number, string[]>();
    for (const [name, cell] of visible) {
      if (own.has(name)) continue;
      imported.set(name, cell);
      const list = byCell.get(cell) ?? [];
      list.push(name);
      byCell.set(cell, list);
    }
    const parts = [...byCell.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([cell, list]) => `import { ${list.join(", ")} } from ${JSON.stringify("./" + fileOf(cell))};`);
    parts.push(`export { ${names.map((n) => n.name).join(", ")} };`);
    const header = parts.join(" ");
    cells.push({ source, content: `${header}\n${source}`, offset: header.length + 1, names, imported });
    for (const n of names) visible.set(n.name, index);
  });
  return cells;
}

/** The kind of declaration behind a name that `cell` imports from an earlier cell. */
export function importedKind(cells: readonly VirtualCell[], cell: number, name: string): { cell: number; name: CellName } | undefined {
  const from = cells[cell]?.imported.get(name);
  if (from === undefined) return undefined;
  const declared = cells[from].names.find((n) => n.name === name);
  return declared ? { cell: from, name: declared } : undefined;
}

/**
 * The kernel's message for assigning to `name` declared in an earlier cell, or undefined where the
 * kernel allows it (a `let` or `var`). In a cell file such a name is an import, which TypeScript
 * never lets one assign to (TS2632); in the kernel it is a declaration of the earlier cell's kind.
 */
export function assignmentMessage(kind: DeclarationKind, name: string): { code: number; message: string } | undefined {
  switch (kind) {
    case "let":
    case "var":
      return undefined;
    case "const":
      return { code: 2588, message: `Cannot assign to '${name}' because it is a constant.` };
    case "function":
      return { code: 2630, message: `Cannot assign to '${name}' because it is a function.` };
    case "class":
      return { code: 2629, message: `Cannot assign to '${name}' because it is a class.` };
    case "enum":
      return { code: 2628, message: `Cannot assign to '${name}' because it is an enum.` };
    case "namespace":
      return { code: 2631, message: `Cannot assign to '${name}' because it is a namespace.` };
    default:
      return { code: 2632, message: `Cannot assign to '${name}' because it is an import.` };
  }
}
