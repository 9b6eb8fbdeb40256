/**
 * Command-line arguments of every `fernb` command, parsed and checked before any work starts: a
 * bad value must never be found after a notebook has run or a model has trained. Unknown options,
 * missing values, options given twice, stray arguments, numbers that are not whole numbers in
 * range, unknown names, folders that do not exist and output files that cannot be written are all
 * UsageErrors, which main.ts prints with the command's usage and exit code 2.
 */
import { accessSync, constants, statSync } from "node:fs";
import * as path from "node:path";
import type { BackendChoice } from "../kernel/fer/backend";

export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface FlagSpec {
  /** Whether the option takes a value (`--out file`, `--out=file`); otherwise it is a switch (`--json`). */
  value: boolean;
  /** What the value is, for the "needs a value" message, e.g. "<model folder>". */
  meta?: string;
}

export interface ParsedArgs {
  positional: string[];
  /** Options given, by name (a null-prototype record: option names are user text). */
  flags: Record<string, string | true>;
}

/**
 * Splits `argv` into positional arguments and options, against the options `command` knows.
 * `--` ends the options (what follows is positional, e.g. a file named `--x.png`).
 */
export function parseArgs(command: string, argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>): ParsedArgs {
  const positional: string[] = [];
  const flags: Record<string, string | true> = Object.create(null);
  const known = (name: string): FlagSpec | undefined => (Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined);
  let onlyPositional = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (onlyPositional) {
      positional.push(a);
      continue;
    }
    if (a === "--") {
      onlyPositional = true;
      continue;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const f = known(name);
      if (!f) throw new UsageError(`Unknown option ${printable(eq < 0 ? a : a.slice(0, eq))} for fernb ${command}.`, command);
      if (Object.prototype.hasOwnProperty.call(flags, name)) throw new UsageError(`--${name} is given more than once.`, command);
      if (!f.value) {
        if (eq >= 0) throw new UsageError(`--${name} takes no value (got ${printable(a)}).`, command);
        flags[name] = true;
        continue;
      }
      let value: string | undefined;
      if (eq >= 0) value = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
      if (value === undefined || value === "") throw new UsageError(`--${name} needs a value${f.meta ? `: --${name} ${f.meta}` : ""}.`, command);
      flags[name] = value;
      continue;
    }
    if (a.length > 1 && a.startsWith("-") && !/^-\d/.test(a)) {
      throw new UsageError(`Unknown option ${printable(a)} for fernb ${command} (options start with --; put -- before a file name that starts with -).`, command);
    }
    positional.push(a);
  }
  return { positional, flags };
}

/** User text quoted for a message, cut short and with control characters made visible. */
export function printable(text: string): string {
  const cut = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return JSON.stringify(cut);
}

/** A whole number in [min, max] written in plain digits (no "1e3", "0x10", "2.0", "+3", spaces). */
export function wholeNumber(flags: ParsedArgs["flags"], name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, command?: string): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
  if (typeof v !== "string" || !/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number ${range}, not ${printable(String(v))}.`, command);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number ${range}, not ${printable(v)}.`, command);
  return n;
}

/** One of `choices` (case-sensitive). */
export function oneOf<T extends string>(flags: ParsedArgs["flags"], name: string, choices: readonly T[], command?: string): T | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, not ${printable(String(v))}.`, command);
  }
  return v as T;
}

function statOrUndefined(file: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ENOTDIR") return undefined;
    throw new UsageError(`${printable(file)} cannot be read: ${code === "ELOOP" ? "a symbolic link that loops" : code === "EACCES" ? "permission denied" : (e as Error).message}.`);
  }
}

/** An existing folder (for --model, --data). */
export function existingFolder(value: string, what: string, command?: string): string {
  const st = statOrUndefined(value);
  if (!st) throw new UsageError(`No such ${what}: ${value}`, command);
  if (!st.isDirectory()) throw new UsageError(`${value} is not a folder (${what} must be a folder).`, command);
  return value;
}

/** An existing file (for the notebook of `fernb run`). */
export function existingFile(value: string, what: string, command?: string): string {
  const st = statOrUndefined(value);
  if (!st) throw new UsageError(`No such ${what}: ${value}`, command);
  if (st.isDirectory()) throw new UsageError(`${value} is a folder, not a ${what}.`, command);
  if (!st.isFile()) throw new UsageError(`${value} is not a regular file (a device, pipe or socket), so it cannot be a ${what}.`, command);
  return value;
}

/**
 * A file fernb may write (for --out, --html): not a folder, not a device or pipe, in a folder that
 * exists and that this user may write into. Checked before any work, so a run never ends with
 * outputs that cannot be saved.
 */
export function outputFile(value: string, flag: string, command?: string): string {
  const st = statOrUndefined(value);
  if (value.endsWith("/") || value.endsWith(path.sep) || st?.isDirectory()) {
    throw new UsageError(`--${flag} ${value} names a folder; give a file name, e.g. --${flag} ${path.join(value, flag === "html" ? "report.html" : "executed.fernb")}.`, command);
  }
  if (st && !st.isFile()) throw new UsageError(`--${flag} ${value} is not a regular file (a device, pipe or socket); give a file name.`, command);
  const parent = path.dirname(path.resolve(value));
  const pst = statOrUndefined(parent);
  if (!pst) throw new UsageError(`--${flag} ${value}: the folder ${parent} does not exist (fernb does not create it).`, command);
  if (!pst.isDirectory()) throw new UsageError(`--${flag} ${value}: ${parent} is not a folder.`, command);
  try {
    accessSync(parent, constants.W_OK | constants.X_OK);
  } catch {
    throw new UsageError(`--${flag} ${value}: the folder ${parent} is not writable.`, command);
  }
  return value;
}

/** The TensorFlow.js backends --backend accepts (kernel/fer/backend.ts BackendChoice). */
export const BACKEND_CHOICES = ["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"] as const satisfies readonly BackendChoice[];
