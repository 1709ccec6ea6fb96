/**
 * The decoration types of the loss feature: one per band (sentence mode) or GLTR bucket
 * (token mode), plus one for end-of-line annotations, created together and disposed together.
 * They are rebuilt only when the key changes (mode, annotations, high contrast on or off).
 */
import * as vscode from 'vscode';
import type { TextRange } from '../shared/textRange';
import { GLTR_BUCKETS, SENTENCE_BANDS } from './lossBands';
import type { Swatch } from './lossBands';
import type { DecorationPlan, LossMode } from './lossRanges';

export interface LossStyleKey {
  mode: LossMode;
  annotations: boolean;
  highContrast: boolean;
}

export function sameStyle(a: LossStyleKey, b: LossStyleKey): boolean {
  return a.mode === b.mode && a.annotations === b.annotations && a.highContrast === b.highContrast;
}

export function isHighContrast(kind: vscode.ColorThemeKind): boolean {
  return kind === vscode.ColorThemeKind.HighContrast || kind === vscode.ColorThemeKind.HighContrastLight;
}

export class LossDecorationTypes implements vscode.Disposable {
  readonly groups: vscode.TextEditorDecorationType[];
  readonly annotation: vscode.TextEditorDecorationType | undefined;

  constructor(readonly key: LossStyleKey) {
    const swatches = key.mode === 'token' ? GLTR_BUCKETS : SENTENCE_BANDS;
    this.groups = swatches.map((swatch, i) => vscode.window.createTextEditorDecorationType(groupOptions(swatch, key, i === swatches.length - 1)));
    this.annotation = key.annotations
      ? vscode.window.createTextEditorDecorationType({
          rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
          // Muted like Error Lens's messages: informative at a glance, never louder than the text.
          after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), margin: '0 0 0 2.5em', fontStyle: 'italic' },
        })
      : undefined;
  }

  /** Draws a plan (offsets into `document`'s current text) in each editor, replacing what was there. */
  draw(editors: readonly vscode.TextEditor[], plan: DecorationPlan, document: vscode.TextDocument): void {
    const toRange = (range: TextRange): vscode.Range => new vscode.Range(document.positionAt(range.start), document.positionAt(range.end));
    const groups = plan.groups.map((ranges) => ranges.map(toRange));
    const annotations = plan.annotations.map((annotation): vscode.DecorationOptions => ({
      range: toRange({ start: annotation.offset, end: annotation.offset }),
      renderOptions: { after: { contentText: annotation.text } },
    }));
    for (const editor of editors) {
      this.groups.forEach((type, i) => editor.setDecorations(type, groups[i] ?? []));
      if (this.annotation) editor.setDecorations(this.annotation, annotations);
    }
  }

  clear(editor: vscode.TextEditor): void {
    for (const type of this.groups) editor.setDecorations(type, []);
    if (this.annotation) editor.setDecorations(this.annotation, []);
  }

  dispose(): void {
    for (const type of this.groups) type.dispose();
    this.annotation?.dispose();
  }
}

/**
 * A tint and a thin underline in contributed colours (themes may override both; high contrast
 * defaults to no tint and strong colours), with a thicker underline in high contrast. The worst
 * group also marks the overview ruler so it can be found.
 */
function groupOptions(swatch: Swatch, key: LossStyleKey, worst: boolean): vscode.DecorationRenderOptions {
  const color = new vscode.ThemeColor(swatch.colorId);
  return {
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    backgroundColor: new vscode.ThemeColor(swatch.backgroundId),
    borderColor: color,
    borderStyle: 'solid',
    borderWidth: key.highContrast ? '0 0 2px 0' : '0 0 1px 0',
    ...(worst ? { overviewRulerColor: color, overviewRulerLane: vscode.OverviewRulerLane.Right } : {}),
  };
}
