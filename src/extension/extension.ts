import * as vscode from 'vscode';
import { InlineCompletionsFeature } from './inlineCompletions';
import { SentenceLossFeature } from './lossDecorations';
import { ModelController } from './modelController';
import { ModelManagement } from './modelManagement';
import { NextTokenPanelController } from './nextTokenPanel';

/** What `activate` returns: the integration tests inspect the features through it. */
export interface LmLensApi {
  model: ModelController;
  panel: NextTokenPanelController;
  inline: InlineCompletionsFeature;
  loss: SentenceLossFeature;
  management: ModelManagement;
}

export function activate(context: vscode.ExtensionContext): LmLensApi {
  const log = vscode.window.createOutputChannel('LM Lens', { log: true });
  const model = new ModelController(context, log);
  const api: LmLensApi = {
    model,
    management: new ModelManagement(context, model, log),
    panel: new NextTokenPanelController(context, model),
    inline: new InlineCompletionsFeature(context, model),
    loss: new SentenceLossFeature(context, model),
  };
  context.subscriptions.push(log, model, api.management, api.panel, api.inline, api.loss);
  log.info(`LM Lens ${String(context.extension.packageJSON.version)} activated`);
  return api;
}

export function deactivate(): void {
  // Everything is registered on context.subscriptions and disposed by VS Code.
}
