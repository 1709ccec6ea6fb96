import * as vscode from 'vscode';
import { InlineCompletionsFeature } from './inlineCompletions';
import { SentenceLossFeature } from './lossDecorations';
import type { LossProbe } from './lossProbe';
import { ModelController } from './modelController';
import { ModelManagement } from './modelManagement';
import { NextTokenPanelController } from './nextTokenPanel';

/** What `activate` returns: the one door through which the integration tests look in. */
export interface LmLensApi {
  model: ModelController;
  panel: NextTokenPanelController;
  inline: InlineCompletionsFeature;
  loss: LossProbe;
  management: ModelManagement;
}

export function activate(context: vscode.ExtensionContext): LmLensApi {
  const log = vscode.window.createOutputChannel('LM Lens', { log: true });
  const model = new ModelController(context, log);
  const loss = new SentenceLossFeature(context, model);
  const api: LmLensApi = {
    model,
    management: new ModelManagement(context, model, log),
    panel: new NextTokenPanelController(context, model),
    inline: new InlineCompletionsFeature(context, model),
    loss: loss.probe,
  };
  context.subscriptions.push(log, model, api.management, api.panel, api.inline, loss);
  log.info(`LM Lens ${String(context.extension.packageJSON.version)} activated`);
  return api;
}

export function deactivate(): void {
  // Everything is registered on context.subscriptions and disposed by VS Code.
}
