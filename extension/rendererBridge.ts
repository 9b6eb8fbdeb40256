/**
 * Carries messages between fernb's interactive notebook renderers (the review grid,
 * extension/renderers/review.ts, posts actions with ctx.postMessage; the embedding map,
 * extension/renderers/embedding.ts, its hover and selection requests) and the kernel of the notebook
 * they are shown in, and the kernel's replies back to the renderer:
 *
 *   webview ─ postMessage → NotebookRendererMessaging → KernelClient.sendRendererMessage → kernel
 *   kernel → `renderer-reply` → KernelClient event → messaging.postMessage(reply, editor) → webview
 *
 * Messages are forwarded as they are (the kernel validates them: they are untrusted webview input).
 * When the notebook's kernel is not running (never started, restarted, crashed) the bridge answers
 * itself. vscode-free apart from types, so unit tests drive it with a fake messaging object.
 */
import type * as vscode from "vscode";
import { checkMessageShape, RENDERER_ID, RENDERER_MESSAGE_LIMITS } from "../protocol";
import type { KernelClient } from "./kernelClient";

export const KERNEL_RESTARTED_ERROR = "The kernel was restarted: run the review cell again.";

/** The parts of vscode.NotebookRendererMessaging the bridge uses. */
export interface RendererMessaging<E> {
  onDidReceiveMessage(listener: (e: { editor: E; message: unknown }) => unknown): { dispose(): unknown };
  postMessage(message: unknown, editor?: E): Thenable<boolean> | Promise<boolean>;
}

type Client = Pick<KernelClient, "sendRendererMessage" | "onRendererReply">;

/** The fields of a renderer message the bridge copies into its own replies (so the renderer can match them). */
function echo(message: unknown): Record<string, unknown> {
  if (typeof message !== "object" || message === null) return {};
  const m = message as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ["requestId", "reviewId", "mapId", "action", "path"]) {
    const v = m[k];
    if ((typeof v === "string" && v.length <= 1024) || (typeof v === "number" && Number.isFinite(v))) out[k] = v;
  }
  return out;
}

const pendingKey = (message: unknown): string | undefined => {
  const e = echo(message);
  return e.requestId !== undefined ? `${String(e.reviewId)}\u0000${String(e.requestId)}` : undefined;
};

export class RendererBridge<E> {
  private readonly subscribed = new Map<Client, () => void>();
  /** Which editor sent a request still waiting for its reply (reviewId + requestId → editor). */
  private readonly pending = new Map<string, E>();
  private readonly listener: { dispose(): unknown };

  constructor(
    private readonly rendererId: string,
    private readonly messaging: RendererMessaging<E>,
    /** The running kernel's client for the editor's notebook, or undefined when it is not a fernb notebook. */
    private readonly clientOf: (editor: E) => Client | undefined,
    /** Every editor showing the same notebook as a kernel client (replies with no known sender go there). */
    private readonly editorsOf: (client: Client) => E[],
  ) {
    this.listener = messaging.onDidReceiveMessage(({ editor, message }) => this.receive(editor, message));
  }

  /**
   * Every renderer message gets a reply, and the listener never throws: a message too deep or too
   * large (checked before anything walks it) or one that cannot be forwarded is answered with an error.
   */
  private receive(editor: E, message: unknown): void {
    let problem: string | undefined;
    try {
      problem = checkMessageShape(message, RENDERER_MESSAGE_LIMITS);
      if (problem === undefined) return this.forward(editor, message);
    } catch (e) {
      const key = pendingKey(message);
      if (key !== undefined) this.pending.delete(key);
      problem = `it could not be sent to the kernel (${(e as Error)?.message ?? String(e)})`;
    }
    let reply: Record<string, unknown>;
    try {
      reply = { ...echo(message), ok: false, error: `The message was refused: ${problem}.` };
    } catch {
      reply = { ok: false, error: `The message was refused: ${problem}.` };
    }
    void Promise.resolve()
      .then(() => this.messaging.postMessage(reply, editor))
      .catch(() => undefined);
  }

  private forward(editor: E, message: unknown): void {
    const client = this.clientOf(editor);
    if (client && !this.subscribed.has(client)) {
      this.subscribed.set(client, client.onRendererReply((rendererId, reply) => {
        if (rendererId === this.rendererId) this.deliver(client, reply);
      }));
    }
    const key = pendingKey(message);
    if (key !== undefined) this.pending.set(key, editor);
    if (!client || !client.sendRendererMessage(this.rendererId, message)) {
      if (key !== undefined) this.pending.delete(key);
      void this.messaging.postMessage({ ...echo(message), ok: false, error: KERNEL_RESTARTED_ERROR }, editor);
    }
  }

  private deliver(client: Client, reply: unknown): void {
    const key = pendingKey(reply);
    const editor = key !== undefined ? this.pending.get(key) : undefined;
    if (key !== undefined) this.pending.delete(key);
    const editors = editor !== undefined ? [editor] : this.editorsOf(client);
    for (const e of editors) void this.messaging.postMessage(reply, e);
  }

  dispose(): void {
    this.listener.dispose();
    for (const off of this.subscribed.values()) off();
    this.subscribed.clear();
    this.pending.clear();
  }
}

/** Registers the messaging of the renderers that talk to the kernel: the review grid and the embedding map (call from `activate`). */
export function registerRendererBridge(
  api: Pick<typeof vscode, "notebooks" | "window">,
  notebookType: string,
  clientFor: (notebook: vscode.NotebookDocument) => KernelClient | undefined,
): vscode.Disposable {
  const bridges = [RENDERER_ID.review, RENDERER_ID.embedding].map(
    (rendererId) =>
      new RendererBridge<vscode.NotebookEditor>(
        rendererId,
        api.notebooks.createRendererMessaging(rendererId),
        (editor) => (editor.notebook.notebookType === notebookType ? clientFor(editor.notebook) : undefined),
        (client) => api.window.visibleNotebookEditors.filter((e) => e.notebook.notebookType === notebookType && clientFor(e.notebook) === client),
      ),
  );
  return { dispose: () => bridges.forEach((b) => b.dispose()) };
}
