/**
 * The language of fernb's code cells. In VS Code they use a language id of fernb's own, so VS Code's
 * TypeScript support (one file per cell) leaves them alone and fernb's notebook-wide language
 * service (./service.ts) answers instead; the grammar is TypeScript's (syntaxes/fernb-ts.tmLanguage.json
 * includes `source.ts`).
 *
 * The `.fernb` file keeps saying "typescript": the serializer maps it to "fernb-ts" when a notebook
 * opens and back when it is saved, so files written before this language existed open with the
 * new language, and an opened and saved notebook keeps its exact bytes (no migration, and the CLI,
 * older fernb versions and the kernel read the same files as before).
 */
export const CELL_LANGUAGE = "fernb-ts";
/** What a `.fernb` file stores for a TypeScript code cell. */
export const FILE_CELL_LANGUAGE = "typescript";

/** The editor language of a code cell read from a file. */
export function toEditorLanguage(fileLanguage: string): string {
  return fileLanguage === FILE_CELL_LANGUAGE ? CELL_LANGUAGE : fileLanguage;
}

/** The file language of a code cell being saved. */
export function toFileLanguage(editorLanguage: string): string {
  return editorLanguage === CELL_LANGUAGE ? FILE_CELL_LANGUAGE : editorLanguage;
}

/** Whether a code cell of this editor language is a fernb TypeScript cell (served by the notebook's language service). */
export function isTypeScriptCell(languageId: string): boolean {
  return languageId === CELL_LANGUAGE || languageId === FILE_CELL_LANGUAGE;
}
