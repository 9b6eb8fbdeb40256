/**
 * Runs notebook cells: TypeScript is type-checked against earlier cells and converted by tslab's
 * converter, then executed in this process so declarations carry across cells. Supports top-level
 * `await`, cooperative interrupt (the interrupted cell's variables defined so far are kept), and
 * maps error positions back to the cell's own line numbers.
 */
import * as vm from "node:vm";
import * as ts from "@tslab/typescript-for-tslab";
import { createConverter, type Converter, type Diagnostic } from "tslab/dist/converter";
import { createRequire } from "tslab/dist/executor";
import { createLineMap } from "./lineMap";
import { expandShorthandProperties } from "./shorthand";
import type { CellError } from "../protocol";

export interface CellOutcome {
  ok: boolean;
  error?: CellError;
  interrupted?: boolean;
  /** The value of the cell's last expression, if it has one that is not null/undefined. */
  value?: unknown;
  hasValue: boolean;
}

export class InterruptedError extends Error {
  constructor() {
    super("The cell was interrupted. Variables defined before the interrupt are kept.");
    this.name = "Interrupted";
  }
}

interface CellScript {
  label: string;
  toSourceLine: (outputLine: number) => number;
}

const CELL_FILE_PREFIX = "fernb-cell-";
const CELL_FILE = /fernb-cell-(\d+)\.js:(\d+)(?::(\d+))?/g;

/** The globals the executor passes to converted code (tslab's emitted code refers to `exports`). */
interface Bridge {
  exports: Record<string, unknown>;
  require: NodeJS.Require;
}

export interface ExecutorOptions {
  /** Folder whose node_modules cells import from (the notebook's folder). */
  rootDir: string;
  /** Declarations of kernel globals, checked before the first cell. */
  preludeDeclarations: string;
  /** Values of those globals; they live in the shared scope like variables of earlier cells. */
  preludeValues: Record<string, unknown>;
  /**
   * Packages the kernel provides itself, whatever the notebook's folder holds: `import ... from
   * "fernb"` gets `value` at run time and the declarations under `typesDir` (a folder with a
   * package.json naming its `types`) for type checking.
   */
  builtinModules?: Record<string, { value: unknown; typesDir: string }>;
}

/**
 * Makes `<any folder>/node_modules/<name>` resolve to `typesDir` for the type checker, as if it
 * were a symlink: TypeScript then follows its real path, so the declarations' own imports
 * (@tensorflow/tfjs, ...) resolve from the kernel's installation.
 */
function mountTypes(mounts: Record<string, string>): void {
  const entries = Object.entries(mounts).map(([name, dir]) => [`/node_modules/${name}`, dir.replace(/\\/g, "/")] as const);
  if (entries.length === 0) return;
  const map = (p: string): string => {
    const norm = p.replace(/\\/g, "/");
    for (const [marker, dir] of entries) {
      const i = norm.indexOf(marker);
      if (i < 0) continue;
      const rest = norm.slice(i + marker.length);
      if (rest === "" || rest.startsWith("/")) return dir + rest;
    }
    return p;
  };
  const sys = ts.sys as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>;
  for (const method of ["fileExists", "readFile", "directoryExists", "getDirectories", "realpath"]) {
    const original = sys[method];
    if (!original) continue;
    sys[method] = (p: unknown, ...rest: unknown[]) => original.call(ts.sys, typeof p === "string" ? map(p) : p, ...rest);
  }
}

/**
 * tslab's converter runs TypeScript's watch compiler with a single deferred rebuild: a second file
 * event before the next cell (e.g. `npm install` or a rebuild of a package the cells import, while
 * a long cell runs) makes it throw "Unexpected pending rebuildTimer" from a file-watcher callback,
 * an uncaught error in the kernel. A rebuild is already pending then and will see this change too,
 * so that one error is dropped; any other error from a watcher still surfaces.
 */
