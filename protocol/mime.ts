/**
 * Every MIME type and renderer id fernb uses, in one place. The kernel writes outputs with these
 * MIME types, package.json's `contributes.notebookRenderer` maps them to the renderers
 * (extension/renderers/*.ts), and the extension and the renderers use the ids for messaging.
 * test/unit/protocol.test.ts checks that package.json says the same as this file.
 */

/** MIME types of fernb's own renderers, the display API's standard types and VS Code's stream/error types. */
export const MIME = {
  // fernb's renderers (extension/renderers/)
  chart: "application/vnd.fernb.chart+json",
  confusion: "application/vnd.fernb.confusion+json",
  gradcam: "application/vnd.fernb.gradcam+json",
  review: "application/vnd.fernb.review+json",
  embedding: "application/vnd.fernb.embedding+json",
  // what display.text/html/markdown/svg/png/jpeg/json produce (kernel/display.ts)
  text: "text/plain",
  html: "text/html",
  markdown: "text/markdown",
  svg: "image/svg+xml",
  png: "image/png",
  jpeg: "image/jpeg",
  json: "application/json",
  // VS Code's notebook stream and error outputs (a cell's console output and its failure)
  stdout: "application/vnd.code.notebook.stdout",
  stderr: "application/vnd.code.notebook.stderr",
  error: "application/vnd.code.notebook.error",
} as const;

export type Mime = (typeof MIME)[keyof typeof MIME];

/** Renderer ids, as package.json's `contributes.notebookRenderer[].id` declares them. */
export const RENDERER_ID = {
  chart: "fernb-chart",
  confusion: "fernb-confusion",
  gradcam: "fernb-gradcam",
  review: "fernb-review",
  embedding: "fernb-embedding",
} as const;

export type RendererName = keyof typeof RENDERER_ID;
export type RendererId = (typeof RENDERER_ID)[RendererName];

/**
 * Each renderer: its id, the MIME type it draws, its bundle (esbuild.mjs builds
 * extension/renderers/<name>.ts into dist/renderers/<name>.js) and whether it talks to the kernel.
 */
export const RENDERERS: Readonly<Record<RendererName, { id: RendererId; mime: Mime; entrypoint: string; messaging: boolean }>> = {
  chart: { id: RENDERER_ID.chart, mime: MIME.chart, entrypoint: "./dist/renderers/chart.js", messaging: false },
  confusion: { id: RENDERER_ID.confusion, mime: MIME.confusion, entrypoint: "./dist/renderers/confusion.js", messaging: false },
  gradcam: { id: RENDERER_ID.gradcam, mime: MIME.gradcam, entrypoint: "./dist/renderers/gradcam.js", messaging: false },
  review: { id: RENDERER_ID.review, mime: MIME.review, entrypoint: "./dist/renderers/review.js", messaging: true },
  embedding: { id: RENDERER_ID.embedding, mime: MIME.embedding, entrypoint: "./dist/renderers/embedding.js", messaging: true },
};
