/**
 * Face detection speed: photos per second for 1, 2 and 4 megapixel photos (4:3), each with 12
 * sample faces of 40–160 px, with the default settings (minFace 20) and with minFace 40, on the
 * backend fernb picks. `npm run bench:faces` (FERNB_BACKEND forces a backend; FERNB_BENCH_REPEAT
 * sets how many times each photo is timed, default 2). The last line is one JSON object,
 * {"faces_photos_per_s": {"1MP": …, "2MP": …, "4MP": …}, "faces_found": …, "faces_total": …}
 * (default minFace 20), which `npm run bench` adds to its own JSON line.
 */
import { initBackend } from "../kernel/fer/backend";
import { loadFaceDetector } from "../kernel/fer/faces/detector";
import { readPhoto } from "../kernel/fer/faces/photo";
import { match, syntheticPhoto, type Placement } from "../test/unit/facesFixtures";

async function main(): Promise<void> {
  const backend = await initBackend();
  const detector = await loadFaceDetector();
  const repeat = Math.max(1, Number(process.env.FERNB_BENCH_REPEAT ?? 2));
  console.log(`Face detection (BlazeFace tiles, ${detector.id}) on ${backend.description}`);
  console.log("| photo | faces | minFace | tiles | found | s per photo | photos/s |");
  console.log("|---|---|---|---|---|---|---|");
  const perSecond: Record<string, number> = {};
  let foundAll = 0;
  let totalAll = 0;
  for (const megapixels of [1, 2, 4]) {
    const width = Math.round(Math.sqrt((megapixels * 1e6 * 4) / 3));
    const height = Math.round((width * 3) / 4);
    const sizes = [40, 48, 56, 64, 72, 80, 96, 112, 128, 144, 160, 60];
    const placements: Placement[] = sizes.map((size, k) => ({ face: k, size, x: Math.round(((k % 4) + 0.2) * (width / 4)), y: Math.round((Math.floor(k / 4) + 0.2) * (height / 3)) }));
    const synthetic = await syntheticPhoto(width, height, placements, 100 + megapixels);
    const photo = await readPhoto(synthetic.png);
    for (const minFace of [20, 40]) {
      let tiles = 0;
      const original = detector.detectTile.bind(detector);
      detector.detectTile = (tile, minScore) => {
        tiles++;
        return original(tile, minScore);
      };
      const t0 = performance.now();
      let found = 0;
      for (let r = 0; r < repeat; r++) {
        const faces = await detector.detect(photo, { minFace, minScore: 0.6 });
        found = match(faces.map((f) => f.box), synthetic.truth).found.length;
      }
      const seconds = (performance.now() - t0) / 1000 / repeat;
      detector.detectTile = original;
      console.log(`| ${width}×${height} (${megapixels} MP) | 12 | ${minFace} | ${tiles / repeat} | ${found}/12 | ${seconds.toFixed(2)} | ${(1 / seconds).toFixed(2)} |`);
      if (minFace === 20) {
        perSecond[`${megapixels}MP`] = Math.round((1 / seconds) * 1000) / 1000;
        foundAll += found;
        totalAll += 12;
      }
    }
  }
  console.log(JSON.stringify({ faces_photos_per_s: perSecond, faces_found: foundAll, faces_total: totalAll }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
