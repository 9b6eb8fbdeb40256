/**
 * The extension host's end of the language services' thread (./worker.ts): starts the worker on the
 * first request, matches answers to requests, and starts a fresh worker after a crash (the pending
 * requests fail; the next one starts it again).
 */
import { Worker } from "node:worker_threads";
import type { CellDiagnostic, CompletionList, DefinitionLocation, Documentation, Hover, Position, SignatureHelp } from "./service";
import type { LanguageRequest, LanguageResponse, WorkerOptions } from "./workerProtocol";

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };
type RequestBody = LanguageRequest extends infer R ? (R extends LanguageRequest ? Omit<R, "id"> : never) : never;

export interface NotebookRef {
  notebook: string;
  notebookDir: string;
  cells: string[];
}

export class LanguageClient {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly workerPath: string,
    private readonly options: WorkerOptions,
    private readonly log: (line: string) => void = () => {},
  ) {}

  private start(): Worker {
    const worker = new Worker(this.workerPath, { workerData: this.options });
    worker.on("message", (response: LanguageResponse) => {
      const p = this.pending.get(response.id);
      if (!p) return;
      this.pending.delete(response.id);
      if (this.pending.size === 0) worker.unref();
      if ("error" in response) p.reject(new Error(response.error));
      else p.resolve(response.result);
    });
    const fail = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.log(`fernb language service: ${why}`);
      for (const p of this.pending.values()) p.reject(new Error(`The language service stopped (${why}).`));
      this.pending.clear();
    };
    worker.on("error", (e) => fail(e.stack ?? e.message));
    worker.on("exit", (code) => fail(`worker exited with code ${code}`));
    return worker;
  }

  request(body: RequestBody): Promise<unknown> {
    this.worker ??= this.start();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The worker keeps the process alive only while it has work (an idle one never holds Node up).
      this.worker!.ref();
      this.worker!.postMessage({ ...body, id });
    });
  }

  completions(nb: NotebookRef, cell: number, position: Position): Promise<CompletionList> {
    return this.request({ ...nb, method: "completions", cell, position }) as Promise<CompletionList>;
  }
  completionDetails(nb: NotebookRef, cell: number, position: Position, name: string, source?: string, data?: unknown): Promise<Documentation | null> {
    return this.request({ ...nb, method: "completionDetails", cell, position, name, source, data }) as Promise<Documentation | null>;
  }
  hover(nb: NotebookRef, cell: number, position: Position): Promise<Hover | null> {
    return this.request({ ...nb, method: "hover", cell, position }) as Promise<Hover | null>;
  }
  signatureHelp(nb: NotebookRef, cell: number, position: Position): Promise<SignatureHelp | null> {
    return this.request({ ...nb, method: "signatureHelp", cell, position }) as Promise<SignatureHelp | null>;
  }
  definition(nb: NotebookRef, cell: number, position: Position): Promise<DefinitionLocation[]> {
    return this.request({ ...nb, method: "definition", cell, position }) as Promise<DefinitionLocation[]>;
  }
  diagnostics(nb: NotebookRef, cell: number): Promise<CellDiagnostic[]> {
    return this.request({ ...nb, method: "diagnostics", cell }) as Promise<CellDiagnostic[]>;
  }
  warmUp(nb: NotebookRef): Promise<unknown> {
    return this.request({ ...nb, method: "warmUp" });
  }
  close(notebook: string): Promise<unknown> {
    if (!this.worker) return Promise.resolve(null);
    return this.request({ notebook, notebookDir: "", cells: [], method: "close" });
  }

  dispose(): void {
    const worker = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Error("The language service was stopped."));
    this.pending.clear();
    void worker?.terminate();
  }
}
