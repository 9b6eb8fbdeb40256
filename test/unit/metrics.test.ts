/**
 * Classification metrics (kernel/fer/metrics.ts) on a hand-checked 7-class case: one class absent
 * from the truth yet predicted, and an asymmetric confusion matrix, so that averaging over all seven
 * classes instead of the classes present, or swapping precision and recall, gives other numbers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { basicMetrics, confusionMatrix } from "../../kernel/fer/metrics";

/** confusion[true][predicted]; class 1 (disgust) never occurs in the truth but is predicted 3 times. */
const CONFUSION = [
  [5, 1, 0, 2, 0, 0, 0],
  [0, 0, 0, 0, 0, 0, 0],
  [1, 0, 3, 0, 0, 2, 0],
  [0, 0, 0, 9, 1, 0, 0],
  [0, 2, 0, 0, 4, 0, 1],
  [0, 0, 1, 0, 0, 5, 0],
  [2, 0, 0, 1, 0, 0, 3],
];

/** Truth and predictions with exactly CONFUSION's counts, in a seeded shuffled order. */
function pairs(): { truth: Int32Array; predicted: Int32Array } {
  const t: number[] = [];
  const p: number[] = [];
  CONFUSION.forEach((row, i) => row.forEach((count, j) => {
    for (let c = 0; c < count; c++) {
      t.push(i);
      p.push(j);
    }
  }));
  // Deterministic shuffle (the metrics must not depend on the order).
  let s = 12345;
  for (let i = t.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [t[i], t[j]] = [t[j], t[i]];
    [p[i], p[j]] = [p[j], p[i]];
  }
  return { truth: Int32Array.from(t), predicted: Int32Array.from(p) };
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test("7 classes, one absent, asymmetric confusion: per-class precision/recall/F1, accuracy, macro-F1 over the classes present, weighted-F1", () => {
  const { truth, predicted } = pairs();
  const m = basicMetrics(truth, predicted, 7);
  assert.deepEqual(confusionMatrix(truth, predicted, 7), CONFUSION);
  assert.deepEqual(m.confusion, CONFUSION);
  assert.equal(m.n, 43);
  close(m.accuracy, 29 / 43, "accuracy");
  // By hand: TP, FP (column minus TP), FN (row minus TP) per class.
  const expected = [
    { precision: 5 / 8, recall: 5 / 8, f1: 10 / 16, support: 8 },
    { precision: 0, recall: 0, f1: 0, support: 0 }, // absent: 3 false positives, no examples
    { precision: 3 / 4, recall: 3 / 6, f1: 6 / 10, support: 6 },
    { precision: 9 / 12, recall: 9 / 10, f1: 18 / 22, support: 10 },
    { precision: 4 / 5, recall: 4 / 7, f1: 8 / 12, support: 7 },
    { precision: 5 / 7, recall: 5 / 6, f1: 10 / 13, support: 6 },
    { precision: 3 / 4, recall: 3 / 6, f1: 6 / 10, support: 6 },
  ];
  expected.forEach((e, k) => {
    close(m.perClass[k].precision, e.precision, `precision of class ${k}`);
    close(m.perClass[k].recall, e.recall, `recall of class ${k}`);
    close(m.perClass[k].f1, e.f1, `F1 of class ${k}`);
    assert.equal(m.perClass[k].support, e.support, `support of class ${k}`);
  });
  // Macro-F1 averages the six classes present (class 1 has no examples), not all seven.
  const presentSum = 10 / 16 + 6 / 10 + 18 / 22 + 8 / 12 + 10 / 13 + 6 / 10;
  close(m.macroF1, presentSum / 6, "macro-F1 over the 6 classes present");
  assert.ok(Math.abs(m.macroF1 - presentSum / 7) > 0.05, "not averaged over all 7 classes");
  close(m.weightedF1, (8 * (10 / 16) + 6 * (6 / 10) + 10 * (18 / 22) + 7 * (8 / 12) + 6 * (10 / 13) + 6 * (6 / 10)) / 43, "weighted-F1");
});

test("the transposed confusion matrix swaps precision and recall", () => {
  const { truth, predicted } = pairs();
  const a = basicMetrics(truth, predicted, 7);
  const b = basicMetrics(predicted, truth, 7);
  for (const k of [0, 2, 3, 4, 5, 6]) {
    close(b.perClass[k].precision, a.perClass[k].recall, `class ${k}`);
    close(b.perClass[k].recall, a.perClass[k].precision, `class ${k}`);
  }
  // Transposed, class 1 is present (3 examples, none right), so it now counts in the macro average.
  assert.equal(b.perClass[1].support, 3);
  close(b.macroF1, b.perClass.reduce((s, c) => s + c.f1, 0) / 7, "macro-F1 over 7 present classes");
});
