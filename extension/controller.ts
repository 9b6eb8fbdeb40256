/**
 * The "FER Kernel" NotebookController: runs TypeScript cells of `.fernb` notebooks in one kernel
 * process per notebook, streams outputs into the cells as they arrive, and handles interrupt,
 * restart and kernel crashes.
 */
import * as path from "node:path";
import * as os from "node:os";
import * as vscode from "vscode";
import { KernelClient, type ExecutionObserver, type ExecutionOutcome } from "./kernelClient";
import type { OutputItem } from "../protocol";
import { NOTEBOOK_TYPE } from "./serializer";

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
  /** Shows the active notebook's kernel backend (wasm, tfjs-node, ...). */
  private readonly status = vscode.window.createStatusBarItem("fernb.backend", vscode.StatusBarAlignment.Right, 100);

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
      vscode.workspace.onDidOpenNotebookDocument((nb) => this.preferThisController(nb)),
      vscode.window.onDidChangeActiveNotebookEditor(() => this.updateStatus()),
      this.status,
    );
    this.status.name = "FER Kernel backend";
    vscode.workspace.notebookDocuments.forEach((nb) => this.preferThisController(nb));
  }

  private preferThisController(notebook: vscode.NotebookDocument): void {
    if (notebook.notebookType === NOTEBOOK_TYPE) this.controller.updateNotebookAffinity(notebook, vscode.NotebookControllerAffinity.Preferred);
  }

  private updateStatus(): void {
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    const kernel = notebook && this.kernels.get(notebook.uri.toString());
    if (!notebook || notebook.notebookType !== NOTEBOOK_TYPE) {
      this.status.hide();
      return;
    }
    if (kernel?.client.running && kernel.client.backend) {
      const [choice] = kernel.client.backend.split(":");
      this.status.text = `$(circuit-board) FER: ${choice}`;
      this.status.tooltip = `FER Kernel (pid ${kernel.client.pid}) runs TensorFlow.js on ${kernel.client.backend}`;
    } else {
      this.status.text = "$(circle-outline) FER: idle";
      this.status.tooltip = "The FER Kernel starts when you run a cell.";
    }
    this.status.show();
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
      client.on("ready", (backend: string) => {
        this.log.appendLine(`[${name}] kernel ready (pid ${client.pid}), TensorFlow.js backend ${backend}`);
        this.updateStatus();
      });
      kernel = { client, executionOrder: 0, queue: Promise.resolve(), generation: 0 };
      this.kernels.set(key, kernel);
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
      const label = `Cell ${cell.index + 1}`;
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

  async restart(notebook: vscode.NotebookDocument): Promise<void> {
    const kernel = this.kernelFor(notebook);
    kernel.generation++;
    await kernel.client.restart();
    kernel.executionOrder = 0;
    this.log.appendLine(`[${path.basename(notebook.uri.path)}] kernel restarted (pid ${kernel.client.pid})`);
  }

  async interruptCommand(notebook: vscode.NotebookDocument): Promise<void> {
    await this.interrupt(notebook);
  }

  private async shutdown(notebook: vscode.NotebookDocument): Promise<void> {
    const key = notebook.uri.toString();
    const kernel = this.kernels.get(key);
    if (!kernel) return;
    this.kernels.delete(key);
    await kernel.client.stop();
  }

  dispose(): void {
    for (const kernel of this.kernels.values()) void kernel.client.stop();
    this.kernels.clear();
    this.disposables.forEach((d) => d.dispose());
  }
}

