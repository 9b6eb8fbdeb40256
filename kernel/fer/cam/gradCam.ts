/**
 * Grad-CAM (Selvaraju et al. 2017): channel weights are the spatial mean of the class score's
 * gradients; the map is ReLU(Σ_c w_c A_c).
 */
import * as tf from "@tensorflow/tfjs";

export function gradCamMaps(activations: tf.Tensor4D, gradients: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const weights = gradients.mean([1, 2], true); // [b,1,1,c]
    return activations.mul(weights).sum(3).relu() as tf.Tensor3D; // [b,h,w]
  });
}