let watchersPatched = false;
function tolerateQueuedRebuilds(): void {
  if (watchersPatched) return;
  watchersPatched = true;
  const sys = ts.sys as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>;
  for (const method of ["watchFile", "watchDirectory"]) {
    const original = sys[method];
    if (!original) continue;
    sys[method] = (target: unknown, callback: unknown, ...rest: unknown[]) => {
      const guarded =
        typeof callback === "function"
          ? (...args: unknown[]) => {
              try {
                return (callback as (...a: unknown[]) => unknown)(...args);
              } catch (e) {
                if (e instanceof Error && e.message === "Unexpected pending rebuildTimer") return undefined;
                throw e;
              }
            }
          : callback;
      return original.call(ts.sys, target, guarded, ...rest);
    };
  }
}

/** `require` that answers built-in module names itself and defers everything else. */
function withBuiltins(base: NodeJS.Require, modules: Record<string, unknown>): NodeJS.Require {
  return new Proxy(base, {
    apply(target, thisArg, args: unknown[]) {
      const id = args[0];
      if (typeof id === "string" && Object.prototype.hasOwnProperty.call(modules, id)) return modules[id];
      return Reflect.apply(target, thisArg, args);
    },
  });
}

export class CellExecutor {
  private readonly converter: Converter;
  private readonly locals: Record<string, unknown>;
  private readonly scripts = new Map<number, CellScript>();
  private prevDecl: string;
  private scriptCounter = 0;
  private abort = new AbortController();
  private rejectInterrupt: ((reason: unknown) => void) | undefined;

  constructor(private readonly options: ExecutorOptions) {
    const builtins = options.builtinModules ?? {};
    mountTypes(Object.fromEntries(Object.entries(builtins).map(([name, m]) => [name, m.typesDir])));
    tolerateQueuedRebuilds();
    this.converter = createConverter();
    this.prevDecl = options.preludeDeclarations;
    const locals = createLocals();
    Object.assign(locals, options.preludeValues);
    this.locals = locals;
    const values = Object.fromEntries(Object.entries(builtins).map(([name, m]) => [name, m.value]));
    const bridge: Bridge = { exports: locals, require: withBuiltins(createRequire(options.rootDir), values) };
    vm.runInThisContext("(bridge) => { globalThis.__fernb__ = bridge; }")(bridge);
  }

