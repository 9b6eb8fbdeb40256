/**
 * Notebook renderer for `application/vnd.fernb.review+json` (kernel/fer/curation/review.ts): a grid
 * of face thumbnails to curate a dataset. Filter by label, suspected issue or predicted class, sort
 * by suspicion score; per image relabel (one of the classes), exclude, restore; multi-select
 * (click, Shift+click, Ctrl/Cmd+click) for batch actions; the model's top predictions per image;
 * when the review was given a model (payload `cam`), the Grad-CAM of an image on demand.
 *
 * This file is the renderer's entry point (esbuild.mjs bundles extension/renderers/*.ts, not the
 * folder below): the activation and the views it keeps. The grid's parts live in review/, one file
 * per job: grid.ts (toolbar, filters, layout, wiring), tile.ts (one image), selection.ts (selection,
 * focus, keyboard, batch actions), gradcam.ts (heat maps on demand), messaging.ts (requests and
 * replies), validation.ts (payload and reply checks), style.ts, view.ts (the types they share).
 *
 * Each action is posted to the kernel (ctx.postMessage → extension/rendererBridge.ts → kernel,
 * which appends it to the curation ledger); the tile shows "saving…", then "saved ✓" or the error
 * when the reply arrives (ctx.onDidReceiveMessage).
 *
 * Keyboard: the grid is one tab stop (roving tabindex); arrow keys and Home/End move; Shift+arrow
 * extends the selection, Space toggles it, Ctrl+A selects all shown, Escape clears it; 1–7 relabel,
 * x excludes, r restores (the selection if the focused image is in it, else the focused image);
 * u undoes this review's last decision; g shows or hides the focused image's Grad-CAM. Colours follow
 * the VS Code theme through its CSS variables.
 *
 * Grad-CAM: the "Grad-CAM" button (or g) posts `{ action: "gradcam", reviewId, path, class? }`
 * (protocol/rendererMessages.ts ReviewCamRequest; path is the item's id in this review, which the kernel checks
 * against the review's items); the tile shows "computing Grad-CAM…" until the reply, whose heat map
 * is checked (parseReviewCamReply), cached per image and class, and blended over the thumbnail with
 * the Grad-CAM renderer's colour maps (_shared.ts). Toggling and switching between the predicted
 * and the labelled class are instant once cached. A request unanswered after CAM_TIMEOUT_MS (the
 * kernel is blocked by a running cell) says so in the tile; a late reply is still drawn.
 */
import type { ActivationFunction } from "vscode-notebook-renderer";
import { disposeViews, readJson, showError } from "./_shared";
import { render } from "./review/grid";
import { routeReply } from "./review/messaging";
import { validateReview } from "./review/validation";
import { newViewState, type View } from "./review/view";

export { CAM_TIMEOUT_MS, NO_MODEL_HINT } from "./review/gradcam";
export { validateReview } from "./review/validation";

const views = new Map<string, View>();

export const activate: ActivationFunction = (ctx) => {
  ctx.onDidReceiveMessage?.((raw: unknown) => routeReply(views, raw));
  return {
    renderOutputItem(item, element) {
      const previous = views.get(item.id);
      previous?.dispose();
      views.delete(item.id);
      try {
        const payload = validateReview(readJson(item));
        const keep = previous && previous.reviewId === payload.reviewId;
        const state = (keep && previous?.state) || newViewState();
        const view = render(payload, element, state, item.id, ctx);
        view.reviewId = payload.reviewId;
        views.set(item.id, view);
      } catch (e) {
        showError(element, "review", e);
      }
    },
    disposeOutputItem(id) {
      disposeViews(views, id);
    },
  };
};
