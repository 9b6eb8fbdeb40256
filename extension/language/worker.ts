/**
 * The language services' thread (dist/languageWorker.js, a worker_threads Worker of the extension
 * host): TypeScript's language service is synchronous and its first check of a notebook loads the
 * libraries and declarations for seconds, which must not stall the extension host (kernel output,
 * the review grid's messages). One NotebookLanguageService per open notebook; requests are answered
 * in the order they come.
 */
import { parentPort, workerData } from "node:worker_threads";
import { NotebookLanguageService } from "./service";
import type { LanguageRequest, LanguageResponse, WorkerOptions } from "./workerProtocol";

const options = workerData as WorkerOptions;
const services = new Map<string, NotebookLanguageService>();

function serviceFor(notebook: string, notebookDir: string): NotebookLanguageService {
  let service = services.get(notebook);
  if (!service) {
    service = new NotebookLanguageService({ ...options, notebookDir });
    services.set(notebook, service);
  }
  return service;
}

function answer(request: LanguageRequest): unknown {
  if (request.method === "close") {
    services.get(request.notebook)?.dispose();
    services.delete(request.notebook);
    return null;
  }
  const service = serviceFor(request.notebook, request.notebookDir);
  service.setCells(request.cells);
  switch (request.method) {
    case "warmUp":
      return service.warmUp();
    case "completions":
      return service.completions(request.cell, request.position);
    case "completionDetails":
      return service.completionDetails(request.cell, request.position, request.name, request.source, request.data) ?? null;
    case "hover":
      return service.hover(request.cell, request.position) ?? null;
    case "signatureHelp":
      return service.signatureHelp(request.cell, request.position) ?? null;
    case "definition":
      return service.definition(request.cell, request.position);
    case "diagnostics":
      return service.diagnostics(request.cell);
  }
}

parentPort!.on("message", (request: LanguageRequest) => {
  let response: LanguageResponse;
  try {
    response = { id: request.id, result: answer(request) };
  } catch (e) {
    response = { id: request.id, error: e instanceof Error ? e.stack ?? e.message : String(e) };
  }
  parentPort!.postMessage(response);
});
