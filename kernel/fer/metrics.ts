/** Classification metrics computed from true and predicted class indices. */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface BasicMetrics {
  n: number;
  accuracy: number;
  macroF1: number;
  weightedF1: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] = count */
  confusion: number[][];
}

export function confusionMatrix(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number[][] {
  if (truth.length !== predicted.length) throw new Error(`${truth.length} labels but ${predicted.length} predictions`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) m[truth[i]][predicted[i]]++;
  return m;
}

export function basicMetrics(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): BasicMetrics {
  const confusion = confusionMatrix(truth, predicted, classes);
  const n = truth.length;
  let correct = 0;
  const perClass: ClassMetrics[] = [];
  for (let k = 0; k < classes; k++) {
    correct += confusion[k][k];
    const support = confusion[k].reduce((a, b) => a + b, 0);
    const predictedK = confusion.reduce((a, row) => a + row[k], 0);
    const precision = predictedK === 0 ? 0 : confusion[k][k] / predictedK;
    const recall = support === 0 ? 0 : confusion[k][k] / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    perClass.push({ precision, recall, f1, support });
  }
  // Macro-F1 averages over the classes present in the data (sklearn averages over all labels given).
  const present = perClass.filter((c) => c.support > 0);
  const macroF1 = present.length === 0 ? 0 : present.reduce((a, c) => a + c.f1, 0) / present.length;
  const weightedF1 = n === 0 ? 0 : perClass.reduce((a, c) => a + c.f1 * c.support, 0) / n;
  return { n, accuracy: n === 0 ? 0 : correct / n, macroF1, weightedF1, perClass, confusion };
}
