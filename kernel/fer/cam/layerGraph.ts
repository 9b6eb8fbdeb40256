/**
 * Splits a layers model at any layer: runs the model once recording every layer's output, and
 * returns a function that recomputes the logits from a (differentiable) replacement of that
 * layer's output, reusing the recorded values for everything not downstream of it (skip
 * connections included). Grad-CAM differentiates that function.
 */
import * as tf from "@tensorflow/tfjs";
import { LOGITS_LAYER } from "../resnet";

interface Node {
  layer: tf.layers.Layer;
  inputs: tf.SymbolicTensor[];
  output: tf.SymbolicTensor;
}

function nodesOf(model: tf.LayersModel): Node[] {
  const nodes: Node[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() === "InputLayer") continue;
    const inbound = (layer as unknown as { inboundNodes: { inputTensors: tf.SymbolicTensor[] }[] }).inboundNodes;
    // The first inbound node is the one in this model's graph (fernb models call each layer once).
    nodes.push({ layer, inputs: inbound[0].inputTensors, output: layer.output as tf.SymbolicTensor });
  }
  return nodes;
}

export interface SplitModel {
  /** Activations of the split layer for the batch (kept; dispose with `dispose`). */
  activations: tf.Tensor4D;
  /** Logits recomputed from replacement activations (same batch). */
  logitsFrom(activations: tf.Tensor): tf.Tensor2D;
  dispose(): void;
}

export function splitAt(model: tf.LayersModel, layerName: string, x: tf.Tensor4D): SplitModel {
  const target = model.getLayer(layerName);
  const targetOut = target.output as tf.SymbolicTensor;
  if (targetOut.shape.length !== 4) throw new Error(`Layer ${layerName} outputs shape ${JSON.stringify(targetOut.shape)}, not a feature map: choose a convolutional layer (e.g. layer4_1_out).`);
  const nodes = nodesOf(model);
  const logitsOut = model.getLayer(LOGITS_LAYER).output as tf.SymbolicTensor;
  // Record everything once.
  const recorder = tf.model({ inputs: model.inputs, outputs: nodes.map((n) => n.output) });
  const values = recorder.predict(x) as tf.Tensor[];
  const recorded = new Map<number, tf.Tensor>(nodes.map((n, i) => [n.output.id, values[i]]));
  recorded.set(model.inputs[0].id, x);
  // Layers whose output depends on the split layer's output, in graph order.
  const downstream = new Set<number>([targetOut.id]);
  const toRun: Node[] = [];
  for (const n of nodes) {
    if (n.output.id !== targetOut.id && n.inputs.some((t) => downstream.has(t.id))) {
      downstream.add(n.output.id);
      toRun.push(n);
    }
  }
  if (!downstream.has(logitsOut.id)) throw new Error(`The logits do not depend on layer ${layerName}.`);
  return {
    activations: recorded.get(targetOut.id) as tf.Tensor4D,
    logitsFrom(activations: tf.Tensor): tf.Tensor2D {
      const vals = new Map(recorded);
      vals.set(targetOut.id, activations);
      for (const n of toRun) {
        const inputs = n.inputs.map((t) => vals.get(t.id)!);
        vals.set(n.output.id, n.layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: false }) as tf.Tensor);
        if (n.output.id === logitsOut.id) break;
      }
      return vals.get(logitsOut.id) as tf.Tensor2D;
    },
    dispose() {
      // The recorder shares the model's layers and weights: only the recorded values are ours.
      tf.dispose(values);
    },
  };
}

/** d(logit of each image's target class)/d(activations), with the activations. */
export function classGradients(model: tf.LayersModel, layerName: string, x: tf.Tensor4D, classes: number[]): { activations: tf.Tensor4D; gradients: tf.Tensor4D; dispose(): void } {
  const split = splitAt(model, layerName, x);
  const k = model.outputs[0].shape[1] as number;
  const mask = tf.oneHot(tf.tensor1d(classes, "int32"), k).toFloat();
  const gradients = tf.grad((a: tf.Tensor) => split.logitsFrom(a).mul(mask).sum())(split.activations) as tf.Tensor4D;
  mask.dispose();
  return {
    activations: split.activations,
    gradients,
    dispose() {
      gradients.dispose();
      split.dispose();
    },
  };
}
