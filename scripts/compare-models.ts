/**
 * Compares saved FER2013 models on val (PublicTest) the honest way: all faces, and apart the faces
 * with no exact or near copy in FER2013 Training (findLeaks) and those with one. A model trained on
 * Training has seen the copies of the second group, so only the first group measures faces it has
 * never seen; the shipped model's val figure is lifted by the second.
 *
 *   node --import tsx scripts/compare-models.ts --data ../shared/data/fer2013 models/fer2013-resnet18 /tmp/fer-next
 *
 * Prints one line per model and group (single crop and flip TTA), then one JSON line.
 */
import * as path from "node:path";
import { evaluate, findLeaks, initBackend, loadFolderDataset, loadModel } from "../kernel/fer/index";
import { parseArgs } from "../cli/args";
import { facesAtSize } from "./fer2013Split";

async function main(): Promise<void> {
  const parsed = parseArgs("compare-models", process.argv.slice(2), { data: { value: true } });
  const root = (parsed.flags as Record<string, string | undefined>).data ?? path.resolve(__dirname, "../../shared/data/fer2013");
  const models = parsed.positional;
  if (models.length === 0) throw new Error("name at least one model folder");
  await initBackend();
  const train = await loadFolderDataset(path.join(root, "train"));
  const val = await loadFolderDataset(path.join(root, "val"));
  const leaked = new Set(findLeaks(train, val).leakedImages().map((r) => r.index));
  const groups: Record<string, number[]> = { all: [], unseen: [], copied: [] };
  for (let i = 0; i < val.size; i++) {
    groups.all.push(i);
    groups[leaked.has(i) ? "copied" : "unseen"].push(i);
  }
  console.log(`val ${val.size} faces: ${groups.unseen.length} with no near-copy in Training, ${groups.copied.length} with one`);
  const results: Record<string, Record<string, { faces: number; accuracy: number; macroF1: number; flipAccuracy: number }>> = {};
  // Each model sees val at its own input size (the near-copies above were found at 48×48).
  const valAt = new Map<number, typeof val>([[48, val]]);
  for (const dir of models) {
    const { model, card } = await loadModel(dir);
    const size = card.input.height;
    if (!valAt.has(size)) valAt.set(size, (await facesAtSize(path.join(root, "val"), size, val))[0]);
    const valForModel = valAt.get(size)!;
    const normalization = { mean: card.input.mean, std: card.input.std };
    const name = path.basename(path.resolve(dir));
    results[name] = {};
    for (const [group, indices] of Object.entries(groups)) {
      const e = (await evaluate(model, valForModel.subset(indices), { normalization, tta: ["flip"] })).toJSON() as { accuracy: number; macroF1: number; tta?: { flip?: { accuracy: number } } };
      results[name][group] = { faces: indices.length, accuracy: e.accuracy, macroF1: e.macroF1, flipAccuracy: e.tta?.flip?.accuracy ?? NaN };
      const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
      console.log(`${name.padEnd(24)} ${group.padEnd(7)} ${String(indices.length).padStart(5)} faces · single crop ${pct(e.accuracy)} (macro-F1 ${e.macroF1.toFixed(3)}) · flip TTA ${pct(e.tta?.flip?.accuracy ?? NaN)}`);
    }
    model.dispose();
  }
  console.log(JSON.stringify(results));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
