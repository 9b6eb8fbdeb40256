/**
 * The "FER Kernel" NotebookController: runs TypeScript cells of `.fernb` notebooks in one kernel
 * process per notebook, streams outputs into the cells as they arrive, and handles interrupt,
 * restart (asking first when the kernel holds variables) and kernel crashes; shows the active
 * notebook's kernel state, backend and memory in the status bar (a click offers restart, interrupt
 * and the log) and stops a notebook's kernel when the notebook is closed.
 */
import * as path from "node:path";
import * as os from "node:os";
import * as vscode from "vscode";
import { KernelClient, type ExecutionObserver, type ExecutionOutcome } from "./kernelClient";
import type { OutputItem } from "../protocol";
import { NOTEBOOK_TYPE } from "./serializer";
import { describeKernelStatus } from "./kernelStatus";

const encoder = new TextEncoder();

interface NotebookKernel {
  client: KernelClient;
  executionOrder: number;
  /** Cells run one after another, across Run All and single-cell runs. */
  queue: Promise<void>;
  /** Bumped by interrupt and restart: queued cells of an older generation do not start. */
  generation: number;
}

export function toCellOutputItem(item: OutputItem): vscode.NotebookCellOutputItem {
  const data = typeof item.data === "string" ? encoder.encode(item.data) : item.data;
  return new vscode.NotebookCellOutputItem(data, item.mime);
}

/** Appends a cell's outputs in the order they arrive; `flush` waits until all are applied. */
class CellOutputWriter implements ExecutionObserver {
  private ops: Promise<unknown> = Promise.resolve();
  private stream: { name: string; output: vscode.NotebookCellOutput } | undefined;
  private readonly displays = new Map<string, vscode.NotebookCellOutput>();

  constructor(private readonly execution: vscode.NotebookCellExecution) {}

  private enqueue(op: () => Thenable<void>): void {
    this.ops = this.ops.then(op, op);
  }

  onStream(name: "stdout" | "stderr", text: string): void {
    const item = name === "stdout" ? vscode.NotebookCellOutputItem.stdout(text) : vscode.NotebookCellOutputItem.stderr(text);
    if (this.stream?.name === name) {
      const output = this.stream.output;
      this.enqueue(() => this.execution.appendOutputItems(item, output));
    } else {
      const output = new vscode.NotebookCellOutput([item]);
      this.stream = { name, output };
      this.enqueue(() => this.execution.appendOutput(output));
    }
  }

  onDisplay(displayId: string, update: boolean, items: OutputItem[]): void {
    const cellItems = items.map(toCellOutputItem);
    const existing = this.displays.get(displayId);
    if (update && existing) {
      this.enqueue(() => this.execution.replaceOutputItems(cellItems, existing));
      return;
    }
    const output = new vscode.NotebookCellOutput(cellItems);
    this.displays.set(displayId, output);
    this.stream = undefined;
    this.enqueue(() => this.execution.appendOutput(output));
  }

  error(error: { name: string; message: string; stack: string }): void {
    const output = new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.error({ name: error.name, message: error.message, stack: error.stack || undefined })]);
    this.stream = undefined;
    this.enqueue(() => this.execution.appendOutput(output));
  }

  flush(): Promise<unknown> {
    return this.ops;
  }
}

export class FerKernelController implements vscode.Disposable {
  static readonly id = "fernb-kernel";
  private readonly controller: vscode.NotebookController;
  private readonly kernels = new Map<string, NotebookKernel>();
  private readonly disposables: vscode.Disposable[] = [];
  /** Shows the active notebook's kernel state; its tooltip the backend and the kernel's memory. */
  private readonly status = vscode.window.createStatusBarItem("fernb.backend", vscode.StatusBarAlignment.Right, 100);
  /** Refreshes the memory figure of the status bar's tooltip while a kernel runs. */
  private readonly statusTimer: NodeJS.Timeout;
  private statusVersion = 0;

