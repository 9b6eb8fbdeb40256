/**
 * Grad-CAM++ (Chattopadhay et al. 2018): pixel-wise weights α = g² / (2g² + Σ_ij A·g³), channel
 * weights Σ_ij α·ReLU(g); better at several instances of a class and at whole objects.
 */
import * as tf from "@tensorflow/tfjs";

export function gradCamPlusPlusMaps(activations: tf.Tensor4D, gradients: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const g2 = gradients.square();
    const g3 = g2.mul(gradients);
    const sumA = activations.sum([1, 2], true);
    const denominator = g2.mul(2).add(sumA.mul(g3));
    const safe = tf.where(denominator.notEqual(0), denominator, tf.onesLike(denominator));
    const alpha = tf.where(gradients.notEqual(0), g2.div(safe), tf.zerosLike(g2));
    const weights = alpha.mul(gradients.relu()).sum([1, 2], true);
    return activations.mul(weights).sum(3).relu() as tf.Tensor3D;
  });
}
