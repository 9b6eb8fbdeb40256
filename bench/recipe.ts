/**
 * Compares training recipes quickly with PyTorch (bench/recipe.py) on the same faces fernb loads:
 * writes FER2013's training split as raw 48×48 bytes, minus 3,000 held-out faces (the same split
 * as bench/stems.ts) that score each recipe. Val is never used, so the choice does not tune on
 * what the project reports. Usage:
 *   FERNB_FER2013=../shared/data/fer2013 node --import tsx bench/recipe.ts "bal=none" "bal=loss" ...
 * A config with `aug=fernb` trains PyTorch on faces augmented by fernb's own augmenter (the
 * "standard" preset, one pass per epoch, written here), so the two trainers can be compared on
 * identical inputs; otherwise recipe.py augments with flips and pad-and-crop.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadFaceSplit, writeFaceSplit } from "./faceSplit";

async function main(): Promise<void> {
  const root = process.env.FERNB_FER2013 ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const configs = process.argv.slice(2);
  if (configs.length === 0) throw new Error('Name at least one recipe, e.g. "bal=none" "bal=loss" "opt=adamw lr=0.001".');
  const augmentedEpochs = Math.max(0, ...configs.filter((c) => /\baug=fernb\b/.test(c)).map((c) => Math.ceil(Number(/\bepochs=([\d.]+)/.exec(c)?.[1] ?? 1))));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-recipe-"));
  writeFaceSplit(await loadFaceSplit(root, augmentedEpochs), dir);
  try {
    for (const config of configs) {
      const out = execFileSync("/usr/bin/python3", [path.join(__dirname, "recipe.py"), dir, ...config.split(/\s+/).filter(Boolean)], { encoding: "utf8" });
      process.stdout.write(out);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
