import * as vscode from 'vscode';
import { readConfig } from './configuration';
import { askServer } from './modelManagement';
import type { ComparisonChoice } from './reportFeed';
import { hostOf } from './statusText';

/** Hub models with GPT-2's tokenizer: the cross-perplexity needs both models to split the text alike. */
const HUB_CHOICES = [
  { label: 'DistilGPT-2', description: 'Xenova/distilgpt2 (downloads ≈ 330 MB once)', model: 'Xenova/distilgpt2' },
  { label: 'GPT-2', description: 'Xenova/gpt2', model: 'Xenova/gpt2' },
];

/**
 * The second model of a comparison: a local folder (no download), a hub model, any id or path
 * typed in (its precision is the main model's), or a model a server serves (asked as "Use a
 * server…" asks; its key is the one "Set server API key" stored). Undefined when the user backed out.
 */
export async function pickComparisonModel(dtype: string): Promise<ComparisonChoice | undefined> {
  const config = readConfig();
  const current = config.model;
  const folder = { label: '$(folder) Choose a local folder…', description: 'a GPT-2-architecture model with the same tokenizer', model: '' };
  const typed = { label: '$(edit) Enter a model id or folder path…', description: '', model: '' };
  const server = {
    label: '$(remote) A server (vLLM, SGLang, llama-server)…',
    description: `${config.server.model || 'its first model'} · ${hostOf(config.server.url)}, or another; loss per sentence only, no cross-perplexity`,
    model: '',
  };
  const hub = config.allowDownloads ? HUB_CHOICES.filter((choice) => choice.model !== current) : [];
  const choice = await vscode.window.showQuickPick([folder, ...hub, typed, server], {
    title: 'Compare with a second model',
    placeHolder: `The report shows both models' loss per sentence and the cross-perplexity against ${current}`,
  });
  if (!choice) return undefined;
  if (choice === server) {
    const picked = await askServer('Compare with a second model');
    return picked && { server: { api: picked.api, url: picked.url, model: picked.model || undefined, timeoutMs: readConfig().server.timeoutSeconds * 1000 } };
  }
  let model = choice.model;
  if (choice === folder) {
    const picked = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, openLabel: 'Compare with this model' });
    model = picked?.[0]?.fsPath ?? '';
  } else if (choice === typed) {
    model = (await vscode.window.showInputBox({ title: 'Compare with a second model', prompt: 'A hub id (e.g. Xenova/distilgpt2) or the absolute path of a model folder' }))?.trim() ?? '';
  }
  return model ? { model, dtype } : undefined;
}
