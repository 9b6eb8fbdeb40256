/**
 * Chooses a model's default Grad-CAM layer by measurement and records it on its card.
 *
 *   node --import tsx scripts/measure-gradcam.ts --model models/fer2013-resnet18 --data ../shared/data/fer2013/val
 *
 * Scores every residual-block output whose grid is at least 6×6 (MIN_CAM_GRID) and, for reference,
 * the deepest coarser one, on 600 random faces (Rng seed 19) with measureCamLayers: for each face the
 * map of the predicted class, its top 20% of pixels hidden, against the same region moved elsewhere
 * and against 20% random pixels. The ≥ 6×6 layer whose maps lower the predicted class most is written
 * to `card.gradcam` (layer, grid, figures, and the layers it was chosen over). Accuracy is not
 * involved: the choice does not touch what the card reports about accuracy.
 */
import * as path from "node:path";
import { parseArgs } from "../cli/args";
import { camLayerCandidates, initBackend, loadFolderDataset, loadModel, measureCamLayers, MIN_CAM_GRID, updateModelCard } from "../kernel/fer/index";

async function main(): Promise<void> {
  const flags = parseArgs("measure-gradcam", process.argv.slice(2), { model: { value: true }, data: { value: true }, count: { value: true } }).flags as Record<string, string | undefined>;
  const modelDir = flags.model;
  const dataDir = flags.data;
  if (!modelDir || !dataDir) throw new Error("Usage: measure-gradcam.ts --model <model folder> --data <folder of faces, e.g. fer2013/val> [--count 600]");
  const count = Number(flags.count ?? 600);
  await initBackend();
  const { model, card } = await loadModel(modelDir);
  const data = await loadFolderDataset(dataDir, { height: card.input.height, width: card.input.width, channels: card.input.channels });
  const candidates = camLayerCandidates(model);
  const fine = candidates.filter((c) => Math.min(...c.grid) >= MIN_CAM_GRID);
  // The layers at the coarsest grid that is still ≥ 6×6 (the most semantic ones), the one before
  // them, and the first coarser layer for reference.
  const coarsestFine = Math.min(...fine.map((c) => c.grid[0]));
  const deep = fine.filter((c) => c.grid[0] === coarsestFine);
  const before = fine.filter((c) => c.grid[0] !== coarsestFine).slice(-1);
  const coarser = candidates.filter((c) => Math.min(...c.grid) < MIN_CAM_GRID).slice(-1);
  const layers = [...before, ...deep, ...coarser].map((c) => c.layer);
  console.log(`measuring ${layers.join(", ")} on ${count} faces of ${dataDir}`);
  const results = await measureCamLayers(model, data, { normalization: { mean: card.input.mean, std: card.input.std }, layers, count, seed: 19 });
  for (const r of results) console.log(JSON.stringify(r));
  const eligible = results.filter((r) => Math.min(...r.grid) >= MIN_CAM_GRID);
  const best = eligible.reduce((b, r) => (r.camDrop > b.camDrop ? r : b));
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  const figures = (r: (typeof results)[number]) => ({ grid: r.grid, camDrop: round(r.camDrop), shiftedDrop: round(r.shiftedDrop), randomDrop: round(r.randomDrop), beatsShifted: round(r.beatsShifted), beatsRandom: round(r.beatsRandom) });
  await updateModelCard(modelDir, (c) => ({
    ...c,
    gradcam: {
      layer: best.layer,
      grid: best.grid,
      faithfulness: {
        measured:
          "for each face, the map of the predicted class; the 20% of pixels it ranks highest are hidden (set to the mean), then the same region moved elsewhere on the face, then 20% random pixels; the figures are mean drops of the predicted class probability and the share of faces where the map drop is larger",
        data: `${path.basename(path.dirname(path.resolve(dataDir)))}/${path.basename(path.resolve(dataDir))}, ${best.faces} random faces (Rng seed 19)`,
        fraction: best.fraction,
        ...figures(best),
        chosenOver: Object.fromEntries(results.filter((r) => r !== best).map((r) => [r.layer, figures(r)])),
      },
    },
  }));
  console.log(`card.gradcam: ${best.layer} ${best.grid.join("×")}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
