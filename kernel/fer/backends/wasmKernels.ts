/**
 * fernb's kernels for the tfjs wasm backend, and their (idempotent) registration.
 */
import * as tf from "@tensorflow/tfjs";
import { castConfig } from "./wasmCast";
import { conv2dBackpropFilterConfig } from "./wasmConv2dBackpropFilter";
import { conv2dBackpropInputConfig } from "./wasmConv2dBackpropInput";
import { identityConfig } from "./wasmIdentity";
import { maxPoolGradConfig } from "./wasmMaxPoolGrad";
import { meanConfig } from "./wasmMean";
import { sumConfig } from "./wasmSum";
import { tileConfig } from "./wasmTile";
import { captureShipped, shippedKernel } from "./wasmUtil";

export const WASM_KERNEL_CONFIGS: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  maxPoolGradConfig,
  tileConfig,
  identityConfig,
  castConfig,
  sumConfig,
  meanConfig,
];

/**
 * Registers fernb's kernels for the wasm backend, replacing shipped ones (which are kept
 * for fallbacks). Safe to call repeatedly. `names` limits it to some kernels.
 */
export function registerWasmKernels(names?: readonly string[]): void {
  for (const cfg of WASM_KERNEL_CONFIGS) {
    if (names && !names.includes(cfg.kernelName)) continue;
    captureShipped(cfg.kernelName);
    const current = tf.getKernel(cfg.kernelName, "wasm");
    if (current?.kernelFunc === cfg.kernelFunc) continue;
    if (current) tf.unregisterKernel(cfg.kernelName, "wasm");
    tf.registerKernel(cfg);
  }
}

/** Restores the shipped kernels (and removes Conv2DBackpropFilter, which wasm lacks). */
export function unregisterWasmKernels(names?: readonly string[]): void {
  for (const cfg of WASM_KERNEL_CONFIGS) {
    if (names && !names.includes(cfg.kernelName)) continue;
    const current = tf.getKernel(cfg.kernelName, "wasm");
    if (current?.kernelFunc !== cfg.kernelFunc) continue;
    tf.unregisterKernel(cfg.kernelName, "wasm");
    const shipped = shippedKernel(cfg.kernelName);
    if (shipped) tf.registerKernel({ kernelName: cfg.kernelName, backendName: "wasm", kernelFunc: shipped });
  }
}
