/**
 * Runs notebook cells: TypeScript is type-checked against earlier cells and converted by tslab's
 * converter, then executed in this process so declarations carry across cells. Supports top-level
 * `await`, cooperative interrupt (the interrupted cell's variables defined so far are kept), and
 * maps error positions back to the cell's own line numbers.
 */
import * as vm from "node:vm";
import { AsyncLocalStorage } from "node:async_hooks";
import * as ts from "@tslab/typescript-for-tslab";
import { createConverter, type Converter, type Diagnostic } from "tslab/dist/converter";
import { createRequire } from "tslab/dist/executor";
import { createLineMap } from "./lineMap";
import { createMount } from "./typesMount";
import { expandShorthandProperties } from "./shorthand";
import { hasTopLevelAwait, instrumentCode } from "./instrument";
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
  /** The interrupt checks and guards that instrumentCode inserts (see kernel/instrument.ts). */
  check: () => void;
  checkNow: () => void;
  guard: (value: unknown) => unknown;
  guardIterable: (iterable: unknown) => unknown;
}

/** Parameter names of the cell wrapper through which instrumented code reaches the bridge. */
const INSTRUMENT_NAMES = { check: "__fernbCheck", checkNow: "__fernbCheckNow", guard: "__fernbGuard", guardIterable: "__fernbGuardIterable" };

/**
 * One run of one cell. Node's AsyncLocalStorage carries it into everything the cell's code starts:
 * the code after each `await`, callbacks and timers it schedules, functions of earlier cells it
 * calls. So the checks know which run the code belongs to, and an interrupted run stays stopped
 * while later cells run.
 */
