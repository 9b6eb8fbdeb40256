/**
 * The `fernb` command line:
 *   fernb run <notebook.fernb> [--out <executed.fernb>]
 * (evaluate, predict and audit join as their issues land).
 */
import { existsSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import * as path from "node:path";
import { parseNotebook, serializeNotebook } from "../extension/notebookFormat";
import { executedPath, runNotebook } from "./runNotebook";
import { renderHtmlReport } from "./htmlReport";
import { evaluateCommand } from "./evaluate";
import { predictCommand } from "./predict";
import { auditCommand } from "./audit";
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

  fernb predict --model <model dir> <image or folder>... [--json]
      Prints, per image, the seven emotion probabilities and the top class. Images of any size and
      format are decoded and resized as in training.

  fernb audit --data <folder> [--model <model dir>] [--folds k] [--epochs n] [--limit n] [--json]
      Ranks the images whose labels are most likely wrong (confident learning), most suspicious
      first. With --model its probabilities count as out-of-sample (it must not have trained on
      these images); otherwise k ResNet-18s are trained by cross-validation (slow on big folders).
      With --json the last line is {"suspects":[{"path","label","suggested","score"}, ...], ...}.`;

class UsageError extends Error {}

/** Flags that take no value. */
const BOOLEAN_FLAGS = new Set(["json", "help"]);

function parseArgs(argv: string[]): { positional: string[]; flags: Record<string, string | true> } {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const [key, inline] = a.slice(2).split("=", 2);
      if (inline !== undefined) flags[key] = inline;
      else if (!BOOLEAN_FLAGS.has(key) && i + 1 < argv.length && !argv[i + 1].startsWith("--")) flags[key] = argv[++i];
      else flags[key] = true;
    } else positional.push(a);
  }
  return { positional, flags };
}

function writeAtomicSync(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

async function run(args: string[]): Promise<number> {
  const { positional, flags } = parseArgs(args);
  const file = positional[0];
  if (!file) throw new UsageError("fernb run needs a notebook file.");
  if (!existsSync(file)) throw new UsageError(`No such notebook: ${file}`);
  const notebook = parseNotebook(readFileSync(file), path.basename(file));
  const out = typeof flags.out === "string" ? flags.out : executedPath(file);
  const kernelPath = path.join(__dirname, "kernel.js");
  const result = await runNotebook(notebook, { kernelPath, cwd: path.dirname(path.resolve(file)) });
  writeAtomicSync(out, serializeNotebook(result.notebook));
  if (typeof flags.html === "string") {
    const html = renderHtmlReport(result.notebook, {
      title: path.basename(file),
      extensionRoot: path.join(__dirname, ".."),
      subtitle: `Run by fernb run on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC · TensorFlow.js backend ${result.backend ?? "?"} · ${result.seconds.toFixed(0)} s${result.ok ? "" : ` · stopped at cell ${result.failedCell}`}`,
    });
    writeAtomicSync(flags.html, new TextEncoder().encode(html));
    console.log(`HTML report: ${flags.html}`);
  }
  console.log(result.ok ? `All cells ran in ${result.seconds.toFixed(1)} s. Executed notebook: ${out}` : `Stopped at cell ${result.failedCell}. Outputs so far: ${out}`);
  return result.ok ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  // Progress lines go to stderr, so stdout holds only results (and --json output).
  setLineWriter((line) => process.stderr.write(line + "\n"));
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return run(rest);
    case "evaluate":
      return evaluateCommand(parseArgs(rest).flags, (m) => new UsageError(m));
    case "audit":
      return auditCommand(parseArgs(rest).flags, (m) => new UsageError(m));
    case "predict": {
      const { positional, flags } = parseArgs(rest);
      return predictCommand(positional, flags, (m) => new UsageError(m));
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(e instanceof UsageError ? `${e.message}\n\n${USAGE}` : `fernb: ${e.message}`);
    process.exit(2);
  },
);
