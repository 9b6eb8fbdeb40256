/**
 * Checks of what the review renderer is given: the payload (`validateReview`, also used by the
 * embedding map for the grid it embeds) and the item states in the kernel's replies (`isState`).
 * The types are protocol/payloads.ts's, which the kernel's producer (kernel/fer/curation/review.ts)
 * uses too. Grad-CAM replies are checked by protocol's parseReviewCamReply (gradcam.ts).
 */
import { RENDERER_ID, type ReviewItem, type ReviewItemState, type ReviewPayload, type SuspectKind } from "../../../protocol";
import { PayloadError, expectArray, expectClasses, expectInt, expectObject, expectString, optionalString, percent, probability } from "../_shared";

export const ISSUE_NAMES: Record<SuspectKind, string> = { label: "label error", duplicate: "duplicate", unusable: "unusable" };
/** A label issue's score is the share of such faces that were mislabelled on the curation benchmark; 0 means the model is too weak to tell (the detail says why). */
export const issueText = (issue: { kind: SuspectKind; score: number }): string =>
  issue.kind === "label" && issue.score === 0 ? "label error? model too weak" : `${ISSUE_NAMES[issue.kind]} ${percent(issue.score)}`;

function expectLabel(value: unknown, where: string, classes: string[]): string {
  const s = expectString(value, where);
  if (!classes.includes(s)) throw new PayloadError(`${where} must be one of the classes (got ${JSON.stringify(s)})`);
  return s;
}

/** Checks the payload's shape; throws a PayloadError naming the first problem. */
export function validateReview(raw: unknown): ReviewPayload {
  const p = expectObject(raw, "the payload");
  const reviewId = expectString(p.reviewId, "reviewId");
  const classes = expectClasses(p.classes);
  const items = expectArray(p.items, "items").map((v, i): ReviewItem => {
    const where = `items[${i}]`;
    const o = expectObject(v, where);
    const label = expectLabel(o.label, `${where}.label`, classes);
    const thumb = o.thumb === undefined || o.thumb === null ? "" : expectString(o.thumb, `${where}.thumb`);
    const st = expectObject(o.state ?? { originalLabel: label, label, excluded: false }, `${where}.state`);
    const state: ReviewItemState = {
      originalLabel: expectLabel(st.originalLabel ?? label, `${where}.state.originalLabel`, classes),
      label: expectLabel(st.label ?? label, `${where}.state.label`, classes),
      excluded: st.excluded === true,
    };
    const item: ReviewItem = { path: expectString(o.path, `${where}.path`), label, thumb, state };
    if (o.predictions !== undefined && o.predictions !== null) {
      item.predictions = expectArray(o.predictions, `${where}.predictions`).map((q, j) => {
        const po = expectObject(q, `${where}.predictions[${j}]`);
        return { label: expectLabel(po.label, `${where}.predictions[${j}].label`, classes), p: probability(po.p, `${where}.predictions[${j}].p`) };
      });
    }
    if (o.issue !== undefined && o.issue !== null) {
      const io = expectObject(o.issue, `${where}.issue`);
      const kind = expectString(io.kind, `${where}.issue.kind`);
      if (!(kind in ISSUE_NAMES)) throw new PayloadError(`${where}.issue.kind must be label, duplicate or unusable`);
      item.issue = {
        kind: kind as SuspectKind,
        score: probability(io.score, `${where}.issue.score`),
        suggested: io.suggested === undefined || io.suggested === null ? undefined : expectLabel(io.suggested, `${where}.issue.suggested`, classes),
        detail: optionalString(io.detail, `${where}.issue.detail`),
      };
    }
    return item;
  });
  let cam: ReviewPayload["cam"];
  if (p.cam !== undefined && p.cam !== null) {
    const c = expectObject(p.cam, "cam");
    cam = { method: expectString(c.method, "cam.method"), layer: expectString(c.layer, "cam.layer") };
  }
  const renderer = typeof p.renderer === "string" ? p.renderer : RENDERER_ID.review;
  return { reviewId, dataset: optionalString(p.dataset, "dataset") ?? "dataset", classes, renderer, total: p.total === undefined ? items.length : expectInt(p.total, "total"), items, cam };
}

/** A state in a kernel's reply: a class label and an excluded flag. */
export function isState(v: unknown, classes: string[]): v is ReviewItemState {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return typeof s.label === "string" && classes.includes(s.label) && typeof s.excluded === "boolean";
}
