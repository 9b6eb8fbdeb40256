/**
 * The seven Ekman emotions fernb classifies, in a fixed order (the model's output order), and the
 * folder/CSV names that mean each of them.
 */
export const EMOTIONS = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"] as const;
export type Emotion = (typeof EMOTIONS)[number];

const ALIASES: Record<string, Emotion> = {
  anger: "anger", angry: "anger",
  disgust: "disgust", disgusted: "disgust",
  fear: "fear", fearful: "fear", afraid: "fear", scared: "fear",
  happiness: "happiness", happy: "happiness", joy: "happiness",
  sadness: "sadness", sad: "sadness",
  surprise: "surprise", surprised: "surprise",
  neutral: "neutral", neutrality: "neutral",
};

/** The canonical emotion for a folder or label name (case-insensitive), or undefined if unknown. */
export function canonicalEmotion(name: string): Emotion | undefined {
  return ALIASES[name.trim().toLowerCase()];
}

/** FER2013's CSV `emotion` column: 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral. */
export const FER2013_CSV_CLASSES: readonly Emotion[] = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"];

export function emotionIndex(e: Emotion): number {
  return EMOTIONS.indexOf(e);
}
