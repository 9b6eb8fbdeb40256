/**
 * Declarations of the globals the kernel gives every cell (`display`, `kernel`): the kernel
 * type-checks cells against them (kernel/main.ts) and so does the editor's language service
 * (extension/language), which imports this module without the kernel's code.
 */
import { DISPLAY_DECLARATIONS } from "./display";

export const KERNEL_DECLARATIONS = `
interface FernbKernel {
  readonly signal: AbortSignal;
  readonly interrupted: boolean;
  throwIfInterrupted(): void;
  sleep(ms: number): Promise<void>;
}
declare const kernel: FernbKernel;
`;

export const PRELUDE_DECLARATIONS = DISPLAY_DECLARATIONS + KERNEL_DECLARATIONS;