  constructor(
    private readonly kernelPath: string,
    private readonly log: vscode.OutputChannel,
  ) {
    this.controller = vscode.notebooks.createNotebookController(FerKernelController.id, NOTEBOOK_TYPE, "FER Kernel");
    this.controller.supportedLanguages = ["fernb-ts", "typescript"]; // fernb-ts: extension/language/languageId.ts
    this.controller.supportsExecutionOrder = true;
    this.controller.description = "TypeScript cells · TensorFlow.js";
    this.controller.executeHandler = (cells, notebook) => this.execute(cells, notebook);
    this.controller.interruptHandler = (notebook) => this.interrupt(notebook);
    this.disposables.push(
      this.controller,
      vscode.workspace.onDidCloseNotebookDocument((nb) => void this.shutdown(nb)),
      // VS Code may keep a closed notebook's document open for a while: its last tab closing ends the kernel too.
      vscode.window.tabGroups.onDidChangeTabs(() => this.shutdownUntabbed()),
      vscode.workspace.onDidOpenNotebookDocument((nb) => this.preferThisController(nb)),
      vscode.window.onDidChangeActiveNotebookEditor(() => this.updateStatus()),
      vscode.commands.registerCommand("fernb.kernelActions", () => this.kernelActions()),
      this.status,
    );
    this.status.name = "FER Kernel";
    this.status.command = "fernb.kernelActions";
    this.statusTimer = setInterval(() => {
      const kernel = this.activeKernel();
      if (kernel?.client.running) this.updateStatus();
    }, 5000);
    vscode.workspace.notebookDocuments.forEach((nb) => this.preferThisController(nb));
  }

  private preferThisController(notebook: vscode.NotebookDocument): void {
    if (notebook.notebookType === NOTEBOOK_TYPE) this.controller.updateNotebookAffinity(notebook, vscode.NotebookControllerAffinity.Preferred);
  }

  private activeKernel(): NotebookKernel | undefined {
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    return notebook && this.kernels.get(notebook.uri.toString());
  }

  private updateStatus(): void {
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    if (!notebook || notebook.notebookType !== NOTEBOOK_TYPE) {
      this.status.hide();
      return;
    }
    const client = this.kernels.get(notebook.uri.toString())?.client;
    const version = ++this.statusVersion;
    const show = (rssBytes?: number) => {
      if (version !== this.statusVersion) return; // a newer update is under way
      const view = describeKernelStatus({ state: client?.state ?? "not started", backend: client?.backend, pid: client?.pid, rssBytes, crash: client?.crashDescription });
      this.status.text = view.text;
      this.status.tooltip = view.tooltip;
      this.status.backgroundColor = view.warning ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
      this.status.show();
    };
    show();
    if (client?.running) void client.memory().then(show, () => undefined);
  }

  /** The status bar's menu: restart, interrupt, the kernel's log. */
  private async kernelActions(): Promise<void> {
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    if (!notebook || notebook.notebookType !== NOTEBOOK_TYPE) return;
    const client = this.clientFor(notebook);
    const state = client?.state ?? "not started";
    const items: (vscode.QuickPickItem & { action: "restart" | "interrupt" | "log" })[] = [
      { label: "$(debug-restart) Restart FER Kernel", description: "a fresh kernel; variables are lost", action: "restart" },
      ...(state === "busy" ? [{ label: "$(debug-stop) Interrupt FER Kernel", description: "stop the running cell", action: "interrupt" as const }] : []),
      { label: "$(output) Show the Kernel's Log", description: "Output channel fernb", action: "log" },
    ];
    const picked = await vscode.window.showQuickPick(items, { title: `FER Kernel: ${state}`, placeHolder: "What to do with the kernel of this notebook" });
    if (picked?.action === "restart") await this.restart(notebook, { ask: true });
    else if (picked?.action === "interrupt") await this.interrupt(notebook);
    else if (picked?.action === "log") this.log.show(true);
  }

