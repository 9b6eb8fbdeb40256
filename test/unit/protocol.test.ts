import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseFromKernel, parseReviewCamReply, parseReviewCamRequest, parseToKernel, MIME, RENDERER_ID, RENDERERS, REVIEW_CAM_MAX_SIDE } from "../../protocol";

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

test("review Grad-CAM requests from the webview are validated", () => {
  const ok = { action: "gradcam", reviewId: "review-1", requestId: "r-1", path: "fear/f0.png" };
  assert.deepEqual(parseReviewCamRequest(ok), ok);
  assert.deepEqual(parseReviewCamRequest({ ...ok, class: "happiness", requestId: 3 }), { ...ok, class: "happiness", requestId: 3 });
  const bad: [unknown, RegExp][] = [
    [null, /must be an object/],
    [[ok], /must be an object/],
    [{ ...ok, action: "relabel" }, /action must be "gradcam"/],
    [{ ...ok, reviewId: "../x y" }, /reviewId/],
    [{ ...ok, requestId: { x: 1 } }, /requestId/],
    [{ ...ok, requestId: "r".repeat(101) }, /requestId/],
    [{ ...ok, path: "" }, /path/],
    [{ ...ok, path: 5 }, /path/],
    [{ ...ok, path: "a".repeat(1025) }, /path/],
    [{ ...ok, class: "happy face" }, /class must be a class name/],
    [{ ...ok, file: "/etc/passwd" }, /unexpected field "file"/],
  ];
  for (const [message, error] of bad) {
    const r = parseReviewCamRequest(message);
    assert.equal(typeof r, "string", JSON.stringify(message));
    assert.match(r as string, error);
  }
});

test("review Grad-CAM replies are validated before the renderer draws them", () => {
  const cam = [[0, 0.5], [1, 0.25], [0.125, 0]];
  const ok = { ok: true, action: "gradcam", requestId: "r-1", reviewId: "review-1", path: "fear/f0.png", class: "fear", predicted: "happiness", p: 0.1, pPredicted: 0.7, method: "Grad-CAM", layer: "layer4_1_out", width: 2, height: 3, cam };
  assert.deepEqual(parseReviewCamReply(ok), ok);
  assert.deepEqual(parseReviewCamReply({ ok: false, requestId: 2, action: "gradcam", error: "nope", extra: [1] }), { ok: false, requestId: 2, action: "gradcam", error: "nope" });
  const side = REVIEW_CAM_MAX_SIDE + 1;
  const bad: [unknown, RegExp][] = [
    ["x", /must be an object/],
    [{ ok: false }, /error message/],
    [{ ...ok, ok: "yes" }, /ok must be/],
    [{ ...ok, action: "relabel" }, /action/],
    [{ ...ok, class: 3 }, /class must be a string/],
    [{ ...ok, p: 1.5 }, /p must be a probability/],
    [{ ...ok, pPredicted: Number.NaN }, /pPredicted must be a probability/],
    [{ ...ok, width: 0 }, /width and height/],
    [{ ...ok, width: 2.5 }, /width and height/],
    [{ ...ok, width: side, height: 1, cam: [Array(side).fill(0)] }, /width and height/],
    [{ ...ok, height: 2 }, /cam must have height \(2\) rows/],
    [{ ...ok, cam: [[0, 0.5], [1], [0, 0]] }, /cam\[1\] must have width/],
    [{ ...ok, cam: [[0, 0.5], [1, -0.1], [0, 0]] }, /cam\[1\] has a value outside \[0,1\]/],
    [{ ...ok, cam: [[0, "0.5"], [1, 0], [0, 0]] }, /cam\[0\] has a value outside/],
    [{ ...ok, cam: [[0, Number.NaN], [1, 0], [0, 0]] }, /cam\[0\] has a value outside/],
  ];
  for (const [message, error] of bad) {
    const r = parseReviewCamReply(message);
    assert.equal(typeof r, "string", JSON.stringify(message));
    assert.match(r as string, error);
  }
});

const ROOT = path.join(import.meta.dirname, "..", "..");

test("package.json's notebook renderers are the ones protocol/mime.ts names", () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    contributes: { notebookRenderer: { id: string; entrypoint: string; mimeTypes: string[]; requiresMessaging?: string }[] };
  };
  const declared = pkg.contributes.notebookRenderer;
  assert.deepEqual(declared.map((r) => r.id).sort(), Object.values(RENDERER_ID).sort(), "renderer ids in package.json vs RENDERER_ID");
  for (const [name, r] of Object.entries(RENDERERS)) {
    assert.equal(r.id, RENDERER_ID[name as keyof typeof RENDERER_ID]);
    const entry = declared.find((d) => d.id === r.id);
    assert.ok(entry, `package.json declares no renderer ${r.id}`);
    assert.deepEqual(entry.mimeTypes, [r.mime], `MIME types of ${r.id}`);
    assert.equal(entry.entrypoint, r.entrypoint, `entrypoint of ${r.id}`);
    assert.equal(entry.requiresMessaging === "always", r.messaging, `requiresMessaging of ${r.id}`);
    // esbuild.mjs builds extension/renderers/<name>.ts into dist/renderers/<name>.js.
    assert.equal(r.entrypoint, `./dist/renderers/${name}.js`);
    assert.ok(existsSync(path.join(ROOT, "extension", "renderers", `${name}.ts`)), `extension/renderers/${name}.ts`);
  }
  const fernbMimes = Object.values(MIME).filter((m) => m.startsWith("application/vnd.fernb."));
  assert.deepEqual(declared.flatMap((d) => d.mimeTypes).sort(), fernbMimes.sort(), "every fernb MIME type has its renderer");
});

test("fernb's MIME types are spelled out only in protocol/", () => {
  const literal = /["']application\/vnd\.fernb\.[\w.-]+\+json["']/;
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, e.name);
      if (e.isDirectory()) walk(file);
      else if (e.name.endsWith(".ts")) {
        readFileSync(file, "utf8").split("\n").forEach((line, i) => {
          const code = line.trim();
          if (!code.startsWith("*") && !code.startsWith("/*") && !code.startsWith("//") && literal.test(code)) found.push(`${path.relative(ROOT, file)}:${i + 1}`);
        });
      }
    }
  };
  for (const dir of ["kernel", "extension", "cli"]) walk(path.join(ROOT, dir));
  assert.deepEqual(found, [], "use MIME from protocol/mime.ts instead");
});
