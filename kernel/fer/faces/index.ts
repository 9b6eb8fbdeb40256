/** Faces in photos: detection, alignment, crops, prediction and drawing (what `fernb faces` uses). */
export { detectFaces, loadFaceDetector, FaceDetector, LANDMARKS, DETECTOR_ID, DETECTOR_INFO, DEFAULT_DETECT_OPTIONS, type DetectedFace, type DetectOptions, type Box } from "./detector";
export { extractFaces, cropToSpec, DEFAULT_FACE_SPEC, type ExtractedFace, type ExtractOptions } from "./extract";
export { alignFace, eyeAngle, DEFAULT_MARGIN, type AlignOptions, type AlignedCrop } from "./align";
export { readPhoto, type Photo } from "./photo";
export { drawFaces, overlaySvg, type DrawnFace } from "./draw";
export { weightedNms, iou } from "./nms";
export { extractFacesToFolder, listPhotos, MANIFEST as FACES_MANIFEST, type FaceRecord, type FolderReport, type FolderOptions } from "./folder";
export { predictPhotos, looksLikeCrop, DETECT_MODES, type DetectMode, type PhotoPredictOptions, type PredictedFace } from "./predict";