  private kernelFor(notebook: vscode.NotebookDocument): NotebookKernel {
    const key = notebook.uri.toString();
    let kernel = this.kernels.get(key);
    if (!kernel) {
      const config = vscode.workspace.getConfiguration("fernb", notebook.uri);
      const cwd =
        notebook.uri.scheme === "file"
          ? path.dirname(notebook.uri.fsPath)
          : vscode.workspace.getWorkspaceFolder(notebook.uri)?.uri.fsPath ?? os.tmpdir();
      const client = new KernelClient({ kernelPath: this.kernelPath, cwd, nodePath: config.get<string>("nodePath") || undefined });
      const name = path.basename(notebook.uri.path);
      client.on("log", (text: string) => this.log.append(`[${name}] ${text}`));
      // Code an interrupted cell left behind (a timer, a callback) that still writes: never shown in
      // a later cell, never silently logged either: the user is told once per cell and offered a restart.
      const warned = new Set<string>();
      client.on("interrupted-output", (cellLabel: string, text: string) => {
        this.log.append(`[${name}] (${cellLabel}, interrupted, still running) ${text}`);
        if (warned.has(cellLabel)) return;
        warned.add(cellLabel);
        void this.offerRestartForLeftover(notebook, cellLabel);
      });
      client.on("exit", (how: string) => {
        this.log.appendLine(`[${name}] kernel process ended (${how})`);
        this.updateStatus();
      });
      client.on("state", () => this.updateStatus());
      client.on("ready", (backend: string) => {
        this.log.appendLine(`[${name}] kernel ready (pid ${client.pid}), TensorFlow.js backend ${backend}`);
        this.updateStatus();
      });
      kernel = { client, executionOrder: 0, queue: Promise.resolve(), generation: 0 };
      this.kernels.set(key, kernel);
      this.updateStatus();
    }
    return kernel;
  }

  private execute(cells: vscode.NotebookCell[], notebook: vscode.NotebookDocument): Promise<void> {
    const kernel = this.kernelFor(notebook);
    const generation = kernel.generation;
    const executions = cells.map((cell) => this.controller.createNotebookCellExecution(cell));
    const run = async () => {
      for (let i = 0; i < executions.length; i++) {
        if (kernel.generation !== generation) {
          executions.slice(i).forEach((e) => e.end(undefined));
          return;
        }
        const ok = await this.runCell(kernel, executions[i]);
        if (!ok) {
          // Like Jupyter: a failing cell stops the rest of a Run All.
          executions.slice(i + 1).forEach((e) => e.end(undefined));
          return;
        }
      }
    };
    kernel.queue = kernel.queue.then(run, run);
    return kernel.queue;
  }

  private async runCell(kernel: NotebookKernel, execution: vscode.NotebookCellExecution): Promise<boolean> {
    const cell = execution.cell;
    execution.executionOrder = ++kernel.executionOrder;
    execution.start(Date.now());
    await execution.clearOutput();
    const writer = new CellOutputWriter(execution);
    let outcome: ExecutionOutcome;
    if (!vscode.workspace.isTrusted) {
      outcome = { ok: false, error: { name: "UntrustedWorkspace", message: "fernb runs cells only in trusted workspaces.", stack: "" } };
    } else {
      // The number VS Code shows beside the cell (its execution order, "[5]"), not its position: errors
      // and stack frames name "Cell [5]:4", which the user finds in the gutter.
      const label = `Cell [${execution.executionOrder}]`;
      try {
        outcome = await kernel.client.execute(cell.document.getText(), label, writer);
      } catch (e) {
        outcome = { ok: false, error: { name: "KernelStartFailed", message: (e as Error).message, stack: "" } };
      }
    }
    if (outcome.error) writer.error(outcome.error);
    if (outcome.kernelLost) kernel.executionOrder = 0;
    await writer.flush();
    execution.end(outcome.ok, Date.now());
    if (outcome.error?.name === "KernelBusy") void this.offerRestart(execution.cell.notebook);
    return outcome.ok;
  }

  private async interrupt(notebook: vscode.NotebookDocument): Promise<void> {
    const kernel = this.kernels.get(notebook.uri.toString());
    if (!kernel) return;
    kernel.generation++;
    const seconds = vscode.workspace.getConfiguration("fernb", notebook.uri).get<number>("interruptTimeoutSeconds") ?? 5;
    await kernel.client.interrupt(seconds * 1000);
  }

