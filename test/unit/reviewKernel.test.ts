/**
 * The review grid end to end through the real kernel process (dist/kernel.js) and KernelClient:
 * a cell displays a review, then a renderer message relabels an image and the reply and the
 * ledger line come back; a review given a model answers Grad-CAM requests for its items (also
 * while another cell runs) and refuses anything else.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { KernelClient } from "../../extension/kernelClient";
import type { OutputItem } from "../../protocol";

let workdir: string;
let client: KernelClient;

before(async () => {
  workdir = mkdtempSync(path.join(tmpdir(), "fernb-review-kernel-"));
  for (const [rel, seed] of [["data/anger/a0.png", 10], ["data/fear/f0.png", 130], ["camdata/anger/a0.png", 20], ["camdata/fear/f0.png", 90], ["camdata/happy/h0.png", 200], ["outside/x.png", 60]] as const) {
    mkdirSync(path.join(workdir, path.dirname(rel)), { recursive: true });
    const px = Buffer.alloc(64).map((_, i) => (seed + i * 3) % 256);
    await sharp(px, { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(path.join(workdir, rel));
  }
  // A symlink inside the Grad-CAM dataset to an image outside it.
  symlinkSync(path.join(workdir, "outside/x.png"), path.join(workdir, "camdata/happy/link.png"));
  client = new KernelClient({ kernelPath: path.resolve("dist/kernel.js"), cwd: workdir });
  await client.start();
});

after(async () => {
  await client.stop();
  rmSync(workdir, { recursive: true, force: true });
});

test("a displayed review answers renderer messages and appends to the ledger", async () => {
  const items: OutputItem[] = [];
  const outcome = await client.execute(
    `import { loadFolderDataset, review } from "fernb";\nconst ds = await loadFolderDataset("data", { height: 8, width: 8, cacheDir: false });\nawait review(ds)`,
    "Cell 1",
    { onStream: () => undefined, onDisplay: (_id, _u, it) => items.push(...it) },
  );
  assert.equal(outcome.ok, true, JSON.stringify(outcome.error));
  const out = items.find((i) => i.mime === "application/vnd.fernb.review+json");
  assert.ok(out, `no review output: ${items.map((i) => i.mime).join(", ")}`);
  const payload = JSON.parse(out.data as string);
  assert.equal(payload.items.length, 2);

  const reply = new Promise<[string, any]>((resolve) => {
    const off = client.onRendererReply((id, message) => {
      off();
      resolve([id, message]);
    });
  });
  assert.equal(client.sendRendererMessage("fernb-review", { reviewId: payload.reviewId, requestId: "r1", action: "relabel", path: "fear/f0.png", label: "happiness" }), true);
  const [rendererId, message] = await reply;
  assert.equal(rendererId, "fernb-review");
  assert.equal(message.ok, true, JSON.stringify(message));
  assert.equal(message.requestId, "r1");
  assert.equal(message.state.label, "happiness");
  const line = JSON.parse(readFileSync(path.join(workdir, "data", ".fernb-ledger.jsonl"), "utf8").trim());
  assert.deepEqual([line.path, line.action, line.newLabel, line.id], ["fear/f0.png", "relabel", "happiness", message.ledgerLine.id]);

  // After a restart the kernel no longer knows the review.
  await client.restart();
  const again = new Promise<any>((resolve) => {
    const off = client.onRendererReply((_id, m) => {
      off();
      resolve(m);
    });
  });
  client.sendRendererMessage("fernb-review", { reviewId: payload.reviewId, requestId: "r2", action: "exclude", path: "fear/f0.png" });
  const m2 = await again;
  assert.equal(m2.ok, false);
  assert.match(m2.error, /run the review cell again/);
});

/** Sends a renderer message and resolves with the kernel's reply to it (matched by requestId). */
function ask(message: Record<string, unknown>): Promise<any> {
  return new Promise((resolve, reject) => {
    const off = client.onRendererReply((id, reply) => {
      if (id === "fernb-review" && (reply as { requestId?: unknown }).requestId === message.requestId) {
        off();
        resolve(reply);
      }
    });
    if (!client.sendRendererMessage("fernb-review", message)) {
      off();
      reject(new Error("the kernel is not running"));
    }
  });
}

