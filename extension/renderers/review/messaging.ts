/**
 * The review grid's messages with the kernel. Each action is posted (ctx.postMessage →
 * extension/rendererBridge.ts → kernel, which appends it to the curation ledger) with a requestId;
 * the tile shows "saving…", then "saved ✓" or the error when the reply arrives
 * (ctx.onDidReceiveMessage → `routeReply`, which finds the grid that asked; a reply to another
 * webview's request for the same review, the notebook open twice, is applied too).
 */
import { basename } from "../_shared";
import { isState } from "./validation";
import type { Decision, Grid, SentRequest, StatusKind, View } from "./view";

/** requestId → the output and image it was sent for. */
const pending = new Map<string, SentRequest & { outputId: string }>();
const sessionTag = Math.random().toString(36).slice(2, 8);
let nextRequest = 0;

export function setStatus(g: Grid, path: string, text: string, kind: StatusKind): void {
  g.state.status.set(path, { text, kind });
  const it = g.byPath.get(path);
  if (it) g.updateTile(it);
}

/** Posts a message about this review; false (and the tile says why) when it could not be sent. */
export function post(g: Grid, message: Record<string, unknown>, path?: string, camKey?: string): boolean {
  const requestId = `${sessionTag}-${++nextRequest}`;
  pending.set(requestId, { outputId: g.outputId, path, action: String(message.action), camKey });
  try {
    g.ctx.postMessage!({ ...message, reviewId: g.payload.reviewId, requestId });
    return true;
  } catch (e) {
    pending.delete(requestId);
    if (path) g.setStatus(path, `not sent: ${(e as Error).message}`, "err");
    return false;
  }
}

export function send(g: Grid, action: Decision, paths: string[], label?: string): void {
  if (!g.canPost) return;
  for (const path of paths) {
    g.setStatus(path, "saving…", "busy");
    g.post(action === "relabel" ? { action, path, label } : { action, path }, path);
  }
}

export function undo(g: Grid): void {
  if (!g.canPost) return;
  g.undoStatus.textContent = "undoing…";
  g.undoStatus.className = "rv-undo-status";
  g.post({ action: "undo" });
}

/** The kernel's answer to a decision (relabel, exclude, restore, undo): the new state, or the error. */
export function onDecisionReply(g: Grid, reply: Record<string, unknown>, request?: SentRequest): void {
  const { byPath, state, undoStatus } = g;
  const path = typeof reply.path === "string" ? reply.path : request?.path;
  const action = typeof reply.action === "string" ? reply.action : request?.action;
  if (reply.ok === true && path && byPath.has(path)) {
    if (isState(reply.state, g.classes)) state.states.set(path, { ...reply.state, originalLabel: byPath.get(path)!.label });
    g.setStatus(path, action === "undo" ? "undone ✓" : reply.ledgerLine === null ? "already so: nothing to save" : "saved ✓", "ok");
    if (action === "undo") undoStatus.textContent = `undone: ${basename(path)}`;
  } else if (reply.ok !== true) {
    const error = typeof reply.error === "string" ? reply.error : "the kernel refused the action";
    if (path && byPath.has(path) && action !== "undo") g.setStatus(path, `error: ${error}`, "err");
    else {
      undoStatus.textContent = `error: ${error}`;
      undoStatus.className = "rv-undo-status rv-err";
    }
  }
}

/** A message from the kernel: given to the grid whose request it answers (or to every grid of its review). */
export function routeReply(views: Map<string, View>, raw: unknown): void {
  if (typeof raw !== "object" || raw === null) return;
  const reply = raw as Record<string, unknown>;
  const requestId = typeof reply.requestId === "string" ? reply.requestId : undefined;
  const request = requestId !== undefined ? pending.get(requestId) : undefined;
  if (requestId !== undefined) pending.delete(requestId);
  if (request) views.get(request.outputId)?.onReply(reply, request);
  else if (requestId === undefined || !requestId.startsWith(`${sessionTag}-`)) {
    // A reply to another webview's request for the same review (the notebook open twice): apply it too.
    for (const [, view] of views) if (view.reviewId === reply.reviewId) view.onReply(reply);
  }
}
