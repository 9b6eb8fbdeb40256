/**
 * End-to-end harness: runs an unpacked VS Code extension in a real code-server (VS Code in the
 * browser) and drives it with Debian's chromium through playwright-core.
 *
 * code-server is installed by test/e2e/install-code-server.sh into a cache folder outside the repo
 * (see CODE_SERVER_BIN). Every run gets a fresh scratch folder (user data, extensions, XDG folders,
 * TMPDIR) so nothing is written to the home folder and runs do not influence each other.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium, type Browser, type BrowserContext, type FrameLocator, type Locator, type Page } from "playwright-core";

export const CODE_SERVER_VERSION = "4.100.3";
/** Same folder as test/e2e/install-code-server.sh uses. */
export const CACHE_ROOT = process.env.FERNB_CACHE || join(homedir(), ".cache", "fernb");
export const CODE_SERVER_DIR = join(CACHE_ROOT, `code-server-${CODE_SERVER_VERSION}`);
export const CODE_SERVER_BIN = process.env.FERNB_CODE_SERVER_BIN || join(CODE_SERVER_DIR, "node_modules", ".bin", "code-server");
export const CHROMIUM_PATH = process.env.FERNB_CHROMIUM || "/usr/bin/chromium";
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ARTIFACTS_DIR = join(REPO_ROOT, "test", "artifacts");

const t0 = Date.now();
export function log(message: string): void {
  console.log(`[e2e +${((Date.now() - t0) / 1000).toFixed(1)}s] ${message}`);
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Thrown from a waitFor probe to stop waiting at once (e.g. the process under test died). */
export class StopWaiting extends Error {}

/** Polls `probe` until it returns a truthy value or the timeout passes; a StopWaiting error ends it. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs: number, intervalMs = 250): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (e) {
      if (e instanceof StopWaiting) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message ?? lastError})` : "";
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Reads a package.json and returns the folder name VS Code gives an installed extension. */
function extensionFolderName(extensionPath: string): { id: string; folder: string; version: string } {
  const pkg = JSON.parse(readFileSync(join(extensionPath, "package.json"), "utf8")) as { name: string; publisher: string; version: string };
  const id = `${pkg.publisher}.${pkg.name}`.toLowerCase();
  return { id, folder: `${id}-${pkg.version}`, version: pkg.version };
}

/** All files under `dir` whose name matches `pattern`, newest first. */
function findFiles(dir: string, pattern: RegExp): string[] {
  const out: { path: string; mtime: number }[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 6) return;
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.isFile() && pattern.test(e.name)) out.push({ path: p, mtime: statSync(p).mtimeMs });
    }
  };
  walk(dir, 0);
  return out.sort((a, b) => b.mtime - a.mtime).map((f) => f.path);
}

/** Process groups of running code-servers, killed if this process exits or is interrupted. */
const liveGroups = new Set<number>();
/** Scratch folders to remove if this process is interrupted. */
const liveScratch = new Set<string>();
let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const killAll = () => {
    for (const pid of liveGroups) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    liveGroups.clear();
    if (process.env.FERNB_E2E_KEEP !== "1") for (const d of liveScratch) rmSync(d, { recursive: true, force: true });
    liveScratch.clear();
  };
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[sig]);
    });
  }
}

export interface CodeServerOptions {
  /** Unpacked extension folder (with package.json) to install. Default: the repo root. */
  extensionPath?: string;
  /** Extra user settings (merged over the harness defaults). */
  settings?: Record<string, unknown>;
  /** Keep the scratch folder after stop() (also: FERNB_E2E_KEEP=1). */
  keepScratch?: boolean;
  /** How long to wait for /healthz. */
  startTimeoutMs?: number;
}

export class CodeServer {
  private proc?: ChildProcess;
  private exited = false;
  readonly url: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly workspace: string;
  readonly logFile: string;
  readonly extensionId: string;

  private constructor(
    readonly scratch: string,
    readonly port: number,
    private readonly opts: CodeServerOptions,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.userDataDir = join(scratch, "user-data");
    this.extensionsDir = join(scratch, "extensions");
    this.workspace = join(scratch, "workspace");
    this.logFile = join(scratch, "code-server.log");
    this.extensionId = extensionFolderName(opts.extensionPath ?? REPO_ROOT).id;
  }

