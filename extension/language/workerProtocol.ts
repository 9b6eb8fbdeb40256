/** Messages between the extension host and the language services' thread (./worker.ts). */
import type { Position } from "./service";

export interface WorkerOptions {
  fernbTypesDir: string;
  preludeDeclarations: string;
  fallbackTypesRoot?: string;
}

interface Base {
  id: number;
  /** The notebook's URI. */
  notebook: string;
  notebookDir: string;
  /** The notebook's code cells, in notebook order. */
  cells: string[];
}

export type LanguageRequest =
  | (Base & { method: "close" | "warmUp" })
  | (Base & { method: "completions" | "hover" | "signatureHelp" | "definition"; cell: number; position: Position })
  | (Base & { method: "completionDetails"; cell: number; position: Position; name: string; source?: string; data?: unknown })
  | (Base & { method: "diagnostics"; cell: number });

export type LanguageResponse = { id: number; result: unknown } | { id: number; error: string };
