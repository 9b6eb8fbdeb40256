/**
 * Dataset curation: the decision ledger and curated views/exports, likely label errors (confident
 * learning), exact/near duplicates and train/validation leaks, and unusable-image ranking.
 */
export {
  CurationLedger,
  applyLedger,
  uncurated,
  parseLedger,
  normalizeLedgerPath,
  defaultLedgerFile,
  sha256File,
  LEDGER_VERSION,
  DEFAULT_LEDGER_NAME,
  MAX_LINE_BYTES,
  type LedgerEntry,
  type LedgerAction,
  type DecisionSource,
  type DecisionOptions,
  type NewDecision,
  type LedgerOptions,
  type LedgerReadReport,
  type LedgerLineProblem,
  type CurationReport,
  type StaleDecision,
  type ImageDecisionState,
  type AppliedLedger,
} from "./ledger";
export { exportCurated, curationSummary, CurationSummary, type ExportOptions, type ExportResult, type CuratedManifest, type ManifestFile, type ClassCurationCounts } from "./export";
export {
  findLabelIssues,
  labelIssuesChartSpec,
  labelIssuesText,
  perClassThresholds,
  confidentJoint,
  calibrateJoint,
  rankByLabelQuality,
  stratifiedFolds,
  crossValidatedProbabilities,
  type LabelIssue,
  type LabelIssuesOptions,
  type LabelIssuesResult,
  type RankBy,
  type IssueFilter,
  type CrossValidationOptions,
  type CrossValidationResult,
  type CrossValidationEvent,
} from "./confidentLearning";
export {
  rankLabelIssues,
  suspicionScores,
  labelQualityScores,
  nearestNeighbours,
  neighbourAgreement,
  precisionRecallAtK,
  rocAuc,
  DEFAULT_RANKING,
  RANK_METHODS,
  type RankMethod,
  type RankOptions,
  type RankedExample,
  type RankingSpec,
  type RankTta,
} from "./rank";
export { wrongShare, modelStrength, CALIBRATION_EDGES, MEASURED_WRONG_SHARE, type ModelStrength } from "./calibration";
export { curationFeatures, type CurationFeatures, type CurationTta } from "./features";
export { findDuplicates, findLeaks, perceptualHash, hammingDistance, imageHashes, DuplicateReport, type DuplicateData, type DuplicateOptions, type DuplicatePair, type DuplicateGroup, type ImageRef, type ImageHashes } from "./duplicates";
export { rankUnusable, pixelStats, type UnusableCandidate, type UnusableOptions, type UnusableData, type PixelStats } from "./unusable";
export {
  review,
  ReviewGrid,
  REVIEW_MIME,
  type ReviewOptions,
  type ReviewFilter,
  type ReviewPayload,
  type ReviewItem,
  type ReviewIssue,
  type ReviewItemState,
  type ReviewPrediction,
  type ReviewCamInfo,
  type SuspectKind,
} from "./review";
export {
  embeddingMap,
  pca,
  project2d,
  EmbeddingMap,
  EMBEDDING_MIME,
  UMAP_AUTO_MAX_POINTS,
  type EmbeddingMapOptions,
  type ProjectionMethod,
  type PcaResult,
  type Projection,
} from "./embeddingMap";
