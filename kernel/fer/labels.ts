/**
 * The seven Ekman emotions fernb classifies, in a fixed order (the model's output order), and the
 * folder/CSV names that mean each of them.
 */
export const EMOTIONS = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"] as const;
export type Emotion = (typeof EMOTIONS)[number];

// A Map, not an object literal: folder names and labels are user text, and names such as
// "constructor" or "__proto__" must not find Object.prototype's members.
const ALIASES: ReadonlyMap<string, Emotion> = new Map<string, Emotion>([
  ["anger", "anger"], ["angry", "anger"],
  ["disgust", "disgust"], ["disgusted", "disgust"],
  ["fear", "fear"], ["fearful", "fear"], ["afraid", "fear"], ["scared", "fear"],
  ["happiness", "happiness"], ["happy", "happiness"], ["joy", "happiness"],
  ["sadness", "sadness"], ["sad", "sadness"],
  ["surprise", "surprise"], ["surprised", "surprise"],
  ["neutral", "neutral"], ["neutrality", "neutral"],
]);

/** The canonical emotion for a folder or label name (case-insensitive), or undefined if unknown. */
export function canonicalEmotion(name: string): Emotion | undefined {
  if (typeof name !== "string") return undefined;
  return ALIASES.get(name.trim().toLowerCase());
}

/** True when `value` is one of the seven EMOTIONS (exactly, not an alias). */
export function isEmotion(value: unknown): value is Emotion {
  return typeof value === "string" && (EMOTIONS as readonly string[]).includes(value);
}

/** FER2013's CSV `emotion` column: 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral. */
export const FER2013_CSV_CLASSES: readonly Emotion[] = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"];

export function emotionIndex(e: Emotion): number {
  return EMOTIONS.indexOf(e);
}
