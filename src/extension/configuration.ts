import * as vscode from 'vscode';
import { SECTION, SETTINGS, clampSetting, settingId } from '../shared/settings';
import type { SettingKey } from '../shared/settings';
import type { StopUnit } from '../core/stopRules';

export { SECTION } from '../shared/settings';

/** Mirrors `contributes.configuration` in package.json; raw values are sanitised here once, by src/shared/settings.ts. */
export interface LmLensConfig {
  model: string;
  dtype: string;
  allowDownloads: boolean;
  cacheDir: string;
  hubEndpoint: string;
  threads: number;
  /** Which engine answers: the model process's own GPT-2, or a server it forwards to. */
  backend: 'local' | 'openai' | 'llama.cpp';
  server: { url: string; model: string; timeoutSeconds: number };
  nextToken: { topK: number; temperature: number; topP: number; samplingTopK: number; debounceMs: number };
  inline: { enabled: boolean; languages: string[]; maxNewTokens: number; debounceMs: number; alternatives: number; stopAt: StopUnit; minTokenProb: number };
  loss: { enabled: boolean; languages: string[]; mode: 'sentence' | 'token'; thresholds: number[]; showAnnotation: boolean; maxDocumentChars: number };
}

export const DEFAULT_THRESHOLDS: readonly number[] = SETTINGS['loss.thresholds'].default;

export function readConfig(): LmLensConfig {
  const config = vscode.workspace.getConfiguration(SECTION);
  const num = (key: Parameters<typeof clampSetting>[0]): number => clampSetting(key, config.get<unknown>(key));
  const bool = (key: 'allowDownloads' | 'inline.enabled' | 'loss.enabled' | 'loss.showAnnotation'): boolean => {
    const value = config.get<unknown>(key);
    return typeof value === 'boolean' ? value : SETTINGS[key].default;
  };
  const text = (key: 'model' | 'dtype' | 'cacheDir' | 'hubEndpoint' | 'loss.mode' | 'backend' | 'server.url' | 'server.model' | 'inline.stopAt'): string => {
    const value = config.get<unknown>(key);
    const spec: { default: string; enum?: readonly string[] } = SETTINGS[key];
    if (typeof value !== 'string' || (spec.enum && !spec.enum.includes(value))) return spec.default;
    return value;
  };
  const strings = (key: 'inline.languages' | 'loss.languages'): string[] => {
    const value = config.get<unknown>(key);
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [...SETTINGS[key].default];
  };
  const rawThresholds = config.get<unknown>('loss.thresholds');
  const thresholds = (Array.isArray(rawThresholds) ? rawThresholds : []).filter((value): value is number => typeof value === 'number' && Number.isFinite(value)).sort((a, b) => a - b);
  return {
    model: text('model').trim() || SETTINGS.model.default,
    dtype: text('dtype'),
    allowDownloads: bool('allowDownloads'),
    cacheDir: text('cacheDir'),
    hubEndpoint: text('hubEndpoint').trim(),
    threads: num('threads'),
    backend: text('backend') as LmLensConfig['backend'],
    server: { url: text('server.url').trim(), model: text('server.model').trim(), timeoutSeconds: num('server.timeoutSeconds') },
    nextToken: {
      topK: num('nextToken.topK'),
      temperature: num('nextToken.temperature'),
      topP: num('nextToken.topP'),
      samplingTopK: num('nextToken.samplingTopK'),
      debounceMs: num('nextToken.debounceMs'),
    },
    inline: {
      enabled: bool('inline.enabled'),
      languages: strings('inline.languages'),
      maxNewTokens: num('inline.maxNewTokens'),
      debounceMs: num('inline.debounceMs'),
      alternatives: num('inline.alternatives'),
      stopAt: text('inline.stopAt') as StopUnit,
      minTokenProb: num('inline.minTokenProb'),
    },
    loss: {
      enabled: bool('loss.enabled'),
      languages: strings('loss.languages'),
      mode: text('loss.mode') === 'token' ? 'token' : 'sentence',
      thresholds: thresholds.length === DEFAULT_THRESHOLDS.length ? thresholds : [...DEFAULT_THRESHOLDS],
      showAnnotation: bool('loss.showAnnotation'),
      maxDocumentChars: num('loss.maxDocumentChars'),
    },
  };
}

/** Fires `listener` with a fresh config whenever a setting under `lmLens.<prefix>` changes. */
export function onConfigChange(prefixes: string[], listener: (config: LmLensConfig) => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (prefixes.some((prefix) => event.affectsConfiguration(prefix ? `${SECTION}.${prefix}` : SECTION))) listener(readConfig());
  });
}

/**
 * Writes a setting where it takes effect: the most specific level that already sets it
 * (workspace folder, workspace), else user settings. Writing user settings while a workspace
 * overrides the key would change nothing the user sees.
 */
export async function updateSetting(key: SettingKey, value: unknown, resource?: vscode.Uri): Promise<void> {
  const configuration = vscode.workspace.getConfiguration(SECTION, resource);
  const inspected = configuration.inspect(key);
  const target =
    inspected?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await configuration.update(key, value, target);
}

export { settingId };
