/**
 * The "FER Variables" view (Explorer): the active notebook's kernel variables with their types and
 * previews, tensors' shape, dtype and memory, models' parameters and weights, and TensorFlow.js's
 * tensor count and bytes at the top, so a leak (a count that keeps growing) is visible. VS Code's
 * notebook variables API is proposed (not publishable), so this is a TreeView. It asks the kernel
 * (an `inspect` message) when a cell finishes, when another notebook becomes active, on the refresh
 * button, and every 2 seconds while it is visible and a kernel runs (during training too: the kernel
 * answers between two batches). It never starts a kernel.
 */
import * as vscode from "vscode";
import type { KernelClient } from "./kernelClient";
import type { VariableInfo, VariablesMessage } from "../protocol";
import { describeVariable, formatBytes } from "./variablesText";

const POLL_MS = 2000;

type Node =
  | { kind: "memory"; memory: NonNullable<VariablesMessage["memory"]> }
  | { kind: "variable"; variable: VariableInfo }
  | { kind: "detail"; label: string; description: string };

function details(v: VariableInfo): Node[] {
  const out: Node[] = [];
  const add = (label: string, description: string) => out.push({ kind: "detail", label, description });
  if (v.tensor) {
    add("shape", `[${v.tensor.shape.join(", ")}]`);
    add("dtype", v.tensor.dtype);
    add("memory", formatBytes(v.tensor.bytes) + (v.tensor.disposed ? " (disposed)" : ""));
  }
  if (v.model) {
    add("parameters", v.model.parameters.toLocaleString("en-US"));
    add("layers", String(v.model.layers));
    add("weights", formatBytes(v.model.bytes));
  }
  if (v.tensors) add("tensors", `${v.tensors.count}, ${formatBytes(v.tensors.bytes)}`);
  if (out.length > 0) add("value", v.preview);
  return out;
}

export function registerVariablesView(notebookType: string, clientFor: (notebook: vscode.NotebookDocument) => KernelClient | undefined): vscode.Disposable {
  const changed = new vscode.EventEmitter<void>();
  let answer: VariablesMessage | undefined;
  let busy = false;
  let lastNotebook: string | undefined;

  const provider: vscode.TreeDataProvider<Node> = {
    onDidChangeTreeData: changed.event,
    getChildren(node) {
      if (node?.kind === "variable") return details(node.variable);
      if (node) return [];
      if (!answer) return [];
      const nodes: Node[] = answer.memory ? [{ kind: "memory", memory: answer.memory }] : [];
      return nodes.concat(answer.variables.map((variable) => ({ kind: "variable", variable })));
    },
    getTreeItem(node) {
      if (node.kind === "memory") {
        const item = new vscode.TreeItem("TensorFlow.js memory");
        item.description = `${node.memory.numTensors.toLocaleString("en-US")} tensors · ${formatBytes(node.memory.numBytes)}`;
        item.tooltip = `tf.memory(): ${node.memory.numTensors} tensors, ${node.memory.numBytes} bytes in ${node.memory.numDataBuffers} data buffers, named or not. A count that grows from cell to cell is a leak: dispose tensors or use tf.tidy.`;
        item.iconPath = new vscode.ThemeIcon("pulse");
        return item;
      }
      if (node.kind === "detail") {
        const item = new vscode.TreeItem(node.label);
        item.description = node.description;
        item.tooltip = `${node.label}: ${node.description}`;
        return item;
      }
      const v = node.variable;
      const item = new vscode.TreeItem(v.name, details(v).length > 0 ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
      item.id = `variable:${v.name}`;
      item.description = describeVariable(v);
      item.tooltip = new vscode.MarkdownString().appendCodeblock(`${v.name}: ${v.type}`, "typescript").appendText(v.preview);
      item.iconPath = new vscode.ThemeIcon(v.tensor ? "symbol-array" : v.model ? "circuit-board" : v.type === "function" ? "symbol-method" : v.type === "class" ? "symbol-class" : "symbol-variable");
      return item;
    },
  };

  const view = vscode.window.createTreeView("fernb.variables", { treeDataProvider: provider, showCollapseAll: true });

  const activeNotebook = (): vscode.NotebookDocument | undefined => {
    const nb = vscode.window.activeNotebookEditor?.notebook;
    return nb?.notebookType === notebookType ? nb : undefined;
  };

  async function refresh(): Promise<void> {
    if (busy) return;
    const notebook = activeNotebook();
    void vscode.commands.executeCommand("setContext", "fernb.notebookActive", notebook !== undefined);
    if (!notebook) return;
    const key = notebook.uri.toString();
    const client = clientFor(notebook);
    if (!client?.running) {
      answer = undefined;
      view.message = "The kernel has not started: run a cell to see its variables.";
      lastNotebook = key;
      changed.fire();
      return;
    }
    busy = true;
    try {
      const next = await client.inspect();
      if (activeNotebook()?.uri.toString() !== key) return;
      if (!next) {
        view.message = lastNotebook === key && answer ? "The kernel is busy (a cell blocks it); showing the last answer." : "The kernel did not answer (a cell blocks it).";
        return;
      }
      answer = next;
      lastNotebook = key;
      view.message = next.variables.length === 0 ? "No variables yet." : undefined;
      changed.fire();
    } finally {
      busy = false;
    }
  }

  void refresh();
  const timer = setInterval(() => {
    if (view.visible && activeNotebook() && clientFor(activeNotebook()!)?.running) void refresh();
  }, POLL_MS);

  return vscode.Disposable.from(
    view,
    changed,
    { dispose: () => clearInterval(timer) },
    vscode.commands.registerCommand("fernb.refreshVariables", () => refresh()),
    view.onDidChangeVisibility((e) => {
      if (e.visible) void refresh();
    }),
    vscode.window.onDidChangeActiveNotebookEditor(() => {
      answer = undefined;
      changed.fire();
      void refresh();
    }),
    vscode.workspace.onDidChangeNotebookDocument((e) => {
      // A cell finished (its execution summary changed): its variables are there now.
      if (e.notebook.notebookType === notebookType && e.cellChanges.some((c) => c.executionSummary !== undefined)) void refresh();
    }),
  );
}