test("a review given a model answers Grad-CAM requests for its items with a heat map, and refuses others", async () => {
  const reviews: any[] = [];
  const outcome = await client.execute(
    [
      `import { createResNet18, loadFolderDataset, review } from "fernb";`,
      `const camSet = await loadFolderDataset("camdata", { height: 16, width: 16, cacheDir: false });`,
      `const camModel = createResNet18({ height: 16, width: 16, channels: 1, stem: "cifar", widths: [8, 8, 16, 16], seed: 3 });`,
      `display(await review(camSet));`,
      `await review(camSet, { model: camModel, normalization: { mean: 0.5, std: 0.25 } })`,
    ].join("\n"),
    "Cell 2",
    { onStream: () => undefined, onDisplay: (_id, _u, items) => reviews.push(...items.filter((i) => i.mime === "application/vnd.fernb.review+json").map((i) => JSON.parse(i.data as string))) },
  );
  assert.equal(outcome.ok, true, JSON.stringify(outcome.error));
  assert.equal(reviews.length, 2);
  const [plain, withModel] = reviews;
  assert.equal(plain.cam, undefined);
  assert.deepEqual(withModel.cam, { method: "Grad-CAM", layer: "layer2_1_out" });
  assert.equal(withModel.items.length, 4);
  const f0 = withModel.items.find((i: any) => i.path === "fear/f0.png");
  assert.equal(f0.predictions.length, 3, "the model's top predictions are shown");

  const reply = await ask({ reviewId: withModel.reviewId, requestId: "c1", action: "gradcam", path: "fear/f0.png" });
  assert.equal(reply.ok, true, JSON.stringify(reply).slice(0, 300));
  assert.deepEqual([reply.action, reply.path, reply.reviewId, reply.width, reply.height], ["gradcam", "fear/f0.png", withModel.reviewId, 16, 16]);
  assert.equal(reply.class, reply.predicted);
  assert.equal(reply.predicted, f0.predictions[0].label, "the predicted class is the one the grid shows");
  assert.equal(reply.cam.length, 16);
  for (const row of reply.cam) {
    assert.equal(row.length, 16);
    for (const v of row) assert.ok(typeof v === "number" && v >= 0 && v <= 1, `value ${v} outside [0,1]`);
  }
  // Min-max normalised (the seeded model's map is not constant).
  assert.deepEqual([Math.min(...reply.cam.flat()), Math.max(...reply.cam.flat())], [0, 1]);
  // Another class on demand.
  const other = f0.predictions[0].label === "fear" ? "anger" : "fear";
  const forLabel = await ask({ reviewId: withModel.reviewId, requestId: "c2", action: "gradcam", path: "fear/f0.png", class: other });
  assert.equal(forLabel.ok, true, JSON.stringify(forLabel).slice(0, 300));
  assert.equal(forLabel.class, other);
  assert.equal(forLabel.predicted, reply.predicted);

  // Refused: an image not in the review, paths outside the dataset (also through a symlink), a bad
  // class, a review without a model, an unknown review, extra fields.
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ path: "fear/nope.png" }, /not an image of this review/],
    [{ path: "../outside/x.png" }, /not a plain relative path/],
    [{ path: path.join(workdir, "outside/x.png") }, /absolute paths are not allowed/],
    [{ path: "happy/link.png" }, /resolves outside the dataset root/],
    [{ path: "fear/f0.png", class: "joy" }, /class must be one of/],
    [{ path: "fear/f0.png", reviewId: plain.reviewId }, /has no model: pass `model`/],
    [{ path: "fear/f0.png", reviewId: "review-unknown" }, /not open in the kernel/],
    [{ path: "fear/f0.png", file: "/etc/passwd" }, /unexpected field "file"/],
  ];
  let n = 0;
  for (const [m, error] of refused) {
    const r = await ask({ reviewId: withModel.reviewId, requestId: `bad${++n}`, action: "gradcam", ...m });
    assert.equal(r.ok, false, JSON.stringify(m));
    assert.match(r.error, error, JSON.stringify(m));
    assert.equal(r.cam, undefined);
  }

  // While another cell runs (awaiting), the kernel answers between its awaits, as it does relabels.
  let cellDone = false;
  const running = client.execute("await kernel.sleep(3000); 1", "Cell 3", { onStream: () => undefined, onDisplay: () => undefined }).then((o) => {
    cellDone = true;
    return o;
  });
  await new Promise((r) => setTimeout(r, 300));
  const during = await ask({ reviewId: withModel.reviewId, requestId: "c3", action: "gradcam", path: "anger/a0.png" });
  assert.equal(during.ok, true, JSON.stringify(during).slice(0, 300));
  assert.equal(cellDone, false, "answered while the cell still ran");
  assert.equal((await running).ok, true);
});
