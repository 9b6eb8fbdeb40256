/**
 * `npm run bench:curation [-- --model DIR --data DIR --seeds N --cache DIR --write-calibration]`:
 * how well each label-error ranking finds known label noise injected into faces the model did not
 * train on.
 *
 *  - Faces: FER2013 PublicTest (`--data`, default ../shared/data/fer2013/val next to the repo), the
 *    raw labels (no ledger); models/fer2013-resnet18 trained on FER2013 Training only.
 *  - Halves: each face goes to the TUNING or the REPORT half by a hash of its file name (fixed, no
 *    seed). Methods and their parameters are chosen on the tuning half only; the report half is
 *    printed to be quoted.
 *  - Noise: class-conditional, along FER2013's real confusions (anger↔disgust, fear↔surprise,
 *    sadness↔neutral, fear↔sadness): round(rate · n) faces drawn uniformly among the faces of those
 *    six classes get a partner class as their label (fear and sadness: either partner, equally
 *    likely), at 5%, 10% and 20% of all faces, `--seeds` seeded draws each (default 5).
 *  - Every method ranks all faces at once (as `fernb audit` does on the whole folder); each half is
 *    scored on its own faces in that order: precision and recall at k = 50, 100, 200 and the number
 *    of flipped labels in the half, and the area under the ROC curve.
 *  - The faces already carry real label errors; the benchmark counts them as false positives.
 *
 * The model's probabilities and features (single crop, flip, ten-crop) are computed once and cached
 * in `--cache` (default <tmp>/fernb-bench-curation), keyed by the model's weights and the images.
 * Prints the tables, the method chosen on the tuning half, a calibration table of the chosen
 * method (tuning half, 10% noise) and one JSON line last. `--write-calibration` writes that table
 * to kernel/fer/curation/calibration.ts.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { initBackend } from "../kernel/fer/backend";
import { findDuplicates } from "../kernel/fer/curation/duplicates";
import { curationFeatures, type CurationTta } from "../kernel/fer/curation/features";
import { DEFAULT_RANKING, nearestNeighbours, precisionRecallAtK, rankLabelIssues, rocAuc, type RankMethod, type RankOptions } from "../kernel/fer/curation/rank";
import { CALIBRATION_EDGES } from "../kernel/fer/curation/calibration";
import { loadFolderDataset } from "../kernel/fer/dataset";
import { EMOTIONS } from "../kernel/fer/labels";
import { loadModel } from "../kernel/fer/modelIO";
import { Rng } from "../kernel/fer/rng";

const RATES = [0.05, 0.1, 0.2];
const KS = [50, 100, 200];
const TTAS: CurationTta[] = ["none", "flip", "tencrop"];
const NEIGHBOURS = 15;
/** The confusion pairs the noise follows (EMOTIONS indices). */
const PAIRS: [string, string][] = [["anger", "disgust"], ["fear", "surprise"], ["sadness", "neutral"], ["fear", "sadness"]];

interface Candidate {
  name: string;
  method: RankMethod;
  tta: CurationTta;
  duplicatesFirst: boolean;
  k?: number;
  beta?: number;
}

const CANDIDATES: Candidate[] = [
  { name: "loss (single crop)", method: "loss", tta: "none", duplicatesFirst: false },
  { name: "loss, flip TTA", method: "loss", tta: "flip", duplicatesFirst: false },
  { name: "loss, ten-crop TTA", method: "loss", tta: "tencrop", duplicatesFirst: false },
  { name: "loss, flip TTA, duplicates first", method: "loss", tta: "flip", duplicatesFirst: true },
  { name: "loss, ten-crop TTA, duplicates first", method: "loss", tta: "tencrop", duplicatesFirst: true },
  { name: "normalised margin, ten-crop", method: "normalized_margin", tta: "tencrop", duplicatesFirst: false },
  { name: "conf.-weighted entropy, ten-crop", method: "confidence_weighted_entropy", tta: "tencrop", duplicatesFirst: false },
  { name: "kNN disagreement (k=15), ten-crop", method: "knn", tta: "tencrop", duplicatesFirst: false, k: NEIGHBOURS },
  { name: "loss + kNN (k=15, β=0.25), ten-crop", method: "loss+knn", tta: "tencrop", duplicatesFirst: false, k: NEIGHBOURS, beta: 0.25 },
  { name: "loss + kNN (k=15, β=0.5), ten-crop", method: "loss+knn", tta: "tencrop", duplicatesFirst: false, k: NEIGHBOURS, beta: 0.5 },
  { name: "rank avg margin+kNN (k=15), ten-crop", method: "rank_average", tta: "tencrop", duplicatesFirst: false, k: NEIGHBOURS },
];

