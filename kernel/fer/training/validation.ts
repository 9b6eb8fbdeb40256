/** Validation after each epoch: loss (mean negative log-likelihood), accuracy and macro-F1 of the model's predictions. */
import type * as tf from "@tensorflow/tfjs";
import { basicMetrics } from "../metrics";
import { argmaxRows, predictProbabilities, type TrainingData } from "../modelInput";

export async function validationMetrics(model: tf.LayersModel, validation: TrainingData, normalization: { mean: number; std: number }, classes: number): Promise<{ valLoss: number; valAccuracy: number; valMacroF1: number }> {
  const probs = await predictProbabilities(model, validation, normalization);
  const predicted = argmaxRows(probs, classes);
  const m = basicMetrics(validation.labels, predicted, classes);
  let nll = 0;
  for (let i = 0; i < validation.size; i++) nll -= Math.log(Math.max(probs[i * classes + validation.labels[i]], 1e-12));
  return { valLoss: nll / validation.size, valAccuracy: m.accuracy, valMacroF1: m.macroF1 };
}
