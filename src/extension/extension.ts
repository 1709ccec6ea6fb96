import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('LM Lens', { log: true });
  context.subscriptions.push(log);
  log.info('LM Lens activated');
}

export function deactivate(): void {
  // Disposables registered on the context are disposed by VS Code.
}