function flags(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith("--")) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}

/** TUNING (0) or REPORT (1) half of a face, from its file name only. */
export function halfOf(path: string): 0 | 1 {
  return (createHash("sha256").update(basename(path)).digest()[0] & 1) as 0 | 1;
}

/** Class-conditional noise along PAIRS: round(rate · n) labels flipped to a partner class. */
export function injectNoise(labels: Int32Array, rate: number, seed: number): { noisy: Int32Array; flipped: Uint8Array } {
  const partners = new Map<number, number[]>();
  for (const [a, b] of PAIRS) {
    const ia = EMOTIONS.indexOf(a as never);
    const ib = EMOTIONS.indexOf(b as never);
    partners.set(ia, [...(partners.get(ia) ?? []), ib]);
    partners.set(ib, [...(partners.get(ib) ?? []), ia]);
  }
  const eligible: number[] = [];
  for (let i = 0; i < labels.length; i++) if (partners.has(labels[i])) eligible.push(i);
  const rng = new Rng(seed);
  const chosen = rng.shuffle(eligible).slice(0, Math.round(rate * labels.length));
  const noisy = Int32Array.from(labels);
  const flipped = new Uint8Array(labels.length);
  for (const i of chosen) {
    const p = partners.get(labels[i])!;
    noisy[i] = p[rng.int(p.length)];
    flipped[i] = 1;
  }
  return { noisy, flipped };
}

interface Scores {
  p: Record<string, number>;
  r: Record<string, number>;
  auc: number;
  flipped: number;
}

