import * as vscode from 'vscode';
import { BranchingCommands } from './branching';
import { InlineCompletionsFeature } from './inlineCompletions';
import { SentenceLossFeature } from './lossDecorations';
import type { LossProbe } from './lossProbe';
import { ModelController } from './modelController';
import { ModelManagement } from './modelManagement';
import { NextTokenPanelController } from './nextTokenPanel';
import { ModelProbe, PanelProbe } from './probes';
import { ReportPanel } from './reportPanel';
import type { ReportProbe } from './reportProbe';

/** What `activate` returns: the one door through which the integration tests look in. */
export interface LmLensApi {
  model: ModelController;
  panel: NextTokenPanelController;
  inline: InlineCompletionsFeature;
  loss: LossProbe;
  management: ModelManagement;
  /** What the panel sent to its webview. */
  panelProbe: PanelProbe;
  /** The model states this window saw, and the download notification's messages. */
  modelProbe: ModelProbe;
  /** What the document report sent to its webview and saved, and doors that stand in for the user. */
  report: ReportProbe;
  /** Replace a token with an alternative (and continue): the hover's and the panel's actions. */
  branching: BranchingCommands;
}

export function activate(context: vscode.ExtensionContext): LmLensApi {
  const log = vscode.window.createOutputChannel('LM Lens', { log: true });
  const model = new ModelController(context, log);
  const modelProbe = new ModelProbe(model.state, model);
  const loss = new SentenceLossFeature(context, model);
  const panel = new NextTokenPanelController(context, model);
  const report = new ReportPanel(context, model, loss);
  const api: LmLensApi = {
    model,
    management: new ModelManagement(context, model, log),
    panel,
    inline: new InlineCompletionsFeature(context, model),
    loss: loss.probe,
    panelProbe: new PanelProbe(panel.onDidRender, panel.onDidClose),
    modelProbe,
    report: report.probe,
    branching: new BranchingCommands(),
  };
  context.subscriptions.push(log, model, modelProbe, api.management, panel, api.panelProbe, api.inline, loss, report, api.branching);
  log.info(`LM Lens ${String(context.extension.packageJSON.version)} activated`);
  return api;
}

export function deactivate(): void {
  // Everything is registered on context.subscriptions and disposed by VS Code.
}
