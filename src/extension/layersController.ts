// The next-token panel's Layers view, extension side: asks the model process for the lens at the
// panel's target after each prediction (on the panel's channel, so the next keystroke cancels it),
// keeps the whole answer so the attention controls re-pick without a request, and shades the
// context tokens in the followed editor by the picked attention while the view is on.
import * as vscode from 'vscode';
import { errorMessage, isCancelled } from '../core/errors';
import { lensRequest } from '../shared/hostProtocol';
import type { LensResponse } from '../shared/hostProtocol';
import { ATTENTION_LEVELS, LENS_TOP, attentionLevel, layersView } from '../shared/layersView';
import type { LayersView, LensControls } from '../shared/layersView';
import type { PanelState } from '../shared/panelProtocol';
import type { ModelController } from './modelController';
import type { Target } from './panelTarget';

interface Shown {
  id: number;
  response: LensResponse;
  document: vscode.TextDocument;
  /** Document offset of the request text's first character. */
  textStart: number;
}

export class LayersController implements vscode.Disposable {
  private shown: Shown | undefined;
  /** One decoration type per shading level, made on first use. */
  private levels: vscode.TextEditorDecorationType[] = [];

  constructor(private readonly model: ModelController) {}

  /**
   * The lens at `target`, as the panel's `layers`/`layersNote`; undefined when cancelled (a newer
   * request took the channel). A server or an export the lens does not know gives a note, not an error.
   */
  async refresh(id: number, target: Target, controls: LensControls): Promise<Pick<PanelState, 'layers' | 'layersNote'> | undefined> {
    try {
      const response = await this.model.request('panel', lensRequest, { text: target.text, top: LENS_TOP });
      const textStart = target.document.offsetAt(target.position) - target.text.length;
      this.shown = { id, response, document: target.document, textStart };
      const view = layersView(id, response, controls);
      this.decorate(view);
      return { layers: view, layersNote: undefined };
    } catch (error) {
      if (isCancelled(error)) return undefined;
      this.clear();
      return { layers: undefined, layersNote: errorMessage(error) };
    }
  }

  /** The kept answer seen through new controls (no request); undefined when none is kept. */
  repick(controls: LensControls): LayersView | undefined {
    if (!this.shown) return undefined;
    const view = layersView(this.shown.id, this.shown.response, controls);
    this.decorate(view);
    return view;
  }

  private decorate(view: LayersView): void {
    const shown = this.shown;
    if (!shown) return;
    if (this.levels.length === 0) {
      // A violet wash, apart from sentence loss's bands, that reads on dark, light and high-contrast
      // themes; strength = attention relative to the most attended token.
      this.levels = Array.from({ length: ATTENTION_LEVELS }, (_, i) =>
        vscode.window.createTextEditorDecorationType({ backgroundColor: `rgba(170, 90, 255, ${(0.08 + (0.5 * (i + 1)) / ATTENTION_LEVELS).toFixed(3)})`, borderRadius: '2px' }),
      );
    }
    const max = Math.max(0, ...view.attention);
    const ranges: vscode.Range[][] = this.levels.map(() => []);
    view.attention.forEach((weight, position) => {
      const span = shown.response.spans[position];
      const level = attentionLevel(weight, max);
      if (!span || level === 0) return;
      const start = shown.document.positionAt(shown.textStart + span[0]);
      const end = shown.document.positionAt(shown.textStart + span[1]);
      ranges[level - 1]?.push(new vscode.Range(start, end));
    });
    // Other editors lose the shading: the panel may have followed the cursor away from them.
    for (const editor of vscode.window.visibleTextEditors) {
      const mine = editor.document === shown.document;
      this.levels.forEach((type, i) => editor.setDecorations(type, mine ? (ranges[i] ?? []) : []));
    }
  }

  /** Off, or the panel closed: no shading left in any editor, nothing kept. */
  clear(): void {
    this.shown = undefined;
    for (const type of this.levels) type.dispose();
    this.levels = [];
  }

  dispose(): void {
    this.clear();
  }
}
