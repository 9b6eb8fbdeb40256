/**
 * Starts and talks to one kernel process (kernel/main.ts). Free of the `vscode` API so the
 * headless runner and the unit tests drive the very same client against a real kernel process.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describeMalformedMessage } from "../protocol/messageShape";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import {
  parseFromKernel,
  PROTOCOL_VERSION,
  type CellError,
  type FromKernel,
  type OutputItem,
  type ToKernel,
  type VariablesMessage,
} from "../protocol";

export interface KernelClientOptions {
  /** The bundled kernel entry (dist/kernel.js). */
  kernelPath: string;
  /** Working folder of the kernel: cells import packages and open files relative to it. */
  cwd: string;
  /** Node.js executable; default: the one running this process. */
  nodePath?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the kernel's `ready` message. */
  startTimeoutMs?: number;
}

/** Receives what a running cell produces, as it happens. */
export interface ExecutionObserver {
  onStream(name: "stdout" | "stderr", text: string): void;
  onDisplay(displayId: string, update: boolean, items: OutputItem[]): void;
}

export interface ExecutionOutcome {
  ok: boolean;
  error?: CellError;
  interrupted?: boolean;
  /** The kernel process died or was restarted while this cell ran: its state is gone. */
  kernelLost?: boolean;
}

interface Pending {
  observer: ExecutionObserver;
  resolve: (outcome: ExecutionOutcome) => void;
  cellLabel: string;
}

/** What the kernel is doing, as the status bar shows it. */
export type KernelState = "not started" | "starting" | "idle" | "busy" | "not responding" | "dead";

/** A restart: when, and the top-level names the kernel had before it. */
export interface RestartRecord {
  at: Date;
  names: string[];
}

/**
 * The error a cell gets for a name that existed before a restart ("Cannot find name 'x'" from the
 * type check, "x is not defined" at run time), with a note that the kernel was restarted; undefined
 * when the error names none of `restart.names`.
 */
export function explainRestart(error: CellError, restart: RestartRecord): CellError | undefined {
  const before = new Set(restart.names);
  const text = `${error.message}\n${error.stack}`;
  const named = [
    ...[...text.matchAll(/Cannot find name '([\w$]+)'/g)].map((m) => m[1]),
    ...[...text.matchAll(/\b([A-Za-z_$][\w$]*) is not defined\b/g)].map((m) => m[1]),
  ].find((name) => before.has(name));
  if (!named) return undefined;
  const time = `${String(restart.at.getHours()).padStart(2, "0")}:${String(restart.at.getMinutes()).padStart(2, "0")}`;
  const note = `'${named}' was declared before the FER Kernel was restarted at ${time}, so variables from before are gone: run the cells above again.`;
  // VS Code shows an error's stack when it has one (not its message): the note goes in both.
  return { ...error, message: `${error.message}\n${note}`, stack: error.stack ? `${error.stack}\n${note}` : error.stack };
}

