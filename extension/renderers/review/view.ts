/**
 * The review grid's shared vocabulary (extension/renderers/review/): what one rendered grid holds
 * (`Grid`, built by grid.ts) and what survives a re-render of the same review (`ViewState`). The
 * grid's parts (tile.ts, selection.ts, gradcam.ts, messaging.ts) are functions of a `Grid`; they
 * reach each other only through its methods, which grid.ts wires, so no part imports another.
 */
import type { RendererContext } from "vscode-notebook-renderer";
import type { ReviewItem, ReviewItemState, ReviewPayload } from "../../../protocol";
import { h, type ColorMap } from "../_shared";

/** A Grad-CAM heat map the kernel sent: uint8 values (0..255), row-major. */
export interface CamData {
  class: string;
  predicted: string;
  p: number;
  width: number;
  height: number;
  values: Uint8Array;
}

export type StatusKind = "busy" | "ok" | "err";

/** What a grid remembers across re-renders of the same review (filters, selection, decisions, heat maps). */
export interface ViewState {
  label: string;
  issue: string;
  predicted: string;
  sort: "score" | "order";
  selected: Set<string>;
  anchor: string | null;
  focus: string | null;
  /** Decisions the kernel confirmed since the payload was made. */
  states: Map<string, ReviewItemState>;
  status: Map<string, { text: string; kind: StatusKind }>;
  /** Grad-CAMs received, by path + "\0" + class name (or "predicted", the model's predicted class). */
  cams: Map<string, CamData>;
  /** Path → the class ("predicted" or a class name) whose Grad-CAM the tile shows; absent: hidden. */
  camShown: Map<string, string>;
  /** Cache keys of Grad-CAM requests not answered yet. */
  camPending: Set<string>;
  colorMap: ColorMap;
}

export function newViewState(): ViewState {
  return {
    label: "", issue: "", predicted: "", sort: "score", selected: new Set(), anchor: null, focus: null, states: new Map(), status: new Map(),
    cams: new Map(), camShown: new Map(), camPending: new Set(), colorMap: "turbo",
  };
}

/** What a request was sent for (the reply is routed back by its requestId). */
export interface SentRequest {
  path?: string;
  action: string;
  camKey?: string;
}

/** One rendered grid, as the activation (review.ts) sees it. */
export interface View {
  state: ViewState;
  reviewId?: string;
  onReply(reply: Record<string, unknown>, request?: SentRequest): void;
  dispose(): void;
}

/** One image's tile. */
export interface Tile {
  el: HTMLElement;
  labelEl: HTMLElement;
  relabel: HTMLSelectElement;
  exclude: HTMLButtonElement;
  restore: HTMLButtonElement;
  status: HTMLElement;
  img: HTMLElement;
  /** Only when the review has a model. */
  cam?: { button: HTMLButtonElement; canvas: HTMLCanvasElement; info: HTMLElement };
}

export type Decision = "relabel" | "exclude" | "restore";

/** One rendered grid: its data, its DOM, and its parts' entry points (wired by grid.ts). */
export interface Grid {
  readonly payload: ReviewPayload;
  readonly classes: string[];
  readonly items: ReviewItem[];
  readonly byPath: Map<string, ReviewItem>;
  readonly state: ViewState;
  readonly outputId: string;
  readonly ctx: RendererContext<unknown>;
  /** False where the view cannot reach the kernel (read-only). */
  readonly canPost: boolean;
  /** Present when the review was given a model (Grad-CAM on demand). */
  readonly camInfo: ReviewPayload["cam"];
  readonly tiles: Map<string, Tile>;
  /** The items shown, in the order shown. */
  visible: ReviewItem[];
  /** Grad-CAM requests' timers, by cache key. */
  readonly camTimers: Map<string, ReturnType<typeof setTimeout>>;
  readonly undoStatus: HTMLElement;
  /** The item's state: the kernel's last reply, else the payload's. */
  current(it: ReviewItem): ReviewItemState;
  updateTile(it: ReviewItem, tile?: Tile): void;
  setStatus(path: string, text: string, kind: StatusKind): void;
  post(message: Record<string, unknown>, path?: string, camKey?: string): boolean;
  send(action: Decision, paths: string[], label?: string): void;
  undo(): void;
  toggleCam(path: string): void;
  showCam(path: string, which: string): void;
  drawCam(path: string): void;
  updateSelection(): void;
}

/** An <option>. */
export const option = (value: string, text: string, selected: boolean): HTMLOptionElement => h("option", { value, selected }, text);
