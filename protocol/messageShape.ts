/**
 * Bounds on untrusted messages (renderer webviews, IPC), checked before anything walks them
 * recursively (structured clone, JSON.stringify, validators): a message nested 10,000 levels deep
 * or holding megabytes must be answered with an error, never crash the listener that received it.
 * Self-contained (no imports), iterative (no recursion), and it stops as soon as a bound is passed.
 */

export interface MessageShapeLimits {
  /** Most levels of nested objects/arrays (the message itself is level 1). */
  maxDepth: number;
  /** Most bytes, roughly: string lengths (UTF-16 units ×1, keys included) plus 8 per other value. */
  maxBytes: number;
}

/** Renderer → kernel messages are small requests (one path, one action): generous bounds. */
export const RENDERER_MESSAGE_LIMITS: MessageShapeLimits = { maxDepth: 32, maxBytes: 1 << 20 };

/**
 * `undefined` when `value` is within the limits and made only of JSON-like data (objects, arrays,
 * strings, finite numbers, booleans, null, byte arrays); otherwise a sentence saying what is wrong.
 */
export function checkMessageShape(value: unknown, limits: MessageShapeLimits = RENDERER_MESSAGE_LIMITS): string | undefined {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 1 }];
  let bytes = 0;
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    switch (typeof v) {
      case "string":
        bytes += v.length;
        break;
      case "number":
      case "boolean":
        bytes += 8;
        break;
      case "undefined":
        bytes += 1;
        break;
      case "object": {
        if (v === null) {
          bytes += 8;
          break;
        }
        if (depth > limits.maxDepth) return `the message is nested more than ${limits.maxDepth} levels deep`;
        if (seen.has(v)) return "the message refers to itself (or shares a part)";
        seen.add(v);
        if (ArrayBuffer.isView(v)) {
          bytes += v.byteLength;
          break;
        }
        const proto = Object.getPrototypeOf(v);
        if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) return "the message holds something that is not plain data";
        for (const key of Object.keys(v)) {
          bytes += key.length + 8;
          if (bytes > limits.maxBytes) break;
          stack.push({ v: (v as Record<string, unknown>)[key], depth: depth + 1 });
        }
        break;
      }
      default:
        return `the message holds a ${typeof v}, which is not plain data`;
    }
    if (bytes > limits.maxBytes) return `the message is larger than ${limits.maxBytes.toLocaleString("en")} bytes`;
  }
  return undefined;
}

/**
 * A short description of a malformed IPC message for a log line: what is wrong with its shape, or
 * (when the shape is fine but the message is not one the protocol knows) its first 200 characters
 * of JSON. Never walks the message recursively before bounding it, and never throws.
 */
export function describeMalformedMessage(raw: unknown): string {
  const shape = checkMessageShape(raw, { maxDepth: 8, maxBytes: 1 << 16 });
  if (shape !== undefined) return shape;
  try {
    return JSON.stringify(raw)?.slice(0, 200) ?? String(raw);
  } catch (e) {
    return `(${(e as Error)?.message ?? "unprintable"})`;
  }
}
