/**
 * The names a cell declares at its top level: what the kernel carries into later cells (tslab
 * exports every top-level local of a cell and declares it for the cells after it).
 */
import * as ts from "@tslab/typescript-for-tslab";

export type DeclarationKind = "const" | "let" | "var" | "function" | "class" | "interface" | "type" | "enum" | "namespace" | "import";

export interface CellName {
  name: string;
  kind: DeclarationKind;
  /** Offset of the declaring identifier in the cell's source. */
  offset: number;
}

/** Top-level names of `source`, in source order; a name declared twice is listed once, at its first declaration. */
export function topLevelNames(source: string): CellName[] {
  const file = ts.createSourceFile("cell.ts", source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  return namesOf(file);
}

export function namesOf(file: ts.SourceFile): CellName[] {
  const names: CellName[] = [];
  const seen = new Set<string>();
  const add = (id: ts.Identifier | undefined, kind: DeclarationKind): void => {
    if (!id || !ts.isIdentifier(id)) return;
    const name = id.text;
    if (name === "" || seen.has(name)) return;
    seen.add(name);
    names.push({ name, kind, offset: id.getStart(file) });
  };
  const addBinding = (binding: ts.BindingName, kind: DeclarationKind): void => {
    if (ts.isIdentifier(binding)) return add(binding, kind);
    for (const element of binding.elements) {
      if (ts.isBindingElement(element)) addBinding(element.name, kind);
    }
  };
  for (const statement of file.statements) {
    if (ts.isVariableStatement(statement)) {
      const flags = statement.declarationList.flags;
      const kind: DeclarationKind = flags & ts.NodeFlags.Const ? "const" : flags & ts.NodeFlags.Let ? "let" : "var";
      for (const d of statement.declarationList.declarations) addBinding(d.name, kind);
    } else if (ts.isFunctionDeclaration(statement)) add(statement.name, "function");
    else if (ts.isClassDeclaration(statement)) add(statement.name, "class");
    else if (ts.isInterfaceDeclaration(statement)) add(statement.name, "interface");
    else if (ts.isTypeAliasDeclaration(statement)) add(statement.name, "type");
    else if (ts.isEnumDeclaration(statement)) add(statement.name, "enum");
    else if (ts.isModuleDeclaration(statement)) {
      if (ts.isIdentifier(statement.name)) add(statement.name, "namespace");
    } else if (ts.isImportEqualsDeclaration(statement)) add(statement.name, "import");
    else if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (!clause) continue;
      add(clause.name, "import");
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) add(bindings.name, "import");
      else if (bindings) for (const e of bindings.elements) add(e.name, "import");
    } else if (ts.isForStatement(statement) || ts.isForOfStatement(statement) || ts.isForInStatement(statement)) {
      // `for (var i ...)` declares `i` at the top level; `let`/`const` stay in the loop.
      const init = statement.initializer;
      if (init && ts.isVariableDeclarationList(init) && !(init.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const))) {
        for (const d of init.declarations) addBinding(d.name, "var");
      }
    }
  }
  return names;
}
