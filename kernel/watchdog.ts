/**
 * The kernel's watchdog: a worker thread that works while the main thread is busy in a cell.
 *
 * - It reads the control pipe the client opens beside the IPC channel (fd FERNB_CONTROL_FD):
 *   `i <executionId>` lines are interrupt requests, which it writes into the executor's shared
 *   memory (read by the loop checks of cell code, so a synchronous loop stops) and then passes to
 *   the main thread (which wakes a cell that only waits).
 * - When the client is gone (the pipe reaches its end, or the parent process changed), the kernel
 *   stops whatever its cell is doing: the main thread is asked to exit and, if it cannot because
 *   a cell blocks it, the process is killed a moment later. A kernel never outlives its extension
 *   host or CLI.
 *
 * A worker thread, not a timer of the main thread: a cell in `while (true) {}` never lets the main
 * thread's event loop run.
 */
import { Worker } from "node:worker_threads";

const WATCHDOG_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const net = require("node:net");
const fs = require("node:fs");
const requests = new Int32Array(workerData.interruptRequests);
let stopping = false;
function parentGone(why) {
  if (stopping) return;
  stopping = true;
  parentPort.postMessage({ type: "parent-gone", why });
  // The main thread exits at once if it can; a cell that blocks it cannot stop the kill.
  setTimeout(() => {
    try { fs.writeSync(2, "fernb kernel: " + why + "; the cell did not let the kernel stop, so it is killed.\\n"); } catch {}
    process.kill(process.pid, "SIGKILL");
  }, workerData.graceMs);
}
if (workerData.controlFd !== undefined) {
  let buffered = "";
  const pipe = new net.Socket({ fd: workerData.controlFd, readable: true, writable: false });
  pipe.setEncoding("utf8");
  pipe.on("data", (text) => {
    buffered += text;
    let nl;
    while ((nl = buffered.indexOf("\\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const m = /^i (-?\\d+)$/.exec(line);
      if (!m) continue;
      const id = Number(m[1]);
      Atomics.store(requests, 0, id);
      parentPort.postMessage({ type: "interrupt", executionId: id });
    }
  });
  pipe.on("end", () => parentGone("its client closed the control pipe (the extension host or CLI is gone)"));
  pipe.on("error", () => parentGone("its control pipe failed (the extension host or CLI is gone)"));
}
const parent = process.ppid;
const poll = setInterval(() => {
  if (process.ppid !== parent) parentGone("its parent process " + parent + " is gone");
}, 1000);
if (workerData.controlFd !== undefined) poll.unref();
`;

export interface WatchdogOptions {
  /** The executor's shared interrupt slot. */
  interruptRequests: Int32Array;
  /** The control pipe's file descriptor, if the client opened one. */
  controlFd?: number;
  /** Called on the main thread when an interrupt request arrives through the pipe. */
  onInterrupt(executionId: number): void;
  /** Called on the main thread when the client is gone (if the main thread is free to run it). */
  onParentGone(why: string): void;
  /** How long the main thread gets to exit before the process is killed. */
  graceMs?: number;
}

export function startWatchdog(options: WatchdogOptions): Worker | undefined {
  try {
    const worker = new Worker(WATCHDOG_SOURCE, {
      eval: true,
      workerData: { interruptRequests: options.interruptRequests.buffer, controlFd: options.controlFd, graceMs: options.graceMs ?? 1500 },
      // The watchdog needs none of the kernel's flags or environment tricks.
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    worker.on("message", (m: { type?: string; executionId?: number; why?: string }) => {
      if (m?.type === "interrupt" && typeof m.executionId === "number") options.onInterrupt(m.executionId);
      else if (m?.type === "parent-gone") options.onParentGone(String(m.why));
    });
    worker.on("error", (e) => process.stderr.write(`fernb kernel: the watchdog thread failed: ${e.message}\n`));
    worker.unref();
    return worker;
  } catch (e) {
    process.stderr.write(`fernb kernel: could not start the watchdog thread (${(e as Error).message}); interrupts reach only cells that yield\n`);
    return undefined;
  }
}

/** The control pipe's descriptor from the environment the client sets, if any. */
export function controlFdFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const fd = Number(env.FERNB_CONTROL_FD);
  return Number.isInteger(fd) && fd > 2 ? fd : undefined;
}
