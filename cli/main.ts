/**
 * The `fernb` command line:
 *   fernb run <notebook.fernb> [--out <executed.fernb>]
 * (evaluate, predict and audit join as their issues land).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { NotebookFormatError, parseNotebook, serializeNotebook } from "../extension/notebookFormat";
import { executedPath, runNotebook } from "./runNotebook";
import { renderHtmlReport } from "./htmlReport";
import { evaluateCommand, EVALUATE_FLAGS } from "./evaluate";
import { predictCommand, PREDICT_FLAGS } from "./predict";
import { auditCommand, AUDIT_FLAGS } from "./audit";
import { facesCommand, FACES_FLAGS, FACES_USAGE } from "./faces";
import { writeOutputFileSync } from "./output";
import { UsageError, existingFile, outputFile, parseArgs, type FlagSpec } from "./args";
import { setLineWriter } from "../kernel/fer/progress";

const USAGE = `Usage:
  fernb run <notebook.fernb> [--out <executed.fernb>] [--html <report.html>]
      Runs every code cell with the FER kernel, prints progress, writes the executed notebook
      (default: <notebook>.executed.fernb beside it; the source is never modified unless --out
      names it) and exits non-zero on the first failing cell. --html also writes a standalone
      report with charts, confusion matrices and Grad-CAM drawn as in VS Code.

  fernb evaluate --model <model dir> --data <folder> [--json] [--tta flip,tencrop] [--backend wasm|cpu|...]
      Evaluates a saved model on a folder with one sub-folder per emotion: accuracy, macro- and
      weighted-F1, per-class precision/recall/F1, confusion matrix, calibration. With --json the
      last line printed is one JSON object (accuracy, macroF1, perClass, confusion, n, ...).

  fernb predict --model <model dir> [--json] [--backend wasm|cpu|...] [--detect auto|always|never] [--min-face 20] [--min-score 0.75] [--annotate <folder>] [--] <image or folder>...
      Prints, per face, the seven emotion probabilities and the top class. Faces are found in
      photos first (--detect auto: unless the image is already a face crop), aligned and cropped;
      face crops are decoded and resized as in training. --annotate writes each photo with the
      boxes and labels drawn (<name>.annotated.jpg).

  fernb audit --data <folder> [--model <model dir>] [--folds k] [--epochs n] [--limit n] [--json] [--backend wasm|cpu|...]
              [--rank loss|normalized_margin|confidence_weighted_entropy|knn|loss+knn|rank_average|plain-loss]
              [--tta none|flip|tencrop] [--no-duplicates]
      Ranks the images whose labels are most likely wrong (confident learning), most suspicious
      first. With --model its probabilities count as out-of-sample (it must not have trained on
      these images); otherwise k ResNet-18s are trained by cross-validation (slow on big folders).
      Default ranking (chosen by npm run bench:curation): the loss under ten-crop TTA, near
      duplicates with different labels first; --rank plain-loss is the single-crop loss ranking.
      With --json the last line is {"ranking":{...},"suspects":[{"path","label","suggested","score",
      "wrongShare"}, ...], ...}.

${FACES_USAGE}

  Every argument is checked before any work starts (a bad value is reported with this usage and
  exit code 2); output is complete whether it goes to a terminal, a file or a pipe.`;

const RUN_FLAGS: Record<string, FlagSpec> = { out: { value: true, meta: "<executed.fernb>" }, html: { value: true, meta: "<report.html>" }, help: { value: false } };

/** The usage text of one command (its paragraph of USAGE), or all of it. */
function usageOf(command: string | undefined): string {
  const paragraphs = USAGE.replace(/^Usage:\n/, "").split(/\n\n(?=  fernb )/);
  const mine = command ? paragraphs.find((p) => p.startsWith(`  fernb ${command} `)) : undefined;
  return `Usage:\n${mine ?? paragraphs.join("\n\n")}`;
}

