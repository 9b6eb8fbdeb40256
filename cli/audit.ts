/**
 * `fernb audit --data <folder> [--model <dir>] [--folds k] [--epochs n] [--limit n] [--json]`:
 * ranks the images whose labels are most likely wrong (confident learning). With --model, that
 * model's probabilities are taken as out-of-sample (it must not have trained on these images);
 * otherwise k models are trained by cross-validation so every image is scored by a model that did
 * not see it. The suspects are ordered by rank.ts's DEFAULT_RANKING (chosen by `npm run
 * bench:curation`): the loss of the given label under ten-crop TTA probabilities, the more suspect
 * image of each near-duplicate pair with different labels first; `--rank <method>`, `--tta` and
 * `--no-duplicates` change it, `--rank plain-loss` is the plain single-crop loss ranking. `--json`
 * names the ranking and its parameters.
 */
import { initBackend } from "../kernel/fer/backend";
import { findLabelIssues, crossValidatedProbabilities, findDuplicates } from "../kernel/fer/curation/index";
import { curationFeatures } from "../kernel/fer/curation/features";
import { DEFAULT_RANKING, RANK_METHODS, type RankMethod, type RankTta } from "../kernel/fer/curation/rank";
import { loadFolderDataset, loadWarnings } from "../kernel/fer/dataset";
import { EMOTIONS } from "../kernel/fer/labels";
import { inspectModelFolder, loadModel } from "../kernel/fer/modelIO";
import { BACKEND_CHOICES, existingFolder, oneOf, UsageError, wholeNumber, type FlagSpec, type ParsedArgs } from "./args";

export const AUDIT_FLAGS: Record<string, FlagSpec> = {
  data: { value: true, meta: "<folder with one sub-folder per emotion>" },
  model: { value: true, meta: "<model folder>" },
  folds: { value: true, meta: "<k, 2 or more>" },
  epochs: { value: true, meta: "<n, 1 or more>" },
  limit: { value: true, meta: "<n, 1 or more>" },
  json: { value: false },
  rank: { value: true, meta: `<${[...RANK_METHODS, "plain-loss"].join("|")}>` },
  tta: { value: true, meta: "<none|flip|tencrop>" },
  "no-duplicates": { value: false },
  backend: { value: true, meta: `<${BACKEND_CHOICES.join("|")}>` },
  help: { value: false },
};
import { createResNet18 } from "../kernel/fer/resnet";