class CellRun {
  readonly abort = new AbortController();
  interrupted = false;
  finished = false;
  /** Rejecters of this run's guarded awaits that are still pending. */
  readonly pending = new Set<(reason: unknown) => void>();
  constructor(readonly executionId: number) {}
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
  if (Object.keys(mounts).length === 0) return;
  const map = createMount(mounts);
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
  private readonly runs = new AsyncLocalStorage<CellRun>();
  /** The run of the latest cell (running or finished). */
  private current: CellRun | undefined;
  private autoExecutionId = 0;
  /**
   * Interrupt requests from any thread: slot 0 holds the execution id of the latest run to
   * interrupt. The kernel's watchdog thread writes it while this thread may be busy in a loop of
   * the cell; the loop checks read it, so a synchronous loop stops without the event loop.
   */
  readonly interruptRequests = new Int32Array(new SharedArrayBuffer(4));
  private seenRequest = 0;
  /** Set by the first interrupt; from then on loop checks also look for an interrupted run (code of an interrupted cell that caught the interrupt). */
  private interruptedOnce = false;

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
    let loopCount = 0;
    const bridge: Bridge = {
      exports: locals,
      require: withBuiltins(createRequire(options.rootDir), values),
      // Runs at every loop iteration of cell code, so it does little: the shared memory is read every
      // 16th iteration (Atomics.load costs about 20 ns, the counter about 1-3 ns).
      check: () => {
        if (++loopCount < 16) return;
        loopCount = 0;
        this.checkLoop();
      },
      checkNow: () => {
        if (Atomics.load(this.interruptRequests, 0) !== this.seenRequest) this.takeRequests(false);
        if (this.interruptedOnce) this.throwIfRunInterrupted();
      },
      guard: (value) => {
        const run = this.runs.getStore();
        return run ? this.guardIn(run, value) : value;
      },
      guardIterable: (iterable) => this.guardIterable(iterable),
    };
    vm.runInThisContext("(bridge) => { globalThis.__fernb__ = bridge; }")(bridge);
  }

  /**
   * Aborted when the cell is interrupted; long loops check it (the training loop does). Inside a
   * cell's code (after its awaits too) it is that cell's signal, elsewhere the latest cell's.
   */
  get signal(): AbortSignal {
    return (this.runs.getStore() ?? this.current)?.abort.signal ?? new AbortController().signal;
  }

  /** The execution id of the cell whose code is running now (undefined outside any cell's code). */
  get callerExecutionId(): number | undefined {
    return this.runs.getStore()?.executionId;
  }

  /** True when the code running now belongs to a cell that was interrupted. */
  get callerInterrupted(): boolean {
    return this.runs.getStore()?.interrupted === true;
  }

  /**
   * Stops the running cell (only if it is execution `executionId`, when given): its pending
   * awaits end with the interruption at once, its loops stop at their next iteration, and none of
   * its statements runs afterwards. Variables it defined so far are kept.
   */
  interrupt(executionId?: number): void {
    const run = this.current;
    if (!run || run.finished || (executionId !== undefined && run.executionId !== executionId)) return;
    this.interruptRun(run);
  }

  private interruptRun(run: CellRun): void {
    if (run.interrupted) return;
    run.interrupted = true;
    this.interruptedOnce = true;
    // Abort listeners (a progress bar that says where it stopped) run in the cell's own context.
    this.runs.run(run, () => run.abort.abort(new InterruptedError()));
    const pending = [...run.pending];
    run.pending.clear();
    for (const reject of pending) reject(new InterruptedError());
  }

  /** Applies interrupt requests written by another thread; with `thenThrow`, stops the caller if its run is interrupted. */
  private takeRequests(thenThrow: boolean): void {
    const id = Atomics.load(this.interruptRequests, 0);
    this.seenRequest = id;
    this.interrupt(id);
    if (thenThrow) this.throwIfRunInterrupted();
  }

  private checkLoop(): void {
    if (Atomics.load(this.interruptRequests, 0) !== this.seenRequest) this.takeRequests(true);
    else if (this.interruptedOnce) this.throwIfRunInterrupted();
  }

  private throwIfRunInterrupted(): void {
    if (this.runs.getStore()?.interrupted) throw new InterruptedError();
  }

  /** A promise of `value` that rejects with the interruption as soon as `run` is interrupted. */
  private guardIn(run: CellRun, value: unknown): Promise<unknown> {
    if (Atomics.load(this.interruptRequests, 0) !== this.seenRequest) this.takeRequests(false);
    if (run.interrupted) return Promise.reject(new InterruptedError());
    return new Promise((resolve, reject) => {
      run.pending.add(reject);
      Promise.resolve(value).then(
        (v) => {
          run.pending.delete(reject);
          if (run.interrupted) reject(new InterruptedError());
          else resolve(v);
        },
        (e) => {
          run.pending.delete(reject);
          reject(run.interrupted ? new InterruptedError() : e);
        },
      );
    });
  }

  /** The iterable of a `for await` loop, each of its steps guarded. */
  private guardIterable(iterable: unknown): unknown {
    const run = this.runs.getStore();
    const make = (iterable as { [Symbol.asyncIterator]?: () => AsyncIterator<unknown> } | null | undefined)?.[Symbol.asyncIterator];
    if (!run || typeof make !== "function") return iterable;
    const source = make.call(iterable);
    const guarded: AsyncIterableIterator<unknown> = {
      [Symbol.asyncIterator]: () => guarded,
      next: (...args: [] | [unknown]) => this.guardIn(run, Reflect.apply(source.next, source, args)) as Promise<IteratorResult<unknown>>,
      return: (value?: unknown) => Promise.resolve(source.return ? source.return(value) : { value, done: true as const }),
    };
    if (source.throw) guarded.throw = (e?: unknown) => Promise.resolve(source.throw!(e));
    return guarded;
  }

  async execute(code: string, label: string, executionId = --this.autoExecutionId): Promise<CellOutcome> {
    const run = new CellRun(executionId);
    this.current = run;
    try {
      return await this.executeRun(run, code, label);
    } finally {
      run.finished = true;
    }
  }

  private async executeRun(run: CellRun, code: string, label: string): Promise<CellOutcome> {
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
    const n = INSTRUMENT_NAMES;
    const params = `exports, require, ${n.check}, ${n.checkNow}, ${n.guard}, ${n.guardIterable}`;
    const isAsync = converted.hasToplevelAwait || hasTopLevelAwait(converted.output);
    const prefix = isAsync ? `(async function(${params}) { ` : `(function(${params}) { `;
    const wrapped = instrumentCode(
      `${prefix}${converted.output}\n})(__fernb__.exports, __fernb__.require, __fernb__.check, __fernb__.checkNow, __fernb__.guard, __fernb__.guardIterable)`,
      n,
    );

    try {
      const result: unknown = this.runs.run(run, () =>
        vm.runInThisContext(wrapped, {
          filename: `${CELL_FILE_PREFIX}${id}.js`,
          breakOnSigint: true,
        }),
      );
      // Ends with the interruption at once, whatever the cell's code is waiting for.
      if (isAsync) await this.guardIn(run, result);
    } catch (e) {
      // Keep what the cell declared: values assigned before the failure stay usable.
      this.prevDecl = converted.declOutput ?? this.prevDecl;
      const wasInterrupt = e instanceof InterruptedError || run.interrupted || isSigintBreak(e);
      // Whatever the cell started before a SIGINT broke it stops too.
      if (wasInterrupt) this.interruptRun(run);
      return {
        ok: false,
        hasValue: false,
        interrupted: wasInterrupt,
        error: wasInterrupt ? interruptError() : this.runtimeError(e),
      };
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
