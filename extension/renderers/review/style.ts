/** The review grid's style sheet: colours from the VS Code theme's CSS variables. */
import { BASE_CSS } from "../_shared";

export const CSS = `
.fernb-rv { ${BASE_CSS} }
.fernb-rv .rv-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; margin: 2px 0 6px; }
.fernb-rv .rv-title { font-weight: 600; }
.fernb-rv .rv-stats, .fernb-rv .rv-hint { opacity: 0.85; }
.fernb-rv .rv-hint { font-size: 0.92em; margin: 4px 0; }
.fernb-rv .rv-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; margin: 4px 0; }
.fernb-rv label { display: inline-flex; align-items: center; gap: 4px; }
.fernb-rv select, .fernb-rv button { font: inherit; border-radius: 2px; padding: 1px 6px;
  color: var(--vscode-dropdown-foreground, var(--vscode-editor-foreground, #333));
  background: var(--vscode-dropdown-background, var(--vscode-editor-background, #fff));
  border: 1px solid var(--vscode-dropdown-border, var(--vscode-editorWidget-border, #8888)); }
.fernb-rv button { cursor: pointer; color: var(--vscode-button-secondaryForeground, var(--vscode-editor-foreground, #333));
  background: var(--vscode-button-secondaryBackground, transparent); }
.fernb-rv button:disabled { opacity: 0.5; cursor: default; }
.fernb-rv select:focus-visible, .fernb-rv button:focus-visible, .fernb-rv .rv-tile:focus { outline: 2px solid var(--vscode-focusBorder, #0078d4); outline-offset: 1px; }
.fernb-rv .rv-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin-top: 6px; }
.fernb-rv .rv-row { display: contents; }
.fernb-rv .rv-tile { padding: 6px; border-radius: 3px; display: flex; flex-direction: column; gap: 3px; font-size: 0.92em; cursor: default;
  border: 1px solid var(--vscode-editorWidget-border, var(--vscode-contrastBorder, #8886)); }
.fernb-rv .rv-tile[aria-selected="true"] { background: var(--vscode-list-activeSelectionBackground, var(--vscode-editor-selectionBackground, #add6ff));
  color: var(--vscode-list-activeSelectionForeground, inherit); }
.fernb-rv .rv-tile.rv-excluded img { opacity: 0.35; }
.fernb-rv .rv-tile img, .fernb-rv .rv-noimg { width: 72px; height: 72px; object-fit: contain; image-rendering: pixelated; align-self: center;
  background: var(--vscode-editorWidget-background, #8882); }
.fernb-rv .rv-noimg { display: flex; align-items: center; justify-content: center; opacity: 0.7; border: 1px dashed var(--vscode-editorWidget-border, #8888); }
.fernb-rv .rv-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; opacity: 0.85; }
.fernb-rv .rv-label { font-weight: 600; }
.fernb-rv .rv-badge { font-weight: normal; font-size: 0.85em; padding: 0 4px; border-radius: 2px; margin-left: 4px;
  color: var(--vscode-badge-foreground, #fff); background: var(--vscode-badge-background, #616161); }
.fernb-rv .rv-issue { color: var(--vscode-editorWarning-foreground, #bf8803); }
.fernb-rv .rv-issue-low { color: var(--vscode-descriptionForeground, #717171); }
.fernb-rv .rv-preds { margin: 0; padding: 0; list-style: none; font-variant-numeric: tabular-nums; opacity: 0.9; }
.fernb-rv .rv-actions { display: flex; flex-wrap: wrap; gap: 4px; }
.fernb-rv .rv-status { min-height: 1.2em; font-size: 0.9em; opacity: 0.9; }
.fernb-rv .rv-status.rv-err, .fernb-rv .rv-undo-status.rv-err { color: var(--vscode-errorForeground, #c72e0f); opacity: 1; }
.fernb-rv .rv-status.rv-ok { color: var(--vscode-charts-green, #388a34); opacity: 1; }
.fernb-rv .rv-empty { opacity: 0.8; padding: 8px 0; }
.fernb-rv .rv-face { align-self: center; display: flex; }
.fernb-rv canvas.rv-cam-canvas { width: 72px; height: 72px; image-rendering: pixelated; }
.fernb-rv .rv-cam[aria-pressed="true"] { outline: 1px solid var(--vscode-focusBorder, #0078d4); }
.fernb-rv .rv-cam-info { font-size: 0.9em; opacity: 0.9; display: flex; flex-wrap: wrap; gap: 2px 6px; align-items: center; }
.fernb-rv .rv-cam-info button { font-size: 0.92em; padding: 0 4px; }
`;
