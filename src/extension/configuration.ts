import * as vscode from 'vscode';

/** Mirrors `contributes.configuration` in package.json; raw values are sanitised here once. */
export interface LmLensConfig {
  model: string;
  dtype: string;
  allowDownloads: boolean;
  cacheDir: string;
  threads: number;
  nextToken: { topK: number; temperature: number; topP: number; samplingTopK: number; debounceMs: number };
  inline: { enabled: boolean; languages: string[]; maxNewTokens: number; debounceMs: number; alternatives: number };
  loss: { enabled: boolean; languages: string[]; mode: 'sentence' | 'token'; thresholds: number[]; showAnnotation: boolean; maxDocumentChars: number };
}

export const SECTION = 'lmLens';

const clamp = (value: unknown, min: number, max: number, fallback: number): number =>
  typeof value === 'number' && Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
const strings = (value: unknown, fallback: string[]): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : fallback);

export const DEFAULT_THRESHOLDS = [3, 4.5, 6, 7.5];

export function readConfig(): LmLensConfig {
  const config = vscode.workspace.getConfiguration(SECTION);
  const rawThresholds = config.get<unknown>('loss.thresholds');
  const numericThresholds = (Array.isArray(rawThresholds) ? rawThresholds : []).filter((value): value is number => typeof value === 'number' && Number.isFinite(value)).sort((a, b) => a - b);
  return {
    model: (config.get<string>('model') ?? '').trim() || 'Xenova/gpt2',
    dtype: config.get<string>('dtype') ?? 'fp32',
    allowDownloads: config.get<boolean>('allowDownloads') ?? true,
    cacheDir: config.get<string>('cacheDir') ?? '',
    threads: Math.round(clamp(config.get('threads'), 0, 64, 0)),
    nextToken: {
      topK: Math.round(clamp(config.get('nextToken.topK'), 1, 100, 10)),
      temperature: clamp(config.get('nextToken.temperature'), 0.05, 5, 1),
      topP: clamp(config.get('nextToken.topP'), 0.01, 1, 1),
      samplingTopK: Math.round(clamp(config.get('nextToken.samplingTopK'), 0, 50257, 0)),
      debounceMs: Math.round(clamp(config.get('nextToken.debounceMs'), 0, 2000, 150)),
    },
    inline: {
      enabled: config.get<boolean>('inline.enabled') ?? true,
      languages: strings(config.get('inline.languages'), ['plaintext', 'markdown', 'latex', 'restructuredtext', 'git-commit']),
      maxNewTokens: Math.round(clamp(config.get('inline.maxNewTokens'), 1, 64, 16)),
      debounceMs: Math.round(clamp(config.get('inline.debounceMs'), 0, 5000, 300)),
      alternatives: Math.round(clamp(config.get('inline.alternatives'), 0, 8, 3)),
    },
    loss: {
      enabled: config.get<boolean>('loss.enabled') ?? true,
      languages: strings(config.get('loss.languages'), ['plaintext', 'markdown', 'latex', 'restructuredtext']),
      mode: config.get<string>('loss.mode') === 'token' ? 'token' : 'sentence',
      thresholds: numericThresholds.length === 4 ? numericThresholds : DEFAULT_THRESHOLDS,
      showAnnotation: config.get<boolean>('loss.showAnnotation') ?? false,
      maxDocumentChars: Math.round(clamp(config.get('loss.maxDocumentChars'), 1000, 50_000_000, 200_000)),
    },
  };
}

/** Fires `listener` with a fresh config whenever a setting under `lmLens.<prefix>` changes. */
export function onConfigChange(prefixes: string[], listener: (config: LmLensConfig) => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (prefixes.some((prefix) => event.affectsConfiguration(prefix ? `${SECTION}.${prefix}` : SECTION))) listener(readConfig());
  });
}