/** The resident memory of process `pid` in bytes, from /proc (Linux); undefined elsewhere or when it cannot be read. */
export async function processRss(pid: number): Promise<number | undefined> {
  if (process.platform !== "linux") return undefined;
  try {
    const m = /^VmRSS:\s*(\d+)\s*kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The kernel reads interrupt requests from this descriptor (a pipe beside the IPC channel). */
const CONTROL_FD = 4;

export const KERNEL_NOT_RESPONDING =
  "The cell did not stop after the interrupt: it is blocking the kernel in code the interrupt cannot reach " +
  "(native code, or code built with eval/new Function, that never yields; loops in the cell's own code do stop). " +
  "Restart the kernel to stop it (command 'fernb: Restart FER Kernel' or the notebook toolbar). " +
  "Variables of this notebook will be lost.";

/**
 * Events: `exit` (description: string) when the process ends, `log` (text) for kernel output
 * that belongs to no running cell, `interrupted-output` (cellLabel: string, text: string) for
 * output of code that an interrupted cell left behind (a timer or callback it started, which the
 * interrupt cannot stop), `renderer-reply` (rendererId: string, message: unknown) when the kernel
 * answers a renderer message (see `sendRendererMessage`), `state` (KernelState) whenever `state`
 * changes.
 */
export class KernelClient extends EventEmitter {
  private child: ChildProcess | undefined;
  private starting: Promise<void> | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** Set when an interrupt did not stop the running cell; cleared by a restart. */
  private unresponsive = false;
  private stopping = false;
  /** Interrupt requests go here: a thread of the kernel reads them even while a cell blocks its event loop. */
  private control: Socket | undefined;
  /** Labels of interrupted executions, to tell their leftover output apart (the latest 100). */
  private readonly interrupted = new Map<number, string>();
  /** Set while the process starts, until it is ready or fails. */
  private startingNow = false;
  /** How the last process ended when nobody stopped it (a crash), until the next start. */
  private crashed: string | undefined;
  /** The latest restart, until an error names one of the variables it dropped (see explainRestart). */
  lastRestart: RestartRecord | undefined;

  constructor(private readonly options: KernelClientOptions) {
    super();
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What the kernel is doing: not started, starting, idle, busy (a cell runs), not responding, or dead (crashed). */
  get state(): KernelState {
    if (this.unresponsive && this.running) return "not responding";
    if (this.running) return this.startingNow ? "starting" : this.pending.size > 0 ? "busy" : "idle";
    return this.crashed ? "dead" : "not started";
  }

  /** How the kernel process ended when it crashed ("exit code 1", "killed by SIGKILL"), while state is "dead". */
  get crashDescription(): string | undefined {
    return this.crashed;
  }

  private lastState: KernelState = "not started";
  private emitState(): void {
    const state = this.state;
    if (state === this.lastState) return;
    this.lastState = state;
    this.emit("state", state);
  }

  /**
   * The kernel process's resident memory in bytes: from /proc on Linux (answers while a cell
   * blocks the kernel), else the kernel's own process.memoryUsage(); undefined when not running.
   */
  async memory(): Promise<number | undefined> {
    const pid = this.pid;
    if (!this.running || pid === undefined) return undefined;
    return (await processRss(pid)) ?? (await this.inspect(1500))?.process?.rss;
  }

  /** The TensorFlow.js backend the running kernel reported, once it is ready. */
  backend: string | undefined;

  /** Starts the process if it is not running; resolves when it is ready for cells. */
  start(): Promise<void> {
    if (this.running && this.starting) return this.starting;
    this.unresponsive = false;
    this.stopping = false;
    this.crashed = undefined;
    this.startingNow = true;
    const child = fork(this.options.kernelPath, [], {
      cwd: this.options.cwd,
      execPath: this.options.nodePath || process.execPath,
      env: { ...process.env, ...this.options.env, ELECTRON_RUN_AS_NODE: "1", FERNB_CONTROL_FD: String(CONTROL_FD) },
      // Not the parent's flags (a debugger port, a TypeScript loader): the kernel is plain Node.
      execArgv: [],
      serialization: "advanced",
      // fd 4: the control pipe. Its end also tells the kernel that this process is gone.
      stdio: ["ignore", "pipe", "pipe", "ipc", "pipe"],
    });
    this.child = child;
    this.emitState();
    const control = child.stdio[CONTROL_FD] as Socket | null;
    if (control) {
      control.on("error", () => undefined);
      // Never keeps this process alive; closes with it.
      control.unref?.();
    }
    this.control = control ?? undefined;
    let stderrTail = "";
    const raw = (name: "stdout" | "stderr") => (chunk: Buffer) => {
      // Writes that bypass the kernel's stream capture (native code, early start-up failures).
      const text = chunk.toString("utf8");
      if (name === "stderr") stderrTail = (stderrTail + text).slice(-4000);
      const current = this.currentPending();
      if (current) current.observer.onStream(name, text);
      else this.emit("log", text);
    };
    child.stdout!.on("data", raw("stdout"));
    child.stderr!.on("data", raw("stderr"));

    this.starting = new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => {
        reject(new Error(`The FER kernel did not start within ${(this.options.startTimeoutMs ?? 60000) / 1000} s.${stderrTail ? `\n${stderrTail}` : ""}`));
        child.kill("SIGKILL");
      }, this.options.startTimeoutMs ?? 60000);
      child.on("message", (raw) => {
        const message = parseFromKernel(raw);
        if (!message) {
          // Described without walking it: a cell can send anything (process.send), deep, circular or a BigInt.
          this.emit("log", `fernb: ignored a malformed message from the kernel: ${describeMalformedMessage(raw)}\n`);
          return;
        }
        if (message.type === "ready") {
          clearTimeout(timeout);
          if (message.protocol !== PROTOCOL_VERSION) {
            reject(new Error(`The kernel speaks protocol ${message.protocol}, the extension ${PROTOCOL_VERSION}: rebuild fernb (npm run build).`));
            child.kill("SIGKILL");
          } else {
            this.backend = message.backend;
            this.startingNow = false;
            this.emit("ready", message.backend);
            this.emitState();
            resolve();
          }
          return;
        }
        this.onMessage(message);
      });
      child.on("error", (e) => {
        clearTimeout(timeout);
        reject(new Error(`The FER kernel could not be started with ${this.options.nodePath || process.execPath}: ${e.message}`));
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timeout);
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        const why = this.stopping ? "The kernel was restarted" : `The FER kernel process stopped unexpectedly (${how})`;
        reject(new Error(`${why} before it was ready.${stderrTail ? `\n${stderrTail}` : ""}`));
        if (this.child === child) {
          this.child = undefined;
          this.control = undefined;
          this.startingNow = false;
          if (!this.stopping) this.crashed = how;
        }
        control?.destroy();
        this.failPending(
          this.stopping
            ? { name: "KernelRestarted", message: "The kernel was restarted while this cell ran; its variables are gone.", stack: "" }
            : {
                name: "KernelCrashed",
                message: `${why} while this cell was running. Its variables are gone; the next run starts a fresh kernel.${stderrTail ? `\nLast kernel error output:\n${stderrTail.trim()}` : ""}`,
                stack: "",
              },
        );
        this.emit("exit", how);
        this.emitState();
      });
    });
    return this.starting;
  }

  /** Runs one cell; resolves when it ends, whatever the way (error, interrupt, crash). */
  async execute(code: string, cellLabel: string, observer: ExecutionObserver): Promise<ExecutionOutcome> {
    if (this.unresponsive) {
      return { ok: false, error: { name: "KernelBusy", message: KERNEL_NOT_RESPONDING, stack: "" } };
    }
    await this.start();
    const executionId = ++this.nextId;
    const outcome = await new Promise<ExecutionOutcome>((resolve) => {
      this.pending.set(executionId, { observer, resolve, cellLabel });
      this.send({ type: "execute", executionId, cellLabel, code });
      this.emitState();
    });
    this.emitState();
    const explained = outcome.error && this.lastRestart ? explainRestart(outcome.error, this.lastRestart) : undefined;
    if (!explained) return outcome;
    this.lastRestart = undefined; // only the first such error says it
    return { ...outcome, error: explained };
  }

  /**
   * Asks the running cell to stop: through the control pipe, read by a thread of the kernel that
   * works while the cell's code loops, with the cell's execution id (so it never stops a later
   * cell), and by IPC, which also drops queued cells. Without a control pipe, SIGINT breaks a
   * cell's synchronous start (not sent otherwise: a signal that arrives after the cell stopped
   * would break the next one). If it has not stopped after `timeoutMs`, its execution ends with
   * KERNEL_NOT_RESPONDING and the kernel refuses work until restarted. Resolves true if the cell
   * stopped.
   */
  async interrupt(timeoutMs = 5000): Promise<boolean> {
    const current = this.currentEntry();
    if (!current || !this.child) return true;
    const piped = this.control !== undefined && !this.control.destroyed && this.control.writable;
    if (piped) this.control!.write(`i ${current[0]}\n`);
    this.send({ type: "interrupt" });
    if (!piped && process.platform !== "win32") this.child.kill("SIGINT");
    const stopped = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const original = current[1].resolve;
      current[1].resolve = (outcome) => {
        clearTimeout(timer);
        original(outcome);
        resolve(true);
      };
    });
    if (!stopped) {
      this.unresponsive = true;
      this.failPending({ name: "KernelBusy", message: KERNEL_NOT_RESPONDING, stack: "" }, false);
    }
    this.emitState();
    return stopped;
  }

  /**
   * Stops the process (if running) and starts a fresh one. The names the old kernel had (asked
   * unless `namesBefore` is given) are kept in `lastRestart`: the first error of a later cell that
   * names one of them says that the kernel was restarted.
   */
  async restart(namesBefore?: string[]): Promise<void> {
    const names = namesBefore ?? (this.running && !this.unresponsive ? ((await this.inspect(1500))?.variables.map((v) => v.name) ?? []) : []);
    await this.stop();
    if (names.length > 0) this.lastRestart = { at: new Date(), names };
    await this.start();
  }

  /** Stops the process; running cells end with a "kernel restarted" error. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.stopping = true;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (this.unresponsive || !child.connected) child.kill("SIGKILL");
    else {
      this.send({ type: "shutdown" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      exited.finally(() => clearTimeout(timer));
    }
    await exited;
    this.child = undefined;
    this.emitState();
  }

  /**
   * Forwards a message a notebook renderer posted to the kernel; its answer arrives as a
   * `renderer-reply` event. Returns false (nothing sent) when the kernel is not running.
   */
  sendRendererMessage(rendererId: string, message: unknown): boolean {
    if (!this.running || !this.child?.connected || this.unresponsive) return false;
    this.send({ type: "renderer-message", rendererId, message });
    return true;
  }

  /** Subscribes to the kernel's answers to renderer messages; returns the unsubscriber. */
  onRendererReply(listener: (rendererId: string, message: unknown) => void): () => void {
    this.on("renderer-reply", listener);
    return () => this.off("renderer-reply", listener);
  }

  private send(message: ToKernel): void {
    if (this.child?.connected) this.child.send(message);
  }

  private currentEntry(): [number, Pending] | undefined {
    const first = this.pending.entries().next();
    return first.done ? undefined : first.value;
  }

  private currentPending(): Pending | undefined {
    return this.currentEntry()?.[1];
  }

  /**
   * The kernel's top-level variables and TensorFlow.js memory (the variables view), or undefined
   * when the kernel is not running or does not answer within `timeoutMs` (a cell blocking it).
   */
  inspect(timeoutMs = 3000): Promise<VariablesMessage | undefined> {
    if (!this.running || !this.child?.connected) return Promise.resolve(undefined);
    const requestId = ++this.inspectId;
    return new Promise((resolve) => {
      const done = (answer: VariablesMessage | undefined) => {
        clearTimeout(timer);
        this.off("variables", onAnswer);
        resolve(answer);
      };
      const onAnswer = (answer: VariablesMessage) => {
        if (answer.requestId === requestId) done(answer);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.on("variables", onAnswer);
      this.send({ type: "inspect", requestId });
    });
  }
  private inspectId = 0;

  private onMessage(message: Exclude<FromKernel, { type: "ready" }>): void {
    if (message.type === "renderer-reply") {
      this.emit("renderer-reply", message.rendererId, message.message);
      return;
    }
    if (message.type === "variables") {
      this.emit("variables", message);
      return;
    }
    const entry = this.pending.get(message.executionId);
    switch (message.type) {
      case "stream":
        if (entry) entry.observer.onStream(message.name, message.text);
        else if (this.interrupted.has(message.executionId)) this.emit("interrupted-output", this.interrupted.get(message.executionId), message.text);
        else this.emit("log", message.text);
        break;
      case "display":
        entry?.observer.onDisplay(message.displayId, message.update, message.items);
        break;
      case "result":
        if (entry) {
          this.pending.delete(message.executionId);
          if (message.interrupted) {
            this.interrupted.set(message.executionId, entry.cellLabel);
            if (this.interrupted.size > 100) this.interrupted.delete(this.interrupted.keys().next().value!);
          }
          entry.resolve({ ok: message.ok, error: message.error, interrupted: message.interrupted });
        }
        break;
    }
  }

  private failPending(error: CellError, kernelLost = true): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const p of entries) p.resolve({ ok: false, error, kernelLost });
  }
}
