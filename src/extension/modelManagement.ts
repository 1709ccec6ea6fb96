import type * as vscode from 'vscode';
import type { ModelController } from './modelController';

/** Placeholder until the feature lands. */
export class ModelManagement implements vscode.Disposable {
  constructor(
    readonly context: vscode.ExtensionContext,
    readonly model: ModelController,
    readonly log: vscode.LogOutputChannel,
  ) {}

  dispose(): void {}
}
