import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFromKernel, parseToKernel } from "../../kernel/protocol";

test("kernel accepts well-formed requests and rejects malformed ones", () => {
  assert.deepEqual(parseToKernel({ type: "execute", executionId: 1, cellLabel: "Cell 1", code: "1" }), {
    type: "execute", executionId: 1, cellLabel: "Cell 1", code: "1",
  });
  assert.deepEqual(parseToKernel({ type: "interrupt", extra: 1 }), { type: "interrupt" });
  assert.equal(parseToKernel({ type: "execute", executionId: "1", cellLabel: "c", code: "1" }), undefined);
  assert.equal(parseToKernel({ type: "evil" }), undefined);
  assert.equal(parseToKernel(null), undefined);
  assert.equal(parseToKernel("execute"), undefined);
});

test("extension accepts well-formed kernel messages and rejects malformed ones", () => {
  const display = { type: "display", executionId: 2, displayId: "d", update: false, items: [{ mime: "image/png", data: new Uint8Array([1]) }] };
  assert.deepEqual(parseFromKernel(display), display);
  assert.equal(parseFromKernel({ ...display, items: [{ mime: "x", data: 5 }] }), undefined);
  assert.equal(parseFromKernel({ type: "stream", executionId: 1, name: "stdin", text: "" }), undefined);
  assert.ok(parseFromKernel({ type: "result", executionId: 1, ok: false, error: { name: "E", message: "m", stack: "" } }));
  assert.equal(parseFromKernel({ type: "result", executionId: 1, ok: false, error: { name: "E" } }), undefined);
  assert.equal(parseFromKernel({ type: "ready", protocol: "1", pid: 1, backend: "cpu" }), undefined);
  assert.equal(parseFromKernel({ type: "ready", protocol: 1, pid: 1 }), undefined);
  assert.ok(parseFromKernel({ type: "ready", protocol: 1, pid: 1, node: "v20", backend: "cpu: plain JavaScript" }));
});

test("renderer messages and replies are validated", () => {
  const request = { type: "renderer-message", rendererId: "fernb-review", message: { reviewId: "r", action: "exclude", path: "a/b.png" } };
  assert.deepEqual(parseToKernel({ ...request, extra: 1 }), request);
  assert.equal(parseToKernel({ type: "renderer-message", rendererId: "fernb-review" }), undefined);
  assert.equal(parseToKernel({ type: "renderer-message", rendererId: 5, message: {} }), undefined);
  assert.equal(parseToKernel({ type: "renderer-message", rendererId: "", message: {} }), undefined);
  assert.equal(parseToKernel({ type: "renderer-message", rendererId: "a b/../c", message: {} }), undefined);
  const reply = { type: "renderer-reply", rendererId: "fernb-review", message: { ok: false, error: "x" } };
  assert.deepEqual(parseFromKernel(reply), reply);
  assert.equal(parseFromKernel({ type: "renderer-reply", rendererId: "fernb-review" }), undefined);
  assert.equal(parseFromKernel({ type: "renderer-reply", rendererId: null, message: 1 }), undefined);
});
