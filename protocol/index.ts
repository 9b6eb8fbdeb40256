/**
 * fernb's protocol: every MIME type, renderer id, output payload and message exchanged between the
 * kernel process (kernel/), the extension host (extension/) and the notebook webview
 * (extension/renderers/), and the checks of those messages. Imported by all three, so it uses no
 * Node and no DOM API (type-checked under both tsconfig.json and extension/renderers/tsconfig.json).
 *
 *   mime.ts              MIME types, renderer ids, the renderers table (package.json mirrors it)
 *   kernelMessages.ts    extension ↔ kernel process messages (OutputItem, execute, display, ...)
 *   payloads.ts          the renderers' JSON payloads (chart, confusion, Grad-CAM, review, embedding map)
 *   rendererMessages.ts  review renderer and embedding map ↔ kernel requests and replies
 *   validate.ts          checks of untrusted messages
 *   messageShape.ts      depth and size bounds on an untrusted message, checked before anything walks it
 */
export * from "./mime";
export * from "./kernelMessages";
export * from "./payloads";
export * from "./rendererMessages";
export * from "./validate";
export * from "./messageShape";
