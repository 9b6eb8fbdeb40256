/**
 * The review grid end to end through the real kernel process (dist/kernel.js) and KernelClient:
 * a cell displays a review, then a renderer message relabels an image and the reply and the
 * ledger line come back.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { KernelClient } from "../../extension/kernelClient";
import type { OutputItem } from "../../kernel/protocol";

let workdir: string;
let client: KernelClient;

before(async () => {
  workdir = mkdtempSync(path.join(tmpdir(), "fernb-review-kernel-"));
  for (const [rel, seed] of [["data/anger/a0.png", 10], ["data/fear/f0.png", 130]] as const) {
    mkdirSync(path.join(workdir, path.dirname(rel)), { recursive: true });
    const px = Buffer.alloc(64).map((_, i) => (seed + i * 3) % 256);
    await sharp(px, { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(path.join(workdir, rel));
  }
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