  /** Aborted when the running cell is interrupted; long loops check it (the training loop does). */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Stops the running cell at its next `await` (or at once, for the cell's synchronous start). */
  interrupt(): void {
    this.abort.abort(new InterruptedError());
    this.rejectInterrupt?.(new InterruptedError());
  }

  async execute(code: string, label: string): Promise<CellOutcome> {
    this.abort = new AbortController();
    code = expandShorthandProperties(code);
    const converted = this.converter.convert(this.prevDecl, code);
    if (converted.diagnostics.length > 0) {
      return { ok: false, hasValue: false, error: compileError(label, converted.diagnostics) };
    }
    if (!converted.output) {
      this.prevDecl = converted.declOutput ?? this.prevDecl;
      return { ok: true, hasValue: false };
    }
    const id = ++this.scriptCounter;
    this.scripts.set(id, { label, toSourceLine: createLineMap(code, converted.output) });
    const prefix = converted.hasToplevelAwait ? "(async function(exports, require) { " : "(function(exports, require) { ";
    const wrapped = `${prefix}${converted.output}\n})(__fernb__.exports, __fernb__.require)`;

    const interrupted = new Promise<never>((_, reject) => {
      this.rejectInterrupt = reject;
    });
    interrupted.catch(() => undefined);
    try {
      const result: unknown = vm.runInThisContext(wrapped, {
        filename: `${CELL_FILE_PREFIX}${id}.js`,
        breakOnSigint: true,
      });
      if (converted.hasToplevelAwait) await Promise.race([result, interrupted]);
    } catch (e) {
      // Keep what the cell declared: values assigned before the failure stay usable.
      this.prevDecl = converted.declOutput ?? this.prevDecl;
      const wasInterrupt = e instanceof InterruptedError || this.abort.signal.aborted || isSigintBreak(e);
      return {
        ok: false,
        hasValue: false,
        interrupted: wasInterrupt,
        error: wasInterrupt ? interruptError() : this.runtimeError(e),
      };
    } finally {
      this.rejectInterrupt = undefined;
    }
    this.prevDecl = converted.declOutput ?? this.prevDecl;
    const name = converted.lastExpressionVar;
    if (name && name in this.locals) {
      const value = this.locals[name];
      delete this.locals[name];
      if (value !== undefined && value !== null) return { ok: true, hasValue: true, value };
    }
    return { ok: true, hasValue: false };
  }

  /** Variables visible to the next cell (for tests and inspection). */
  get variables(): Readonly<Record<string, unknown>> {
    return this.locals;
  }

  close(): void {
    this.converter.close();
  }

  /** Turns a thrown value into a CellError whose stack points at cell lines. */
  runtimeError(e: unknown): CellError {
    if (!(e instanceof Error)) {
      const message = typeof e === "string" ? e : JSON.stringify(e) ?? String(e);
      return { name: "Error", message: `A non-Error value was thrown: ${message}`, stack: "" };
    }
    return { name: e.name, message: e.message, stack: this.mapStack(e.stack ?? `${e.name}: ${e.message}`) };
  }

  /** Rewrites `fernb-cell-N.js:L:C` positions to `Cell k:line` and drops the kernel's own frames. */
  mapStack(stack: string): string {
    const lines = stack.split("\n");
    // Node prefixes errors thrown by vm scripts with the emitted JavaScript line and a caret;
    // that line is converter output, not what the user wrote, so start at the "Name: message" line.
    const header = lines.findIndex((l) => /^\w*(Error|Exception)?\b.*?:/.test(l) && !l.includes(CELL_FILE_PREFIX));
    const kept: string[] = [];
    for (const line of header > 0 && lines[header + 1]?.trimStart().startsWith("at ") ? lines.slice(header) : lines) {
      const isFrame = /^\s+at /.test(line);
      // Frames of the kernel itself and of Node internals say nothing about the user's code.
      if (isFrame && !line.includes(CELL_FILE_PREFIX) && /\(node:|at node:|[\\/]dist[\\/]kernel\.js|[\\/]kernel[\\/]\w+\.ts/.test(line)) continue;
      const mapped = line.replace(CELL_FILE, (match, id: string, outLine: string) => {
        const script = this.scripts.get(Number(id));
        return script ? `${script.label}:${script.toSourceLine(Number(outLine))}` : match;
      });
      if (isFrame && kept[kept.length - 1] === mapped) continue;
      kept.push(mapped);
    }
    return kept.join("\n");
  }
}

/** An object that keeps declarations when code redefines them (tslab's emitted code uses defineProperty). */
function createLocals(): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  return new Proxy(target, {
    defineProperty(_t, prop, attrs) {
      if (prop === "__esModule") return true;
      target[prop as string] = attrs.get ? attrs.get() : attrs.value;
      return true;
    },
  });
}

function isSigintBreak(e: unknown): boolean {
  return e instanceof Error && /Script execution (was )?interrupted/i.test(e.message);
}

function interruptError(): CellError {
  const e = new InterruptedError();
  return { name: e.name, message: e.message, stack: "" };
}

function compileError(label: string, diagnostics: Diagnostic[]): CellError {
  const lines = diagnostics.map((d) => {
    const where = d.fileName ? `${d.fileName}:${d.start.line + 1}:${d.start.character + 1}` : `${label}:${d.start.line + 1}:${d.start.character + 1}`;
    return `${where} - error TS${d.code}: ${d.messageText}`;
  });
  const first = diagnostics[0];
  const message =
    diagnostics.length === 1
      ? `${first.messageText} (line ${first.start.line + 1})`
      : `${diagnostics.length} type errors; first: ${first.messageText} (line ${first.start.line + 1})`;
  return { name: "TypeScript", message, stack: lines.join("\n") };
}