  private async offerRestartForLeftover(notebook: vscode.NotebookDocument, cellLabel: string): Promise<void> {
    const choice = await vscode.window.showWarningMessage(
      `${cellLabel} was interrupted, but code it started (a timer or callback) is still running and writing output; ` +
        "its output goes to the fernb Output channel. Restart the kernel to stop it (its variables will be lost).",
      "Restart Kernel",
      "Show Output",
    );
    if (choice === "Restart Kernel") await this.restart(notebook);
    else if (choice === "Show Output") this.log.show(true);
  }

  private async offerRestart(notebook: vscode.NotebookDocument): Promise<void> {
    const choice = await vscode.window.showWarningMessage(
      "The FER kernel is stuck in a cell that does not stop when interrupted. Restart it? Its variables will be lost.",
      "Restart Kernel",
    );
    if (choice === "Restart Kernel") await this.restart(notebook);
  }

  /** The kernel client of a notebook, if one was created (it may not be running). */
  clientFor(notebook: vscode.NotebookDocument): KernelClient | undefined {
    return this.kernels.get(notebook.uri.toString())?.client;
  }

  /**
   * Restarts the notebook's kernel. With `ask`, a kernel that holds variables (or runs a cell) asks
   * first, unless the setting fernb.confirmRestart is off. Resolves false when the user declined.
   */
  async restart(notebook: vscode.NotebookDocument, options: { ask?: boolean } = {}): Promise<boolean> {
    const kernel = this.kernelFor(notebook);
    const client = kernel.client;
    let names: string[] | undefined;
    if (client.running && client.state !== "not responding") names = (await client.inspect(1500))?.variables.map((v) => v.name);
    const config = vscode.workspace.getConfiguration("fernb", notebook.uri);
    const busy = client.state === "busy";
    if (options.ask && config.get<boolean>("confirmRestart", true) && client.running && (busy || (names?.length ?? 0) > 0)) {
      const shown = (names ?? []).slice(0, 5).join(", ") + ((names?.length ?? 0) > 5 ? `, … (${names!.length} in all)` : "");
      const what = names && names.length > 0 ? `its variables (${shown}) will be lost` : "its variables will be lost";
      const choice = await vscode.window.showWarningMessage(
        `Restart the FER Kernel of ${path.basename(notebook.uri.path)}? ${busy ? "A cell is running and will stop; " : ""}${what[0].toUpperCase()}${what.slice(1)}.`,
        { modal: true, detail: "The setting fernb.confirmRestart turns this question off." },
        "Restart",
        "Restart, Don't Ask Again",
      );
      if (!choice) return false;
      if (choice === "Restart, Don't Ask Again") await config.update("confirmRestart", false, vscode.ConfigurationTarget.Global);
    }
    kernel.generation++;
    await client.restart(names);
    kernel.executionOrder = 0;
    this.log.appendLine(`[${path.basename(notebook.uri.path)}] kernel restarted (pid ${kernel.client.pid})`);
    return true;
  }

  async interruptCommand(notebook: vscode.NotebookDocument): Promise<void> {
    await this.interrupt(notebook);
  }

  private async shutdown(notebook: vscode.NotebookDocument | vscode.Uri): Promise<void> {
    const uri = notebook instanceof vscode.Uri ? notebook : notebook.uri;
    const key = uri.toString();
    const kernel = this.kernels.get(key);
    if (!kernel) return;
    this.kernels.delete(key);
    kernel.generation++;
    const pid = kernel.client.pid;
    await kernel.client.stop();
    if (pid !== undefined) this.log.appendLine(`[${path.basename(uri.path)}] notebook closed: kernel stopped (pid ${pid})`);
    this.updateStatus();
  }

  /** Stops the kernels of notebooks that no editor tab shows any more. */
  private shutdownUntabbed(): void {
    const open = new Set<string>();
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) if (tab.input instanceof vscode.TabInputNotebook) open.add(tab.input.uri.toString());
    }
    for (const key of [...this.kernels.keys()]) if (!open.has(key)) void this.shutdown(vscode.Uri.parse(key));
  }

  dispose(): void {
    clearInterval(this.statusTimer);
    for (const kernel of this.kernels.values()) void kernel.client.stop();
    this.kernels.clear();
    this.disposables.forEach((d) => d.dispose());
  }
}