async function run(args: string[]): Promise<number> {
  const { positional, flags } = parseArgs("run", args, RUN_FLAGS);
  if (flags.help) return help("run");
  // Every argument is checked before the notebook runs: a run must never end with outputs that cannot be saved.
  if (positional.length === 0) throw new UsageError("fernb run needs a notebook file.", "run");
  if (positional.length > 1) throw new UsageError(`fernb run takes one notebook; unexpected ${positional.slice(1).map((p) => JSON.stringify(p)).join(", ")}.`, "run");
  const file = existingFile(positional[0], "notebook", "run");
  let out: string;
  try {
    out = outputFile(typeof flags.out === "string" ? flags.out : executedPath(file), "out", "run");
  } catch (e) {
    if (typeof flags.out === "string" || !(e instanceof UsageError)) throw e;
    throw new UsageError(`The executed notebook cannot be written beside the notebook (${e.message.replace(/^--out /, "")}); choose where with --out <file>.`, "run");
  }
  const html = typeof flags.html === "string" ? outputFile(flags.html, "html", "run") : undefined;
  if (html !== undefined && path.resolve(html) === path.resolve(out)) throw new UsageError(`--html and --out name the same file (${html}).`, "run");
  if (html !== undefined && path.resolve(html) === path.resolve(file)) throw new UsageError(`--html ${html} names the notebook itself: the report would overwrite it.`, "run");
  const notebook = parseNotebook(readFileSync(file), path.basename(file));
  // Whatever opens must save: found out now, not after every cell has run.
  serializeNotebook(notebook);
  const kernelPath = path.join(__dirname, "kernel.js");
  const result = await runNotebook(notebook, { kernelPath, cwd: path.dirname(path.resolve(file)) });
  writeOutputFileSync(out, serializeNotebook(result.notebook));
  if (html !== undefined) {
    const report = renderHtmlReport(result.notebook, {
      title: path.basename(file),
      extensionRoot: path.join(__dirname, ".."),
      subtitle: `Run by fernb run on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC · TensorFlow.js backend ${result.backend ?? "?"} · ${result.seconds.toFixed(0)} s${result.ok ? "" : ` · stopped at cell [${result.failedCell}]`}`,
    });
    writeOutputFileSync(html, new TextEncoder().encode(report));
    console.log(`HTML report: ${html}`);
  }
  console.log(result.ok ? `All cells ran in ${result.seconds.toFixed(1)} s. Executed notebook: ${out}` : `Stopped at cell [${result.failedCell}] (its execution order, shown beside it in VS Code). Outputs so far: ${out}`);
  return result.ok ? 0 : 1;
}

function help(command?: string): number {
  console.log(usageOf(command));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  // Progress lines go to stderr, so stdout holds only results (and --json output).
  setLineWriter((line) => process.stderr.write(line + "\n"));
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return run(rest);
    case "evaluate": {
      const { positional, flags } = parseArgs("evaluate", rest, EVALUATE_FLAGS);
      if (flags.help) return help("evaluate");
      if (positional.length > 0) throw new UsageError(`fernb evaluate takes no file arguments (unexpected ${JSON.stringify(positional[0])}); use --model and --data.`, "evaluate");
      return evaluateCommand(flags);
    }
    case "audit": {
      const { positional, flags } = parseArgs("audit", rest, AUDIT_FLAGS);
      if (flags.help) return help("audit");
      if (positional.length > 0) throw new UsageError(`fernb audit takes no file arguments (unexpected ${JSON.stringify(positional[0])}); use --data.`, "audit");
      return auditCommand(flags);
    }
    case "faces": {
      const { positional, flags } = parseArgs("faces", rest, FACES_FLAGS);
      if (flags.help) return help("faces");
      return facesCommand(positional, flags);
    }
    case "predict": {
      const { positional, flags } = parseArgs("predict", rest, PREDICT_FLAGS);
      if (flags.help) return help("predict");
      return predictCommand(positional, flags);
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      if (command === "help" && rest.length > 0) return help(["run", "evaluate", "predict", "audit", "faces"].includes(rest[0]) ? rest[0] : undefined);
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`Unknown command ${JSON.stringify(command)}: use run, evaluate, predict, audit or faces.`);
  }
}

/**
 * Waits until everything written to `stream` has been handed to the OS. process.exit() right after
 * a large write to a pipe would cut it (at the pipe's 64 KiB): a JSON line must arrive whole.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableLength === 0) return resolve();
    stream.write("", () => resolve());
  });
}

// A reader that goes away (`fernb … | head`) is not an error of ours: stop quietly. Output that
// cannot be written at all (a closed descriptor, a full disk) ends the command with exit code 1.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    process.exit(typeof process.exitCode === "number" && process.exitCode !== 0 ? process.exitCode : 1);
  });
}

async function finish(code: number): Promise<void> {
  process.exitCode = code;
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  // Exit explicitly: a backend's worker threads or timers must not keep a finished command alive.
  process.exit(code);
}

main(process.argv.slice(2)).then(
  (code) => finish(code),
  (e: Error) => {
    if (e instanceof UsageError) console.error(`${e.message}\n\n${usageOf(e.command)}`);
    else if (e instanceof NotebookFormatError) console.error(e.message);
    else console.error(`fernb: ${e?.message ?? String(e)}`);
    return finish(2);
  },
);