export async function auditCommand(flags: ParsedArgs["flags"]): Promise<number> {
  // Every argument (and the model folder) is checked before any work: a bad --limit must not wait for k-fold training.
  const dataDir = flags.data;
  if (typeof dataDir !== "string") throw new UsageError("fernb audit needs --data <folder with one sub-folder per emotion>.", "audit");
  existingFolder(dataDir, "data folder", "audit");
  if (flags.folds !== undefined && flags.folds !== true && Number(flags.folds) === 1) throw new UsageError("--folds must be at least 2.", "audit");
  const folds = wholeNumber(flags, "folds", 5, 2, 1000, "audit");
  const epochs = wholeNumber(flags, "epochs", 10, 1, 100_000, "audit");
  const limit = wholeNumber(flags, "limit", 1_000_000, 1, Number.MAX_SAFE_INTEGER, "audit");
  const backendChoice = oneOf(flags, "backend", BACKEND_CHOICES, "audit");
  // The ranking (rank.ts): DEFAULT_RANKING unless asked otherwise; "plain-loss" is the ranking of
  // before (the loss under single-crop probabilities, no duplicate check).
  const rankFlag = oneOf(flags, "rank", [...RANK_METHODS, "plain-loss"] as const, "audit");
  const method: RankMethod = rankFlag === undefined || rankFlag === "plain-loss" ? DEFAULT_RANKING.method : rankFlag;
  const ttaFlag = oneOf(flags, "tta", ["none", "flip", "tencrop"] as const, "audit");
  if (rankFlag === "plain-loss" && (ttaFlag ?? "none") !== "none") throw new UsageError("--rank plain-loss uses single-crop probabilities; it cannot be combined with --tta.", "audit");
  const tta: RankTta = rankFlag === "plain-loss" ? "none" : ttaFlag ?? DEFAULT_RANKING.tta;
  const duplicatesFirst = rankFlag !== "plain-loss" && flags["no-duplicates"] !== true && DEFAULT_RANKING.duplicatesFirst;
  const needsFeatures = method === "knn" || method === "loss+knn" || method === "rank_average";
  if (typeof flags.model === "string") {
    for (const name of ["folds", "epochs"]) if (flags[name] !== undefined) throw new UsageError(`--${name} is for cross-validation training; it cannot be combined with --model.`, "audit");
  } else {
    if (ttaFlag !== undefined) throw new UsageError("--tta needs --model (cross-validated probabilities are single crop).", "audit");
    if (needsFeatures) throw new UsageError(`--rank ${method} needs a model's features: use it with --model.`, "audit");
  }
  if (typeof flags.model === "string") {
    await inspectModelFolder(flags.model);
  }
  const backend = await initBackend(backendChoice);
  process.stderr.write(`backend: ${backend.choice} (${backend.description})\n`);
  let probs: Float32Array;
  let source: string;
  let paths: string[];
  let labels: Int32Array;
  let embeddings: Float32Array | undefined;
  let duplicates: [number, number][] | undefined;
  const probabilitiesTta = typeof flags.model === "string" ? tta : "none";
  if (typeof flags.model === "string") {
    const { model, card } = await loadModel(flags.model);
    const data = await loadFolderDataset(dataDir, { height: card.input.height, width: card.input.width, channels: card.input.channels });
    for (const w of loadWarnings(data.report)) process.stderr.write(`warning: ${w}\n`);
    const features = await curationFeatures(model, data, card.input, { tta });
    probs = features.probs;
    if (needsFeatures) embeddings = features.embeddings;
    source = `model ${flags.model}${tta === "none" ? "" : `, averaged over ${tta === "flip" ? "flip" : "ten-crop"} TTA`} (taken as out-of-sample: it must not have trained on these images)`;
    if (duplicatesFirst) duplicates = findDuplicates(data).pairs.map((p) => [p.a.index, p.b.index]);
    ({ paths, labels } = data);
  } else {
    const data = await loadFolderDataset(dataDir);
    for (const w of loadWarnings(data.report)) process.stderr.write(`warning: ${w}\n`);
    const cv = await crossValidatedProbabilities(data, { folds, modelFactory: (f) => createResNet18({ seed: f + 1 }), trainOptions: { epochs } });
    probs = cv.probs;
    if (duplicatesFirst) duplicates = findDuplicates(data).pairs.map((p) => [p.a.index, p.b.index]);
    source = `${folds}-fold cross-validation, ${epochs} epochs per fold (held-out accuracy per fold: ${cv.foldAccuracy.map((a) => a.toFixed(3)).join(", ")})`;
    ({ paths, labels } = data);
  }
  const result = findLabelIssues(probs, labels, { paths, limit, rank: method, embeddings, duplicates });
  const ranking = {
    method: rankFlag === "plain-loss" ? "plain-loss" : method,
    tta: probabilitiesTta,
    duplicatesFirst,
    ...(result.ranking.k !== undefined ? { k: result.ranking.k } : {}),
    ...(result.ranking.beta !== undefined ? { beta: result.ranking.beta } : {}),
    isDefault: method === DEFAULT_RANKING.method && probabilitiesTta === DEFAULT_RANKING.tta && duplicatesFirst === DEFAULT_RANKING.duplicatesFirst,
    chosenBy: "npm run bench:curation (highest mean precision@100 on its tuning half)",
  };
  const rankingText = `${ranking.method}${ranking.k !== undefined ? ` (k=${ranking.k}${ranking.beta !== undefined ? `, beta=${ranking.beta}` : ""})` : ""}, ${probabilitiesTta === "none" ? "single crop" : `${probabilitiesTta} TTA`}${duplicatesFirst ? ", near-duplicates with different labels first" : ""}${ranking.isDefault ? " (the default)" : ""}`;
  const suspects = result.suspects.map((s) => ({
    path: paths[s.index],
    label: EMOTIONS[s.given],
    suggested: EMOTIONS[s.suggested],
    score: s.score,
    ...(s.suspicion !== undefined ? { suspicion: Math.round(s.suspicion * 1e4) / 1e4 } : {}),
    // What the score means on the curation benchmark; null when the model is too weak for that to hold.
    wrongShare: result.strength.weak ? null : s.wrongShare,
    ...(s.duplicateConflict ? { duplicateConflict: true } : {}),
  }));
  if (result.strength.reason) process.stderr.write(`warning: ${result.strength.reason}\n`);
  if (flags.json === true) {
    console.log(JSON.stringify({
      data: dataDir,
      probabilities: source,
      ranking,
      model: { accuracy: Math.round(result.strength.accuracy * 1e4) / 1e4, weak: result.strength.weak, ...(result.strength.reason ? { warning: result.strength.reason } : {}) },
      n: result.n,
      estimatedErrors: Object.fromEntries(EMOTIONS.map((e, i) => [e, Math.round(result.estimatedErrors[i])])),
      suspects,
    }));
  } else {
    console.log(`${result.n} images; probabilities from ${source}`);
    console.log(`ranking: ${rankingText}; wrong = share of faces with that probability of their label that were mislabelled on the curation benchmark`);
    console.log(`estimated wrong labels: ${EMOTIONS.map((e, i) => `${e} ${Math.round(result.estimatedErrors[i])}`).join(", ")}`);
    for (const s of suspects.slice(0, 50)) console.log(`${s.score.toFixed(3)}  wrong ${(s.wrongShare === null || s.wrongShare === undefined ? "?" : `${Math.round(100 * s.wrongShare)}%`).padStart(3)}  ${s.path}: labelled ${s.label}, looks like ${s.suggested}${s.duplicateConflict ? " (near duplicate of an image labelled otherwise)" : ""}`);
    if (suspects.length > 50) console.log(`… ${suspects.length - 50} more (--json lists all)`);
  }
  return 0;
}
