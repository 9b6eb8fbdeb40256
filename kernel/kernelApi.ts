/**
 * The `kernel` global of cells: the current cell's interrupt signal, for long-running loops that
 * stop cleanly at a safe point (the training loop checks it every batch).
 */
import { InterruptedError } from "./executor";

export interface KernelApi {
  /** Aborted when the user interrupts the running cell. */
  readonly signal: AbortSignal;
  readonly interrupted: boolean;
  /** Throws an InterruptedError if the cell was interrupted. */
  throwIfInterrupted(): void;
  /** Waits `ms` milliseconds; rejects at once if the cell is interrupted. */
  sleep(ms: number): Promise<void>;
}

export function createKernelApi(currentSignal: () => AbortSignal | undefined): KernelApi {
  const signal = (): AbortSignal => currentSignal() ?? new AbortController().signal;
  return {
    get signal() {
      return signal();
    },
    get interrupted() {
      return signal().aborted;
    },
    throwIfInterrupted() {
      if (signal().aborted) throw new InterruptedError();
    },
    sleep(ms: number) {
      const s = signal();
      return new Promise<void>((resolve, reject) => {
        if (s.aborted) return reject(new InterruptedError());
        const timer = setTimeout(() => {
          s.removeEventListener("abort", onAbort);
          resolve();
        }, ms);
        const onAbort = () => {
          clearTimeout(timer);
          reject(new InterruptedError());
        };
        s.addEventListener("abort", onAbort, { once: true });
      });
    },
  };
}

// The declarations of this API that cells are type-checked against live in ./prelude (the extension
// type-checks cells with them too, without loading the kernel).
export { KERNEL_DECLARATIONS } from "./prelude";
