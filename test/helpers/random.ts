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
