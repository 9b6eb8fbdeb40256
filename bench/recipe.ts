/**
 * Compares training recipes quickly with PyTorch (bench/recipe.py) on the same faces fernb loads:
 * writes FER2013's training split as raw 48×48 bytes, minus 3,000 held-out faces (the same split
 * as bench/stems.ts) that score each recipe. Val is never used, so the choice does not tune on
 * what the project reports. Usage:
 *   FERNB_FER2013=../shared/data/fer2013 node --import tsx bench/recipe.ts "bal=none" "bal=loss" ...
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadFolderDataset, Rng } from "../kernel/fer/index";

async function main(): Promise<void> {
  const root = process.env.FERNB_FER2013 ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const configs = process.argv.slice(2);
  if (configs.length === 0) throw new Error('Name at least one recipe, e.g. "bal=none" "bal=loss" "opt=adamw lr=0.001".');
  const all = await loadFolderDataset(path.join(root, "train"));
  if (all.height !== 48 || all.width !== 48 || all.channels !== 1) throw new Error("Expected 48×48 grayscale faces.");
  const order = new Rng(2024).shuffle(Array.from({ length: all.size }, (_, i) => i));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fernb-recipe-"));
  const write = (name: string, indices: number[]) => {
    const x = Buffer.alloc(indices.length * 48 * 48);
    const y = Buffer.alloc(indices.length);
    indices.forEach((j, k) => {
      x.set(all.image(j), k * 48 * 48);
      y[k] = all.labels[j];
    });
    fs.writeFileSync(path.join(dir, `${name}.x`), x);
    fs.writeFileSync(path.join(dir, `${name}.y`), y);
  };
  write("heldout", order.slice(0, 3000));
  write("train", order.slice(3000));
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
