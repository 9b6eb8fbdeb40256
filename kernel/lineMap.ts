/**
 * Maps line numbers of the JavaScript that tslab's converter emits for a cell back to the lines of
 * the cell's TypeScript source, so errors point at the line the user wrote.
 *
 * tslab emits no source map; its output keeps the statements in order but drops type annotations,
 * reformats some constructs and inserts `exports.x = x;` lines. We align the two line sequences
 * with a dynamic-programming alignment that scores each pair of lines by token similarity.
 */

const TOKEN = /[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\S/g;
const MIN_SIMILARITY = 0.34;

function tokens(line: string): string[] {
  // Output-only noise: `exports.x = ` prefixes and `exports.` qualifiers added by the converter.
  const cleaned = line.replace(/^\s*exports\.[\w$]+\s*=\s*/, "").replace(/\bexports\./g, "");
  return cleaned.match(TOKEN) ?? [];
}

function similarity(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const t of a) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of b) {
    const n = counts.get(t) ?? 0;
    if (n > 0) {
      common++;
      counts.set(t, n - 1);
    }
  }
  return common / (a.length + b.length - common);
}

/**
 * Returns a function from a 1-based output line to the 1-based source line it came from.
 * Output lines that match no source line (inserted by the converter) map to the source line of the
 * nearest matched output line before them.
 */
export function createLineMap(source: string, output: string): (outputLine: number) => number {
  const src = source.split("\n").map(tokens);
  const out = output.split("\n").map(tokens);
  const n = src.length;
  const m = out.length;
  // score[i][j]: best alignment of src[i..] with out[j..]
  const score: Float64Array[] = Array.from({ length: n + 1 }, () => new Float64Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      let best = Math.max(score[i + 1][j], score[i][j + 1]);
      const s = similarity(src[i], out[j]);
      if (s >= MIN_SIMILARITY) best = Math.max(best, s + score[i + 1][j + 1]);
      score[i][j] = best;
    }
  }
  const matched = new Int32Array(m).fill(-1);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const s = similarity(src[i], out[j]);
    if (s >= MIN_SIMILARITY && score[i][j] === s + score[i + 1][j + 1]) {
      matched[j] = i;
      i++;
      j++;
    } else if (score[i][j] === score[i + 1][j]) {
      i++;
    } else {
      j++;
    }
  }
  const mapped = new Int32Array(m);
  let last = 0;
  for (let k = 0; k < m; k++) {
    if (matched[k] >= 0) last = matched[k];
    mapped[k] = last + 1;
  }
  return (outputLine: number) => {
    if (m === 0) return 1;
    const k = Math.min(Math.max(outputLine, 1), m) - 1;
    return mapped[k];
  };
}