  /** Creates a scratch folder with an empty workspace; call start() after filling the workspace. */
  static async create(opts: CodeServerOptions = {}): Promise<CodeServer> {
    if (!existsSync(CODE_SERVER_BIN)) {
      throw new Error(`code-server is not installed at ${CODE_SERVER_BIN}; run: bash test/e2e/install-code-server.sh`);
    }
    const scratch = await mkdtemp(join(tmpdir(), "fernb-e2e-"));
    const cs = new CodeServer(scratch, await freePort(), opts);
    for (const d of [cs.userDataDir, cs.extensionsDir, cs.workspace, join(scratch, "xdg-config"), join(scratch, "xdg-data"), join(scratch, "xdg-cache"), join(scratch, "tmp")]) {
      mkdirSync(d, { recursive: true });
    }
    return cs;
  }

  /** Links the unpacked extension into the fresh extensions folder (VS Code follows the symlink). */
  private installExtension(): void {
    const extensionPath = resolve(this.opts.extensionPath ?? REPO_ROOT);
    const { folder } = extensionFolderName(extensionPath);
    const target = join(this.extensionsDir, folder);
    symlinkSync(extensionPath, target, "dir");
    log(`extension ${this.extensionId}: ${target} -> ${extensionPath}`);
  }

  private writeSettings(): void {
    const settings = {
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "workbench.enableExperiments": false,
      "workbench.welcomePage.walkthroughs.openOnInstall": false,
      "workbench.colorTheme": "Default Light Modern",
      "security.workspace.trust.enabled": false,
      "telemetry.telemetryLevel": "off",
      "update.mode": "none",
      "extensions.autoUpdate": false,
      "extensions.autoCheckUpdates": false,
      "extensions.ignoreRecommendations": true,
      "git.enabled": false,
      "git.autoRepositoryDetection": false,
      "files.autoSave": "off",
      "window.restoreWindows": "none",
      "editor.minimap.enabled": false,
      "notebook.confirmDeleteRunningCell": false,
      ...this.opts.settings,
    };
    mkdirSync(join(this.userDataDir, "User"), { recursive: true });
    writeFileSync(join(this.userDataDir, "User", "settings.json"), JSON.stringify(settings, null, 2));
  }