function scoreHalf(order: number[], flipped: Uint8Array, inHalf: (i: number) => boolean): Scores {
  const sub = order.filter(inHalf);
  const nf = sub.reduce((a, i) => a + flipped[i], 0);
  const p: Record<string, number> = {};
  const r: Record<string, number> = {};
  for (const k of [...KS, nf]) {
    const key = k === nf ? "nf" : String(k);
    const m = precisionRecallAtK(sub, flipped, k);
    p[key] = m.precision;
    r[key] = m.recall;
  }
  return { p, r, auc: rocAuc(sub, flipped), flipped: nf };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f3 = (v: number) => v.toFixed(3);

async function main() {
  const f = flags(process.argv.slice(2));
  const repo = resolve(__dirname, "..");
  const modelDir = typeof f.model === "string" ? f.model : join(repo, "models/fer2013-resnet18");
  const dataDir = typeof f.data === "string" ? f.data : resolve(repo, "../shared/data/fer2013/val");
  const seeds = typeof f.seeds === "string" ? Number(f.seeds) : 5;
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error("--seeds must be a positive whole number");
  if (!existsSync(dataDir)) throw new Error(`No data folder ${dataDir}: pass --data <FER2013 PublicTest folder, one sub-folder per emotion>`);
  const cacheDir = typeof f.cache === "string" ? f.cache : join(tmpdir(), "fernb-bench-curation");
  mkdirSync(cacheDir, { recursive: true });

  const backend = await initBackend();
  process.stderr.write(`backend: ${backend.description}\n`);
  const { model, card } = await loadModel(modelDir);
  const data = await loadFolderDataset(dataDir, { ledger: false, height: card.input.height, width: card.input.width, channels: card.input.channels });
  const n = data.size;
  const labels = Int32Array.from(data.labels);
  const key = createHash("sha256").update(readFileSync(join(modelDir, "weights.bin"))).update(data.fingerprint()).digest("hex").slice(0, 16);
  const probs: Record<string, Float32Array> = {};
  const emb: Record<string, Float32Array> = {};
  for (const tta of TTAS) {
    const pf = join(cacheDir, `${key}-${tta}-probs.f32`);
    const ef = join(cacheDir, `${key}-${tta}-features.f32`);
    if (existsSync(pf) && existsSync(ef)) {
      const pb = readFileSync(pf);
      const eb = readFileSync(ef);
      probs[tta] = new Float32Array(pb.buffer.slice(pb.byteOffset, pb.byteOffset + pb.byteLength));
      emb[tta] = new Float32Array(eb.buffer.slice(eb.byteOffset, eb.byteOffset + eb.byteLength));
      process.stderr.write(`${tta}: cached (${pf})\n`);
      continue;
    }
    const t0 = Date.now();
    const out = await curationFeatures(model, data, card.input, { tta });
    probs[tta] = out.probs;
    emb[tta] = out.embeddings;
    writeFileSync(pf, Buffer.from(out.probs.buffer, out.probs.byteOffset, out.probs.byteLength));
    writeFileSync(ef, Buffer.from(out.embeddings.buffer, out.embeddings.byteOffset, out.embeddings.byteLength));
    process.stderr.write(`${tta}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  const K = EMOTIONS.length;
  const accuracy = (p: Float32Array) => {
    let c = 0;
    for (let i = 0; i < n; i++) {
      let b = 0;
      for (let j = 1; j < K; j++) if (p[i * K + j] > p[i * K + b]) b = j;
      if (b === labels[i]) c++;
    }
    return c / n;
  };
  const dup = findDuplicates(data);
  const pairs = dup.pairs.map((p) => [p.a.index, p.b.index] as const);
  const neighbours: Record<string, Int32Array> = {};
  const half = data.paths.map(halfOf);
  const halfSize = [half.filter((h) => h === 0).length, half.filter((h) => h === 1).length];
  console.log(`${n} faces (${dataDir}); model ${modelDir}; accuracy on the given labels: single ${f3(accuracy(probs.none))}, flip ${f3(accuracy(probs.flip))}, ten-crop ${f3(accuracy(probs.tencrop))}`);
  console.log(`halves by file-name hash: TUNING ${halfSize[0]} faces, REPORT ${halfSize[1]}; ${pairs.length} near-duplicate pairs (${pairs.filter(([a, b]) => labels[a] !== labels[b]).length} with different labels); ${seeds} noise draws per rate`);

  // results[candidate][half][rate] = Scores per seed
  const results = CANDIDATES.map(() => [0, 1].map(() => RATES.map(() => [] as Scores[])));
  const calibrationCounts = { total: new Array<number>(CALIBRATION_EDGES.length - 1).fill(0), wrong: new Array<number>(CALIBRATION_EDGES.length - 1).fill(0) };
  const chosenForCalibration = DEFAULT_RANKING;
  for (const [ri, rate] of RATES.entries()) {
    for (let s = 1; s <= seeds; s++) {
      const { noisy, flipped } = injectNoise(labels, rate, 1000 * s + Math.round(rate * 100));
      for (const [ci, c] of CANDIDATES.entries()) {
        const options: RankOptions = { method: c.method, k: c.k, beta: c.beta };
        if (c.k) options.neighbours = neighbours[c.tta] ??= nearestNeighbours(emb[c.tta], n, 20);
        if (c.duplicatesFirst) options.duplicates = pairs;
        const order = rankLabelIssues(probs[c.tta], noisy, options).map((r) => r.index);
        for (const h of [0, 1] as const) results[ci][h][ri].push(scoreHalf(order, flipped, (i) => half[i] === h));
      }
      // Calibration of the default: p_given (its TTA) → share of injected errors, tuning half, 10%.
      if (rate === 0.1) {
        const p = probs[chosenForCalibration.tta];
        for (let i = 0; i < n; i++) {
          if (half[i] !== 0) continue;
          const self = p[i * K + noisy[i]];
          let b = 0;
          while (b < CALIBRATION_EDGES.length - 2 && self >= CALIBRATION_EDGES[b + 1]) b++;
          calibrationCounts.total[b]++;
          calibrationCounts.wrong[b] += flipped[i];
        }
      }
    }
  }

  const summary = (ci: number, h: number, ri: number) => {
    const rs = results[ci][h][ri];
    const pick = (g: (x: Scores) => number) => mean(rs.map(g));
    return {
      flipped: pick((x) => x.flipped),
      p50: pick((x) => x.p["50"]), p100: pick((x) => x.p["100"]), p200: pick((x) => x.p["200"]), pNf: pick((x) => x.p.nf),
      r50: pick((x) => x.r["50"]), r100: pick((x) => x.r["100"]), r200: pick((x) => x.r["200"]), rNf: pick((x) => x.r.nf),
      auc: pick((x) => x.auc),
    };
  };
  // Choice: the highest mean precision@100 over the three rates on the TUNING half (ties: AUC).
  const tuningScore = CANDIDATES.map((_, ci) => mean(RATES.map((_, ri) => summary(ci, 0, ri).p100)));
  const tuningAuc = CANDIDATES.map((_, ci) => mean(RATES.map((_, ri) => summary(ci, 0, ri).auc)));
  let chosen = 0;
  CANDIDATES.forEach((_, ci) => {
    if (tuningScore[ci] > tuningScore[chosen] + 1e-9 || (Math.abs(tuningScore[ci] - tuningScore[chosen]) <= 1e-9 && tuningAuc[ci] > tuningAuc[chosen])) chosen = ci;
  });

  for (const h of [0, 1]) {
    console.log(`\n== ${h === 0 ? "TUNING" : "REPORT"} half (${halfSize[h]} faces) — precision / recall at k, ROC AUC; mean of ${seeds} draws ==`);
    for (const [ri, rate] of RATES.entries()) {
      const nf = summary(0, h, ri).flipped;
      console.log(`\n${Math.round(rate * 100)}% noise (${nf.toFixed(0)} flipped labels in this half)`);
      console.log(`${"method".padEnd(40)} ${"P@50".padStart(6)} ${"P@100".padStart(6)} ${"P@200".padStart(6)} ${"P@nf".padStart(6)}  ${"R@50".padStart(6)} ${"R@100".padStart(6)} ${"R@200".padStart(6)} ${"R@nf".padStart(6)}  ${"AUC".padStart(6)}`);
      CANDIDATES.forEach((c, ci) => {
        const m = summary(ci, h, ri);
        const mark = ci === chosen ? " *" : ci === 0 ? " (baseline)" : "";
        console.log(`${c.name.padEnd(40)} ${[m.p50, m.p100, m.p200, m.pNf].map((v) => f3(v).padStart(6)).join(" ")}  ${[m.r50, m.r100, m.r200, m.rNf].map((v) => f3(v).padStart(6)).join(" ")}  ${f3(m.auc).padStart(6)}${mark}`);
      });
    }
  }
  const c = CANDIDATES[chosen];
  const isDefault = c.method === DEFAULT_RANKING.method && c.tta === DEFAULT_RANKING.tta && c.duplicatesFirst === DEFAULT_RANKING.duplicatesFirst;
  console.log(`\nchosen on the TUNING half (highest mean precision@100 over ${RATES.map((r) => `${r * 100}%`).join(", ")}): ${c.name} (${f3(tuningScore[chosen])} vs ${f3(tuningScore[0])} for the plain loss)`);
  console.log(isDefault ? "it is the shipped default (DEFAULT_RANKING)" : `NOTE: the shipped default is ${JSON.stringify(DEFAULT_RANKING)}, not this one`);

  const calibration = calibrationCounts.total.map((t, b) => ({ below: CALIBRATION_EDGES[b + 1], from: CALIBRATION_EDGES[b], faces: t / seeds, wrong: t ? calibrationCounts.wrong[b] / t : 0 }));
  console.log(`\ncalibration of the default (${DEFAULT_RANKING.tta} TTA, tuning half, 10% injected noise): share of faces whose label was flipped, by the model's probability of the given label`);
  for (const b of calibration) console.log(`  p_given ${b.from.toFixed(2)}–${b.below.toFixed(2)}: ${(100 * b.wrong).toFixed(1)}% wrong (${b.faces.toFixed(0)} faces a draw)`);
  if (f["write-calibration"] === true) {
    const file = join(repo, "kernel/fer/curation/calibration.ts");
    const text = readFileSync(file, "utf8");
    const start = text.indexOf("// BEGIN MEASURED");
    const end = text.indexOf("// END MEASURED");
    if (start < 0 || end < 0) throw new Error(`${file} has no // BEGIN MEASURED … // END MEASURED block`);
    const block = `// BEGIN MEASURED (npm run bench:curation -- --write-calibration, ${new Date().toISOString().slice(0, 10)}, ${seeds} draws, tuning half ${halfSize[0]} faces)\nexport const MEASURED_WRONG_SHARE: readonly number[] = [${calibration.map((b) => (Math.round(b.wrong * 1000) / 1000).toString()).join(", ")}];\n`;
    writeFileSync(file, text.slice(0, start) + block + text.slice(end));
    console.log(`wrote ${file}`);
  }

  const json = {
    faces: n,
    halves: { tuning: halfSize[0], report: halfSize[1] },
    seeds,
    chosen: { name: c.name, method: c.method, tta: c.tta, duplicatesFirst: c.duplicatesFirst, isDefault },
    results: Object.fromEntries(
      (["tuning", "report"] as const).map((hn, h) => [
        hn,
        Object.fromEntries(RATES.map((rate, ri) => [String(rate), Object.fromEntries(CANDIDATES.map((cc, ci) => {
          const m = summary(ci, h, ri);
          return [cc.name, { p50: +f3(m.p50), p100: +f3(m.p100), p200: +f3(m.p200), pNf: +f3(m.pNf), r100: +f3(m.r100), rNf: +f3(m.rNf), auc: +f3(m.auc) }];
        }))])),
      ]),
    ),
    calibration: calibration.map((b) => ({ from: b.from, below: b.below, wrong: +f3(b.wrong) })),
  };
  console.log(JSON.stringify(json));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
