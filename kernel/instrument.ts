/**
 * Makes converted cell code interruptible wherever it runs, before or after its first `await`:
 *
 * - every loop body (for, for-in, for-of, for-await, while, do-while) starts with a call of the
 *   interrupt check, which throws once the cell that runs it was interrupted;
 * - every `await x` becomes `await guard(x)`: the guard ends with the interruption as soon as the
 *   cell is interrupted, even if `x` never settles, so no statement after it runs;
 * - the iterable of every `for await` goes through the same guard, item by item;
 * - every `catch` block starts with the same check, so a `try`/`catch` in the cell does not
 *   swallow the interrupt and carry on.
 *
 * Insertions never add a line break, so line numbers of the emitted JavaScript (and the cell's
 * line map) stay valid.
 */
import * as ts from "@tslab/typescript-for-tslab";

export interface InstrumentNames {
  /** `check()`, at the start of every loop iteration: throws if the running cell was interrupted. */
  check: string;
  /** `checkNow()`, first thing in every `catch` block: an interrupt is not swallowed by a catch. */
  checkNow: string;
  /** `guard(value)`: a promise of `value` that rejects when the cell is interrupted. */
  guard: string;
  /** `guardIterable(iterable)`: an async iterable whose items are guarded. */
  guardIterable: string;
}

interface Edit {
  pos: number;
  text: string;
  /** Closers go before openers at the same position; openers in tree order, closers in reverse. */
  closer: boolean;
  order: number;
}

export function instrumentCode(code: string, names: InstrumentNames): string {
  const file = ts.createSourceFile("cell.js", code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const edits: Edit[] = [];
  let order = 0;
  const open = (pos: number, text: string) => edits.push({ pos, text, closer: false, order: order++ });
  const close = (pos: number, text: string) => edits.push({ pos, text, closer: true, order: order++ });
  const checkCall = `${names.check}();`;

  const instrumentBody = (body: ts.Statement) => {
    if (ts.isBlock(body)) {
      open(body.getStart(file) + 1, checkCall);
    } else {
      open(body.getStart(file), `{${checkCall}`);
      close(body.end, "}");
    }
  };

  const visit = (node: ts.Node): void => {
    switch (node.kind) {
      case ts.SyntaxKind.ForStatement:
      case ts.SyntaxKind.ForInStatement:
      case ts.SyntaxKind.WhileStatement:
      case ts.SyntaxKind.DoStatement:
        instrumentBody((node as ts.IterationStatement).statement);
        break;
      case ts.SyntaxKind.ForOfStatement: {
        const loop = node as ts.ForOfStatement;
        if (loop.awaitModifier) {
          open(loop.expression.getStart(file), `${names.guardIterable}(`);
          close(loop.expression.end, ")");
        }
        instrumentBody(loop.statement);
        break;
      }
      case ts.SyntaxKind.CatchClause:
        open((node as ts.CatchClause).block.getStart(file) + 1, `${names.checkNow}();`);
        break;
      case ts.SyntaxKind.AwaitExpression: {
        const operand = (node as ts.AwaitExpression).expression;
        open(operand.getStart(file), `${names.guard}(`);
        close(operand.end, ")");
        break;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  if (edits.length === 0) return code;

  edits.sort((a, b) => a.pos - b.pos || (a.closer === b.closer ? (a.closer ? b.order - a.order : a.order - b.order) : a.closer ? -1 : 1));
  let out = "";
  let at = 0;
  for (const e of edits) {
    out += code.slice(at, e.pos) + e.text;
    at = e.pos;
  }
  return out + code.slice(at);
}

/**
 * True when converted cell code awaits at its top level (outside any function of its own), so it
 * must run in an async wrapper. tslab's own flag misses some cases: a top-level `for await`, an
 * `await` in the cell's last expression after a loop.
 */
export function hasTopLevelAwait(code: string): boolean {
  const file = ts.createSourceFile("cell.js", `(async function () {\n${code}\n})`, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  let wrapper: ts.Node | undefined;
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node)) {
      if (wrapper) return;
      wrapper = node;
    }
    if (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier)) {
      found = true;
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}
