/**
 * The embedding map's kernel side (kernel/fer/curation/embeddingMap.ts): PCA exact on a known case,
 * UMAP seeded and keeping clusters apart, the payload's compact arrays, and the checks of the
 * renderer's messages: selections name points of that map (ids outside it are refused with the
 * reason, paths are not accepted), a selection is answered with a review grid of exactly those
 * faces, and that grid's decisions go through the review grid's handler into the ledger.
 *
 * The last test runs the real kernel process (dist/kernel.js: `npm run build` first).
 *
 *   node --import tsx --test test/unit/embeddingMap.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { createResNet18 } from "../../kernel/fer/resnet";
import { loadFolderDataset } from "../../kernel/fer/dataset";
import { openReviews } from "../../kernel/fer/curation/review";
import { embeddingMap, handleEmbeddingRendererMessage, pca, project2d, type EmbeddingMap } from "../../kernel/fer/curation/embeddingMap";
import { parseEmbeddingRequest, EMBEDDING_MAX_SELECT, type OutputItem } from "../../protocol";
import { KernelClient } from "../../extension/kernelClient";

const close = (a: number, b: number, tol = 1e-9) => Math.abs(a - b) <= tol;

test("PCA: components, variances and projections of a known case are exact", () => {
  // Four points in 3-D: ±3 along u = (1,1,0)/√2 and ±1 along v = (0,0,1), around (5,−2,7).
  const s = Math.SQRT1_2;
  const coords = [[3, 0], [-3, 0], [0, 1], [0, -1]];
  const mean = [5, -2, 7];
  const x = coords.flatMap(([a, b]) => [mean[0] + a * s, mean[1] + a * s, mean[2] + b]);
  const r = pca(x, 4, 3, { components: 2 });
  assert.equal(r.k, 2);
  assert.ok(close(r.variances[0], 18 / 3) && close(r.variances[1], 2 / 3), `variances ${r.variances}`);
  assert.ok(close(r.explained, 1), `explained ${r.explained}`);
  const comps = Array.from(r.components);
  [s, s, 0, 0, 0, 1].forEach((v, i) => assert.ok(close(comps[i], v), `components ${comps}`));
  coords.flat().forEach((v, i) => assert.ok(close(r.projected[i], v), `projected ${Array.from(r.projected)}`));
  mean.forEach((v, i) => assert.ok(close(r.mean[i], v)));
  assert.throws(() => pca([1, 2, 3], 2, 2), /not 2 points × 2 dimensions/);
});

test("project2d: PCA and seeded UMAP; UMAP keeps separate clusters apart", async () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  const n = 60, d = 10;
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (j === i % 3 ? 10 : 0) + rand();
  const p = await project2d(x, n, d, { method: "pca" });
  assert.equal(p.method, "pca");
  assert.equal(p.xy.length, 2 * n);
  const u1 = await project2d(x, n, d, { method: "umap", seed: 3, neighbours: 8 });
  const u2 = await project2d(x, n, d, { method: "umap", seed: 3, neighbours: 8 });
  assert.equal(u1.method, "umap");
  assert.deepEqual(Array.from(u1.xy), Array.from(u2.xy), "same seed, same map");
  // Each point's nearest neighbour on the map is in its own cluster.
  for (let i = 0; i < n; i++) {
    let best = -1, bd = Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const dd = (u1.xy[2 * i] - u1.xy[2 * j]) ** 2 + (u1.xy[2 * i + 1] - u1.xy[2 * j + 1]) ** 2;
      if (dd < bd) (bd = dd), (best = j);
    }
    assert.equal(best % 3, i % 3, `point ${i}'s nearest neighbour ${best} is in another cluster`);
  }
  // "auto" with too few points for UMAP falls back to PCA, and says why.
  const few = await project2d(x.subarray(0, 5 * d), 5, d, { method: "umap" });
  assert.equal(few.method, "pca");
  assert.match(few.detail, /UMAP needs more than/);
});

test("selection requests are checked: shape, ids as point ids, at most maxSelect, within the map", () => {
  const ok = { action: "select", mapId: "map-1", requestId: "em-1", ids: [0, 4, 2] };
  assert.deepEqual(parseEmbeddingRequest(ok, 5), ok);
  const bad: [unknown, RegExp][] = [
    [null, /must be an object/],
    [{ ...ok, action: "relabel" }, /action must be "select" or "thumb"/],
    [{ ...ok, mapId: "../x y" }, /mapId/],
    [{ ...ok, ids: [] }, /non-empty array/],
    [{ ...ok, ids: ["fear/f0.png"] }, /point ids/],
    [{ ...ok, ids: [1.5] }, /point ids/],
    [{ ...ok, ids: [-1] }, /point ids/],
    [{ ...ok, ids: [1, 1] }, /named twice/],
    [{ ...ok, ids: [5] }, /point 5 is not on this map \(its points are 0 to 4\)/],
    [{ ...ok, ids: Array.from({ length: EMBEDDING_MAX_SELECT + 1 }, (_, i) => i) }, /at most 300 points/],
    [{ ...ok, action: "thumb", ids: Array.from({ length: 65 }, (_, i) => i) }, /at most 64 points per thumb/],
    [{ ...ok, path: "fear/f0.png" }, /unexpected field "path"/],
  ];
  for (const [m, re] of bad) {
    const r = parseEmbeddingRequest(m, 5);
    assert.equal(typeof r, "string", JSON.stringify(m)?.slice(0, 80));
    assert.match(r as string, re);
  }
});

let workdir: string;
let map: EmbeddingMap;
const FILES = ["anger/a0.png", "anger/a1.png", "fear/f0.png", "fear/f1.png", "happy/h0.png", "happy/h1.png", "sad/s0.png", "sad/s1.png"];

before(async () => {
  workdir = mkdtempSync(path.join(tmpdir(), "fernb-embedding-"));
  for (const [k, rel] of FILES.entries()) {
    mkdirSync(path.join(workdir, "data", path.dirname(rel)), { recursive: true });
    const px = Buffer.alloc(16 * 16).map((_, i) => (k * 37 + i * (k + 1)) % 256);
    await sharp(px, { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(path.join(workdir, "data", rel));
  }
  const ds = await loadFolderDataset(path.join(workdir, "data"), { height: 16, width: 16, cacheDir: false });
  const model = createResNet18({ height: 16, width: 16, channels: 1, seed: 1 });
  map = await embeddingMap(model, ds, { normalization: { mean: 0.5, std: 0.25 }, suspectCount: 3 });
});

after(() => rmSync(workdir, { recursive: true, force: true }));

test("embeddingMap: a compact payload (16-bit coordinates, a byte per point), suspects marked", () => {
  const p = map.payload;
  assert.equal(p.n, FILES.length);
  assert.equal(p.renderer, "fernb-embedding");
  assert.equal(p.projection.method, "pca", "8 points are too few for UMAP");
  assert.equal(Buffer.from(p.xy, "base64").length, 4 * p.n);
  for (const key of ["labels", "predicted", "suspicion"] as const) assert.equal(Buffer.from(p[key], "base64").length, p.n, key);
  const labels = [...Buffer.from(p.labels, "base64")].map((k) => p.classes[k]);
  assert.deepEqual(labels.sort(), ["anger", "anger", "fear", "fear", "happiness", "happiness", "sadness", "sadness"]);
  assert.equal(p.suspects.length, 3);
  assert.ok(p.weakModel, "an untrained model is called too weak");
  const shown = map[Symbol.for("fernb.display") as unknown as keyof EmbeddingMap] as unknown as () => { mime: string; data: string }[];
  assert.equal(shown.call(map)[0].mime, "application/vnd.fernb.embedding+json");
});

test("the kernel refuses selections of points outside the map, unknown maps and paths, with the reason", async () => {
  const id = map.payload.mapId;
  let r: any = await handleEmbeddingRendererMessage({ action: "select", mapId: id, requestId: 1, ids: [0, 8] });
  assert.equal(r.ok, false);
  assert.equal(r.requestId, 1);
  assert.match(r.error, /point 8 is not on this map \(its points are 0 to 7\)/);
  r = await handleEmbeddingRendererMessage({ action: "select", mapId: "map-unknown", ids: [0] });
  assert.match(r.error, /not open in the kernel/);
  r = await handleEmbeddingRendererMessage({ action: "select", mapId: id, ids: ["anger/a0.png"] });
  assert.match(r.error, /point ids/);
  r = await handleEmbeddingRendererMessage({ action: "thumb", mapId: id, ids: [3] });
  assert.equal(r.ok, true);
  assert.equal(r.thumbs.length, 1);
  assert.match(r.thumbs[0].thumb, /^data:image\/png;base64,/);
});

test("a selection opens a review grid of exactly those faces, whose relabel lands in the ledger", async () => {
  const id = map.payload.mapId;
  const r: any = await handleEmbeddingRendererMessage({ action: "select", mapId: id, requestId: "s1", ids: [2, 5] });
  assert.equal(r.ok, true, r.error);
  assert.equal(r.requestId, "s1");
  const ds = await loadFolderDataset(path.join(workdir, "data"), { height: 16, width: 16, cacheDir: false });
  const paths = r.review.items.map((i: { path: string }) => i.path).sort();
  assert.deepEqual(paths, [ds.paths[2], ds.paths[5]].sort());
  assert.deepEqual(r.ids, { [ds.paths[2]]: 2, [ds.paths[5]]: 5 });
  // The grid's decision, sent on the map's channel, goes through the review grid's checks.
  const target = ds.paths[2];
  const newLabel = ds.label(2) === "surprise" ? "neutral" : "surprise";
  const done: any = await handleEmbeddingRendererMessage({ reviewId: r.review.reviewId, requestId: "d1", action: "relabel", path: target, label: newLabel });
  assert.equal(done.ok, true, done.error);
  assert.equal(done.state.label, newLabel);
  const line = JSON.parse(readFileSync(path.join(workdir, "data", ".fernb-ledger.jsonl"), "utf8").trim().split("\n").pop()!);
  assert.deepEqual([line.path, line.action, line.newLabel], [target, "relabel", newLabel]);
  // A face of the map that was not selected is not an item of that grid.
  const other = ds.paths[0];
  const refused: any = await handleEmbeddingRendererMessage({ reviewId: r.review.reviewId, action: "exclude", path: other });
  assert.equal(refused.ok, false);
  assert.match(refused.error, /is not an image of this review/);
  // The next selection replaces that grid: the map's earlier grids do not crowd out other reviews.
  const next: any = await handleEmbeddingRendererMessage({ action: "select", mapId: id, requestId: "s2", ids: [3] });
  assert.equal(next.ok, true, next.error);
  assert.ok(openReviews().includes(next.review.reviewId));
  assert.ok(!openReviews().includes(r.review.reviewId), "the map's previous grid is forgotten");
  const stale: any = await handleEmbeddingRendererMessage({ reviewId: r.review.reviewId, action: "exclude", path: target });
  assert.match(stale.error, /not open in the kernel/);
});

test("through the kernel process: a map cell, a selection on the map's channel, a relabel in its grid lands in the ledger", { timeout: 120_000 }, async () => {
  const client = new KernelClient({ kernelPath: path.resolve("dist/kernel.js"), cwd: workdir });
  await client.start();
  try {
    const items: OutputItem[] = [];
    const outcome = await client.execute(
      `import { createResNet18, embeddingMap, loadFolderDataset } from "fernb";\nconst ds = await loadFolderDataset("data", { height: 16, width: 16, cacheDir: false });\nawait embeddingMap(createResNet18({ height: 16, width: 16, channels: 1, seed: 2 }), ds, { normalization: { mean: 0.5, std: 0.25 } })`,
      "Cell 1",
      { onStream: () => undefined, onDisplay: (_id, _u, it) => items.push(...it) },
    );
    assert.equal(outcome.ok, true, JSON.stringify(outcome.error));
    const out = items.find((i) => i.mime === "application/vnd.fernb.embedding+json");
    assert.ok(out, `no map output: ${items.map((i) => i.mime).join(", ")}`);
    const payload = JSON.parse(out.data as string);
    const ask = (message: Record<string, unknown>) =>
      new Promise<any>((resolve) => {
        const off = client.onRendererReply((id, m) => {
          if (id !== "fernb-embedding" || (m as { requestId?: unknown }).requestId !== message.requestId) return;
          off();
          resolve(m);
        });
        assert.equal(client.sendRendererMessage("fernb-embedding", message), true);
      });
    const refused = await ask({ action: "select", mapId: payload.mapId, requestId: "k0", ids: [payload.n] });
    assert.equal(refused.ok, false);
    assert.match(refused.error, /is not on this map/);
    const selected = await ask({ action: "select", mapId: payload.mapId, requestId: "k1", ids: [1, 6] });
    assert.equal(selected.ok, true, selected.error);
    assert.equal(selected.review.items.length, 2);
    const target = selected.review.items.find((i: { path: string }) => selected.ids[i.path] === 6);
    const label = target.label === "neutral" ? "surprise" : "neutral";
    const done = await ask({ reviewId: selected.review.reviewId, requestId: "k2", action: "relabel", path: target.path, label });
    assert.equal(done.ok, true, done.error);
    const line = JSON.parse(readFileSync(path.join(workdir, "data", ".fernb-ledger.jsonl"), "utf8").trim().split("\n").pop()!);
    assert.deepEqual([line.path, line.action, line.newLabel], [target.path, "relabel", label]);
  } finally {
    await client.stop();
  }
});
