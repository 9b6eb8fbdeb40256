/**
 * Bounded concurrency for many small asynchronous jobs (reading thousands of files, copying them):
 * `pool` runs work(0..count-1) with at most so many in flight; `semaphore` caps one kind of work
 * (e.g. CPU-heavy decodes) inside such a pool.
 */

/** Runs work(0..count-1) with at most `concurrency` of them in flight. */
export async function pool(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
}

/** At most `slots` holders at once; `acquire` waits for a free slot, `release` frees one. */
export function semaphore(slots: number) {
  const waiting: (() => void)[] = [];
  return {
    acquire(): Promise<void> {
      if (slots > 0) {
        slots--;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    release(): void {
      const next = waiting.shift();
      if (next) next();
      else slots++;
    },
  };
}