  async start(): Promise<void> {
    this.installExtension();
    this.writeSettings();
    const configFile = join(this.scratch, "config.yaml");
    writeFileSync(configFile, `bind-addr: 127.0.0.1:${this.port}\nauth: none\ncert: false\n`);
    const args = [
      "--bind-addr", `127.0.0.1:${this.port}`,
      "--auth", "none",
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--disable-getting-started-override",
      "--ignore-last-opened",
      "--config", configFile,
      "--user-data-dir", this.userDataDir,
      "--extensions-dir", this.extensionsDir,
      this.workspace,
    ];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      XDG_CONFIG_HOME: join(this.scratch, "xdg-config"),
      XDG_DATA_HOME: join(this.scratch, "xdg-data"),
      XDG_CACHE_HOME: join(this.scratch, "xdg-cache"),
      TMPDIR: join(this.scratch, "tmp"),
    };
    // Settings a parent code-server / VS Code would pass down must not leak in.
    for (const k of Object.keys(env)) if (k.startsWith("VSCODE_") || k === "ELECTRON_RUN_AS_NODE") delete env[k];
    delete env.PASSWORD;
    delete env.HASHED_PASSWORD;
    delete env.PORT;
    log(`starting ${CODE_SERVER_BIN} on ${this.url} (scratch ${this.scratch})`);
    const out = createWriteStream(this.logFile);
    this.proc = spawn(CODE_SERVER_BIN, args, { env, cwd: this.workspace, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.pipe(out);
    this.proc.stderr!.pipe(out);
    if (this.proc.pid) {
      hookExit();
      liveGroups.add(this.proc.pid);
      if (!this.opts.keepScratch) liveScratch.add(this.scratch);
    }
    this.proc.on("exit", () => (this.exited = true));
    await waitFor(
      "code-server /healthz",
      async () => {
        if (this.exited) throw new StopWaiting(`code-server exited early; its log:\n${this.serverLog()}`);
        const r = await fetch(`${this.url}/healthz`).catch(() => undefined);
        return r?.ok;
      },
      this.opts.startTimeoutMs ?? 60_000,
      300,
    ).catch((e) => {
      if (this.exited) throw new Error(`code-server exited early; its log:\n${this.serverLog()}`);
      throw e;
    });
    log("code-server is up");
  }

  serverLog(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** Path of the extension host's log (code-server's remote extension host), once it exists. */
  exthostLogPath(): string | undefined {
    return findFiles(join(this.userDataDir, "logs"), /exthost\.log$/)[0];
  }

  exthostLog(): string {
    const p = this.exthostLogPath();
    return p ? readFileSync(p, "utf8") : "";
  }

  /** Every log VS Code wrote under the user data dir, concatenated with headers (for failure dumps). */
  allLogs(): string {
    return findFiles(join(this.userDataDir, "logs"), /\.log$/)
      .map((p) => `===== ${p} =====\n${readFileSync(p, "utf8")}`)
      .join("\n");
  }

  /** Waits until the extension host log matches `pattern`. */
  async waitForExthostLog(pattern: RegExp, timeoutMs: number): Promise<string> {
    return waitFor(`exthost log to match ${pattern}`, () => {
      const text = this.exthostLog();
      const m = pattern.exec(text);
      return m ? m[0] : undefined;
    }, timeoutMs, 500);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p?.pid && !this.exited) {
      try {
        process.kill(-p.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
      const deadline = Date.now() + 5000;
      while (!this.exited && Date.now() < deadline) await sleep(100);
      try {
        process.kill(-p.pid, "SIGKILL"); // the extension host and kernels live in the same group
      } catch {
        /* already gone */
      }
    }
    if (p?.pid) liveGroups.delete(p.pid);
    liveScratch.delete(this.scratch);
    if (!(this.opts.keepScratch || process.env.FERNB_E2E_KEEP === "1")) {
      await rm(this.scratch, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
    } else {
      log(`kept scratch folder ${this.scratch}`);
    }
  }
}


export interface WorkbenchOptions {
  headless?: boolean;
  viewport?: { width: number; height: number };
}

/** A chromium window showing code-server's workbench, with helpers for notebooks. */
export class Workbench {
  private constructor(
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly page: Page,
    readonly server: CodeServer,
  ) {}

  readonly consoleMessages: string[] = [];

  static async open(server: CodeServer, opts: WorkbenchOptions = {}): Promise<Workbench> {
    log(`launching ${CHROMIUM_PATH}`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: opts.headless ?? process.env.FERNB_E2E_HEADED !== "1",
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
      env: { ...process.env, TMPDIR: join(server.scratch, "tmp"), XDG_CONFIG_HOME: join(server.scratch, "xdg-config"), XDG_CACHE_HOME: join(server.scratch, "xdg-cache") },
    });
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const wb = new Workbench(browser, context, page, server);
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") wb.consoleMessages.push(`[${m.type()}] ${m.text()}`);
    });
    page.on("pageerror", (e) => wb.consoleMessages.push(`[pageerror] ${e.message}`));
    const url = `${server.url}/?folder=${encodeURIComponent(server.workspace)}`;
    log(`opening ${url}`);
    await page.goto(url, { waitUntil: "domcontentloaded", timeout: 60_000 });
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 90_000 });
    log("workbench is visible");
    return wb;
  }

  /** Waits until the (remote) extension host ran its eager activation: extensions' contributions are known. */
  async waitForExtensionHost(timeoutMs = 120_000): Promise<void> {
    await this.server.waitForExthostLog(/Eager extensions activated/, timeoutMs);
    log("extension host: eager extensions activated");
  }

  /** The exthost log's "Activating extension … failed" message with the stack after it, if any. */
  activationFailure(): string | undefined {
    const lines = this.server.exthostLog().split("\n");
    const id = this.server.extensionId.toLowerCase();
    const i = lines.findIndex((l) => /Activating extension/i.test(l) && l.toLowerCase().includes(id) && /failed/i.test(l));
    return i < 0 ? undefined : lines.slice(i, i + 16).join("\n");
  }

  /**
   * Waits until the extension host activated the extension under test (VS Code activates it when a
   * notebook of its type opens) and throws with the log if activation failed.
   */
  async waitForExtensionActivated(timeoutMs = 60_000): Promise<void> {
    const activated = new RegExp(`_doActivateExtension ${escapeRegExp(this.server.extensionId)}[,\\s]`, "i");
    await waitFor(`activation of ${this.server.extensionId} in the exthost log`, () => {
      const failure = this.activationFailure();
      if (failure) throw new StopWaiting(`the extension failed to activate:\n${failure}`);
      return activated.test(this.server.exthostLog());
    }, timeoutMs, 250).catch((e) => {
      if (e instanceof StopWaiting) throw e;
      throw new Error(`${(e as Error).message}\n--- exthost log ---\n${this.server.exthostLog()}`);
    });
    // Activation errors are logged right after the activation line; give them a moment to show.
    await sleep(500);
    const failure = this.activationFailure();
    if (failure) throw new Error(`the extension failed to activate:\n${failure}`);
    log(`extension ${this.server.extensionId} activated`);
  }

  /**
   * Makes sure keyboard shortcuts reach VS Code. Focus is left where it is when something inside the
   * workbench has it: context keys like `notebookIsActiveEditor` (which decides whether the palette
   * lists "Notebook: Run All") are scoped to the focused editor, so focusing the workbench root
   * would hide notebook commands.
   */
  private async focusWorkbench(): Promise<void> {
    const hasFocus = await this.page.evaluate(() => {
      const a = document.activeElement;
      return !!a && a !== document.body && !!a.closest(".monaco-workbench");
    });
    if (!hasFocus) await this.page.locator(".monaco-workbench").focus().catch(() => undefined);
  }

  /** The quick input box (Quick Open, command palette, pickers). */
  get quickInput(): Locator {
    return this.page.locator(".quick-input-widget");
  }

  private async openQuickInput(keys: string, prefix: string): Promise<Locator> {
    await this.focusWorkbench();
    const input = this.quickInput.locator("input.input");
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await input.isVisible()) {
        await this.page.keyboard.press("Escape"); // close a quick input left open
        await input.waitFor({ state: "hidden", timeout: 5_000 }).catch(() => undefined);
      }
      await this.page.keyboard.press(keys);
      if (await input.isVisible({ timeout: 5_000 }).catch(() => false)) break;
      // Some keys are swallowed while the workbench is still restoring; try the other binding.
      await this.page.keyboard.press(prefix === ">" ? "F1" : "Control+E");
      if (await input.isVisible({ timeout: 5_000 }).catch(() => false)) break;
    }
    await input.waitFor({ state: "visible", timeout: 10_000 });
    return input;
  }

  /** Opens a workspace file through Quick Open (Ctrl+P). `name` is a path relative to the workspace. */
  async openFile(name: string): Promise<void> {
    log(`quick open: ${name}`);
    const input = await this.openQuickInput("Control+P", "");
    await input.fill(name);
    const base = name.split("/").pop()!;
    const row = this.quickInput.locator(".monaco-list-row", { hasText: base }).first();
    await row.waitFor({ state: "visible", timeout: 60_000 }); // the file search needs the ripgrep index
    await this.page.keyboard.press("Enter");
    await this.page.locator(".tab.active", { hasText: base }).waitFor({ state: "visible", timeout: 30_000 });
  }

  /**
   * Runs a command from the palette (Ctrl+Shift+P, F1 as fallback) by its exact label as the palette
   * shows it, e.g. "Notebook: Run All". Retries while the command is not listed yet (commands
   * appear once their `when` context is true, e.g. after the notebook editor got focus).
   */
  async runCommand(label: string, timeoutMs = 30_000): Promise<void> {
    log(`command: ${label}`);
    const deadline = Date.now() + timeoutMs;
    let seen: string[] = [];
    for (;;) {
      const input = await this.openQuickInput("Control+Shift+P", ">");
      await input.fill(`>${label}`);
      const exact = this.quickInput.locator(".monaco-list-row", {
        has: this.page.locator(".label-name", { hasText: new RegExp(`^\\s*${escapeRegExp(label)}\\s*$`) }),
      });
      if (await exact.first().isVisible({ timeout: 5_000 }).catch(() => false)) {
        await exact.first().click();
        await input.waitFor({ state: "hidden", timeout: 10_000 }).catch(() => undefined);
        return;
      }
      seen = await this.quickPickLabels();
      await this.page.keyboard.press("Escape");
      if (Date.now() > deadline) break;
      await sleep(1000);
    }
    throw new Error(`command "${label}" is not in the command palette; it listed: ${JSON.stringify(seen)}`);
  }

  /** Clicks an action of the notebook toolbar ("Run All", "Clear All Outputs", …) by its text. */
  async clickNotebookToolbar(label: string): Promise<void> {
    log(`notebook toolbar: ${label}`);
    const item = this.page
      .locator(".notebook-toolbar-container .action-item")
      .filter({ hasText: new RegExp(`^\\s*${escapeRegExp(label)}\\s*$`) })
      .first();
    await item.waitFor({ state: "visible", timeout: 20_000 });
    await item.click();
  }

  /**
   * Clicks the notebook toolbar's Interrupt button (VS Code shows it, in place of Run All, while a
   * cell runs on a kernel that supports interrupts). Falls back to the running cell's own stop button.
   */
  async clickInterrupt(): Promise<void> {
    const toolbar = this.page
      .locator(".notebook-toolbar-container .action-item")
      .filter({ hasText: /^\s*Interrupt\s*$/ })
      .first();
    try {
      await toolbar.waitFor({ state: "visible", timeout: 20_000 });
      log("notebook toolbar: Interrupt");
      await toolbar.click();
    } catch {
      const stop = this.notebook.locator('.monaco-list-row a.action-label[aria-label^="Stop Cell Execution"], .monaco-list-row a.action-label[aria-label^="Interrupt"]').first();
      await stop.waitFor({ state: "visible", timeout: 20_000 });
      log(`cell toolbar: ${await stop.getAttribute("aria-label")}`);
      await stop.click();
    }
  }

  /** "Notebook: Run All" from the command palette, or the toolbar's Run All if the palette lacks it. */
  async runAll(): Promise<void> {
    try {
      await this.runCommand("Notebook: Run All", 20_000);
    } catch (e) {
      log(`${(e as Error).message}; using the toolbar instead`);
      await this.clickNotebookToolbar("Run All");
    }
  }

  /** Picks an item in an open quick pick by its label. */
  async pickQuickItem(label: string | RegExp, timeoutMs = 30_000): Promise<void> {
    const row = this.quickInput.locator(".monaco-list-row", { hasText: label }).first();
    await row.waitFor({ state: "visible", timeout: timeoutMs });
    await row.click();
  }

  /** Labels of the rows of the open quick pick. */
  async quickPickLabels(): Promise<string[]> {
    return (await this.quickInput.locator(".monaco-list-row .label-name").allInnerTexts()).map((s) => s.trim());
  }

  /** The notebook editor that is visible. */
  get notebook(): Locator {
    return this.page.locator(".notebookOverlay").first();
  }

  /** Waits until the active editor is a notebook editor (not a JSON text editor). */
  async waitForNotebookEditor(timeoutMs = 60_000): Promise<void> {
    const list = this.page.locator(".notebookOverlay .monaco-list").first();
    const textEditor = this.page.locator(".editor-group-container.active .editor-instance .monaco-editor .view-lines").first();
    let textSince = 0;
    await waitFor("a notebook editor", async () => {
      if (await list.isVisible()) return true;
      const failure = this.activationFailure();
      if (failure) throw new StopWaiting(`no notebook editor: the extension failed to activate:\n${failure}`);
      if (await textEditor.isVisible()) {
        textSince ||= Date.now();
        if (Date.now() - textSince > 5_000) {
          const text = await textEditor.innerText().catch(() => "");
          throw new StopWaiting(
            `the file was opened as a text editor, not as a notebook (was the extension's notebook type known when it opened?):\n${text.slice(0, 500)}`,
          );
        }
      }
      return false;
    }, timeoutMs, 250);
    log("notebook editor is visible");
  }

  /**
   * Runs the cell at `index` (0-based, counting markdown cells): clicks into its editor and presses
   * the execute-cell key, which is Meta+Enter in VS Code's browser build on Linux (Ctrl+Enter
   * does something else there).
   */
  async runCell(index: number): Promise<void> {
    log(`run cell ${index}`);
    const cell = this.notebook.locator(`.monaco-list-row[data-index="${index}"]`);
    await cell.waitFor({ state: "visible", timeout: 20_000 });
    await cell.locator(".monaco-editor .view-lines").first().click();
    await this.page.keyboard.press("Meta+Enter");
  }

  /** Text of the kernel picker in the notebook toolbar ("FER Kernel", "Select Kernel", ...). */
  async kernelLabel(): Promise<string> {
    return (await this.notebook.locator(".kernel-label").first().innerText({ timeout: 10_000 })).trim();
  }

  /** The frame of the notebook's output webview (built-in renderers: text, errors, HTML). */
  get outputFrame(): FrameLocator {
    return this.page.frameLocator(".notebookOverlay iframe.webview").first().frameLocator("#active-frame");
  }

  /** Renderer frame: custom renderers (like the chart) draw into this same nested frame. */
  rendererFrame(): FrameLocator {
    return this.outputFrame;
  }

  /** Waits until some cell output contains `text` (a string or RegExp); see waitForInOutputs. */
  async waitForOutputText(text: string | RegExp, timeoutMs = 60_000, quietMs = 15_000): Promise<Locator> {
    return this.waitForInOutputs(this.outputFrame.getByText(text).first(), timeoutMs, quietMs);
  }

  /**
   * Waits until `loc` (a locator inside outputFrame/rendererFrame) is attached. VS Code only renders
   * the outputs of cells near the viewport (once rendered they stay in the webview), so when it does
   * not show up within `quietMs` the notebook is swept: scrolled down step by step, then back up.
   */
  async waitForInOutputs(loc: Locator, timeoutMs = 60_000, quietMs = 15_000): Promise<Locator> {
    const start = Date.now();
    let direction = 1;
    for (;;) {
      if (await loc.count().catch(() => 0)) return loc;
      if (Date.now() - start > timeoutMs) {
        await loc.waitFor({ state: "attached", timeout: 1 }); // throws playwright's TimeoutError
        return loc;
      }
      if (Date.now() - start > quietMs) {
        if (!(await this.scrollNotebook(direction * 800))) direction = -direction;
      } else {
        await sleep(250);
      }
    }
  }

  /** Scrolls the notebook's cell list by `dy` pixels; returns false when it could not move. */
  async scrollNotebook(dy: number): Promise<boolean> {
    const list = this.notebook.locator(".monaco-list").first();
    const box = await list.boundingBox().catch(() => null);
    if (!box) return false;
    // Rows are virtualized: their indexes and positions tell whether the list moved.
    const position = () =>
      list
        .locator(".monaco-list-row")
        .evaluateAll((rows) => rows.map((r) => `${r.getAttribute("data-index")}@${Math.round(r.getBoundingClientRect().top)}`).join(","))
        .catch(() => "");
    const before = await position();
    // Over the left gutter: not over a cell's text editor nor the output webview, which would take
    // the wheel event themselves.
    await this.page.mouse.move(box.x + 8, box.y + Math.min(box.height / 2, 300));
    // VS Code's scrollable moves about 50px per wheel event whatever its delta: send several.
    for (let i = 0; i < Math.max(1, Math.round(Math.abs(dy) / 50)); i++) {
      await this.page.mouse.wheel(0, Math.sign(dy) * 100);
      await sleep(20);
    }
    await sleep(500);
    return (await position()) !== before;
  }

  /** All text of the output webview (for failure messages). */
  async outputText(): Promise<string> {
    return this.outputFrame.locator("body").innerText({ timeout: 5_000 }).catch((e) => `<no output webview: ${(e as Error).message}>`);
  }

  /** Cells' execution states as shown in the cell status bars (for failure messages). */
  async cellStatuses(): Promise<string[]> {
    return this.notebook.locator(".cell-statusbar-container").allInnerTexts().catch(() => []);
  }

  /** Notifications currently shown (toasts), for failure messages. */
  async notifications(): Promise<string[]> {
    return this.page.locator(".notifications-toasts .notification-list-item").allInnerTexts().catch(() => []);
  }

  async screenshot(name: string): Promise<string> {
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const path = join(ARTIFACTS_DIR, `${name}.png`);
    await this.page.screenshot({ path, fullPage: false, timeout: 20_000 });
    log(`screenshot: ${path}`);
    return path;
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
    await this.browser.close().catch(() => undefined);
  }
}

/** Writes text into test/artifacts/ (logs dumped on failure). */
export function writeArtifact(name: string, text: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name);
  writeFileSync(path, text);
  return path;
}
