/**
 * Folder scanning: which files of `<root>/<emotion>/` are images to load and under which label, in
 * a stable order (code-unit order of names, the same on every machine), and what was left out and
 * why (folders that are not emotions, non-image files, folders that cannot be listed). A root that
 * is not laid out as one folder per emotion is refused with what was found instead.
 */
import type { Dirent } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { readErrorReason } from "../images";
import { canonicalEmotion, EMOTIONS, emotionIndex } from "../labels";
import type { LoadReport } from "./faceDataset";

/** File extensions loaded from class folders (case-insensitive). */
export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp"] as const;

function sortNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0; // code-unit order: the same on every machine and locale
}

const isHidden = (name: string) => name.startsWith(".") || name === "__MACOSX" || name === "Thumbs.db" || name === "desktop.ini";
const isImageName = (name: string) => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase());
const SPLIT_NAMES = new Set(["train", "training", "val", "valid", "validation", "test", "testing", "dev", "publictest", "privatetest", "eval", "evaluation"]);

async function direntIsDir(dir: string, d: Dirent): Promise<boolean> {
  if (d.isDirectory()) return true;
  if (d.isSymbolicLink()) return (await stat(join(dir, d.name)).catch(() => undefined))?.isDirectory() ?? false;
  return false;
}

const LAYOUT_HINT = `Expected one folder per emotion, e.g. <root>/happy/*.png, <root>/sad/*.jpg (folder names: ${EMOTIONS.join(", ")} or aliases like angry, happy, sad, surprised).`;

export interface ScanResult {
  files: { rel: string; abs: string; label: number }[];
  report: LoadReport;
}

/** The image files of a folder data set and the report of what was left out; throws (in words) when it is not one. */
export async function scanFolderDataset(root: string): Promise<ScanResult> {
  const info = await stat(root).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") throw new Error(`Dataset folder not found: ${root}. ${LAYOUT_HINT}`);
    throw new Error(`Cannot read dataset folder ${root}: ${e.message}`);
  });
  if (!info.isDirectory()) {
    const csv = extname(root).toLowerCase() === ".csv" ? " It looks like a CSV file: use loadFer2013Csv(path) for the FER2013 CSV format." : "";
    throw new Error(`Dataset path ${root} is a file, not a folder.${csv} ${LAYOUT_HINT}`);
  }
  const entries = (
    await readdir(root, { withFileTypes: true }).catch((e: unknown) => {
      throw new Error(`Cannot list the dataset folder ${root}: ${readErrorReason(e)}.`);
    })
  ).sort((a, b) => sortNames(a.name, b.name));
  const report: LoadReport = { skipped: [], unknownFolders: [], ignoredFiles: 0, ignoredExamples: [], classFolders: {} };
  const ignore = (what: string) => {
    report.ignoredFiles++;
    if (report.ignoredExamples!.length < 10) report.ignoredExamples!.push(what);
  };
  const classDirs: { name: string; label: number }[] = [];
  const otherDirs: string[] = [];
  let rootImages = 0;
  for (const d of entries) {
    if (isHidden(d.name)) continue;
    if (await direntIsDir(root, d)) {
      const emotion = canonicalEmotion(d.name);
      if (emotion) {
        classDirs.push({ name: d.name, label: emotionIndex(emotion) });
        report.classFolders![d.name] = emotion;
      } else otherDirs.push(d.name);
    } else if (isImageName(d.name)) rootImages++;
    else ignore(d.name);
  }
  if (classDirs.length === 0) {
    // Explain what was found instead.
    const splits: string[] = [];
    for (const name of otherDirs) {
      const sub = await readdir(join(root, name), { withFileTypes: true }).catch(() => [] as Dirent[]);
      const hasClasses = sub.some((s) => !isHidden(s.name) && canonicalEmotion(s.name) !== undefined);
      if (hasClasses || SPLIT_NAMES.has(name.toLowerCase())) splits.push(name);
    }
    if (splits.length) {
      const list = splits.map((s) => `${s}/`).join(" and ");
      throw new Error(`${root} holds dataset splits, not emotion folders: found ${list}: pass one of them, e.g. loadFolderDataset(${JSON.stringify(join(root, splits[0]))}). ${LAYOUT_HINT}`);
    }
    if (rootImages) {
      throw new Error(`${root} contains ${rootImages} image(s) directly, but no emotion folders, so their labels are unknown. ${LAYOUT_HINT}`);
    }
    if (otherDirs.length) {
      throw new Error(`None of the folders in ${root} is an emotion name: found ${otherDirs.slice(0, 10).map((d) => d + "/").join(", ")}${otherDirs.length > 10 ? ", ..." : ""}. ${LAYOUT_HINT}`);
    }
    throw new Error(`${root} is empty${report.ignoredFiles ? ` (apart from ${report.ignoredFiles} non-image file(s): ${report.ignoredExamples!.join(", ")})` : ""}. ${LAYOUT_HINT}`);
  }
  report.unknownFolders = otherDirs;
  if (rootImages) {
    report.ignoredFiles += rootImages;
    if (report.ignoredExamples!.length < 10) report.ignoredExamples!.push(`${rootImages} image(s) directly in the root (no label folder)`);
  }
  const files: ScanResult["files"] = [];
  for (const c of classDirs) {
    const dir = join(root, c.name);
    let names: Dirent[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).sort((a, b) => sortNames(a.name, b.name));
    } catch (e) {
      // An emotion folder that cannot be listed is reported, not fatal.
      report.skipped.push({ path: `${c.name}/`, reason: `folder not readable: ${readErrorReason(e)}` });
      continue;
    }
    for (const d of names) {
      if (isHidden(d.name)) continue;
      const rel = `${c.name}/${d.name}`;
      if (await direntIsDir(dir, d)) ignore(`${rel}/ (nested folder)`);
      else if (isImageName(d.name)) files.push({ rel, abs: join(dir, d.name), label: c.label });
      else ignore(rel);
    }
  }
  if (files.length === 0) {
    throw new Error(`The emotion folders in ${root} (${classDirs.map((c) => c.name + "/").join(", ")}) contain no ${IMAGE_EXTENSIONS.join("/")} files. ${LAYOUT_HINT}`);
  }
  return { files, report };
}
