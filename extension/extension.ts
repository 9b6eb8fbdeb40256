/**
 * Entry point of the fernb extension (runs in VS Code's extension host): registers the `.fernb`
 * serializer, the "FER Kernel" controller, the kernel commands, the renderer ↔ kernel message
 * bridge (review grid), the editor's language features for cells (extension/language) and the
 * variables view.
 */
import * as vscode from "vscode";
import { FerKernelController } from "./controller";
import { registerLanguageFeatures } from "./language/features";
import { registerVariablesView } from "./variablesView";
import { registerRendererBridge } from "./rendererBridge";
import { FernbSerializer, NOTEBOOK_TYPE } from "./serializer";

/** The notebook a command applies to: the toolbar passes it, the palette uses the active one. */
function targetNotebook(arg: unknown): vscode.NotebookDocument | undefined {
  const uri =
    (arg as { notebookEditor?: { notebookUri?: vscode.Uri } } | undefined)?.notebookEditor?.notebookUri ??
    (arg instanceof vscode.Uri ? arg : undefined);
  if (uri) return vscode.workspace.notebookDocuments.find((nb) => nb.uri.toString() === uri.toString());
  const active = vscode.window.activeNotebookEditor?.notebook;
  return active?.notebookType === NOTEBOOK_TYPE ? active : undefined;
}

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel("fernb");
  const controller = new FerKernelController(context.asAbsolutePath("dist/kernel.js"), log);
  context.subscriptions.push(
    log,
    controller,
    registerRendererBridge(vscode, NOTEBOOK_TYPE, (notebook) => controller.clientFor(notebook)),
    registerLanguageFeatures(context, NOTEBOOK_TYPE, log),
    registerVariablesView(NOTEBOOK_TYPE, (notebook) => controller.clientFor(notebook)),
    vscode.workspace.registerNotebookSerializer(NOTEBOOK_TYPE, new FernbSerializer(), {
      transientOutputs: false,
      transientCellMetadata: {},
      transientDocumentMetadata: {},
    }),
    vscode.commands.registerCommand("fernb.restartKernel", async (arg: unknown) => {
      const notebook = targetNotebook(arg);
      if (!notebook) return void vscode.window.showInformationMessage("Open a .fernb notebook to restart its kernel.");
      await controller.restart(notebook, { ask: true });
    }),
    vscode.commands.registerCommand("fernb.interruptKernel", async (arg: unknown) => {
      const notebook = targetNotebook(arg);
      if (notebook) await controller.interruptCommand(notebook);
    }),
  );
}

export function deactivate(): void {
  // Kernel processes are stopped by the controller's dispose (a context subscription).
}
