/**
 * fernb's FER library: what notebook cells get with `import { ... } from "fernb"`, and what Node
 * scripts import from "kernel/fer". Everything runs in the kernel process.
 */
import * as tf from "@tensorflow/tfjs";

export { tf };
export { EMOTIONS, canonicalEmotion, emotionIndex, type Emotion } from "./labels";
export { Rng, type RngState } from "./rng";
export { initBackend, activeBackend, BACKEND_LADDER, type BackendChoice, type BackendInfo } from "./backend";
export { loadFolderDataset } from "./dataset";
export { FaceDataset, type LoadReport, type DatasetCuration, type DatasetSources, type CrossSourceDuplicates } from "./data/faceDataset";
export { loadSources, crossSourceDuplicates, crossSourceEvaluation, CrossSourceTable, SourceDuplicates, type SourceSpec, type SourcesLoadOptions, type CrossSourceOptions, type FittedModel, type SourceDuplicatePair } from "./sources";
export { loadFer2013Csv } from "./data/fer2013Csv";
export type { LoadOptions } from "./data/loadOptions";
export { decodeImage, encodePng, encodeJpeg, ImageDecodeError, type ImageSpec } from "./images";
export { createAugmenter, AUGMENT_PRESETS, type AugmentOptions } from "./augment";
export { createResNet18, logitsModel, DEFAULT_RESNET, LAST_CONV_LAYER, LOGITS_LAYER, type ResNetConfig, type Stem } from "./resnet";
export { train, cosineLearningRate, predictProbabilities, datasetNormalization, machineDescription, DEFAULT_TRAIN_OPTIONS, type TrainOptions, type TrainResult, type TrainEvent, type EpochRecord, type TrainingData } from "./train";
export { saveModel, loadModel, updateModelCard, type ModelCard, type InputSpec, type SaveOptions } from "./modelIO";
export { importResNet18Weights, type ImportReport } from "./importWeights";
export { predictFiles, imageFiles, type FacePrediction } from "./predict";
export { basicMetrics, confusionMatrix, type BasicMetrics, type ClassMetrics } from "./metrics";
export { evaluate, Evaluation, metricsFromProbabilities, calibration, CONFUSION_MIME, type Metrics, type SourceMetrics, type Prediction, type Tta, type EvaluationOptions } from "./evaluate";
export { explain, classActivationMaps, CamReport, GRADCAM_MIME, type CamMethod, type CamOptions } from "./cam/index";
export { defaultCamLayer, chooseCamLayer, camLayerCandidates, MIN_CAM_GRID, type CardGradcam } from "./cam/layers";
export { measureCamLayers, type LayerFaithfulness, type MeasureCamOptions } from "./cam/measure";
export { progressBar, formatDuration } from "./progress";
export * from "./curation/index";
export * from "./faces/index";
