import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";

/** Deterministic uniform values in [-1, 1) (xorshift32), for kernel and backend comparisons. */
export function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
}

/**
 * Asserts max |actual − expected| ≤ tol × max(max |expected|, floor) (NaN fails); returns that
 * relative error.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol: number, floor = 1e-3): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let maxAbs = 0;
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
  }
  assert.ok(maxDiff <= tol * Math.max(maxAbs, floor), `${what}: max |diff| ${maxDiff} vs max |expected| ${maxAbs} (tolerance ${tol} relative)`);
  return maxDiff / Math.max(maxAbs, floor);
}

/** Runs `f` on a tfjs backend and returns its outputs' values. */
export async function valuesOn(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const vals = outs.map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
  tf.dispose(outs);
  return vals;
}

/** Asserts that `f`'s outputs on `backend` match the cpu backend's within `tol` (relative). */
export async function compareWithCpu(backend: string, what: string, f: () => tf.Tensor[], tol: number): Promise<void> {
  const expected = await valuesOn("cpu", f);
  const actual = await valuesOn(backend, f);
  expected.forEach((e, i) => assertClose(actual[i], e, `${what} [output ${i}]`, tol));
}
