/**
 * Works around a tslab converter gap: in `{ name }` (a shorthand property) it does not rewrite
 * `name` to the variable of an earlier cell, so the cell fails with "name is not defined". We
 * expand `{ name }` to the equivalent `{ name: name }` before conversion (same line, so error
 * lines stay right).
 */
import * as ts from "@tslab/typescript-for-tslab";

export function expandShorthandProperties(source: string): string {
  const file = ts.createSourceFile("cell.ts", source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const inserts: { at: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) {
      inserts.push({ at: node.name.getEnd(), text: `: ${node.name.text}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  let out = source;
  for (const { at, text } of inserts.sort((a, b) => b.at - a.at)) out = out.slice(0, at) + text + out.slice(at);
  return out;
}
