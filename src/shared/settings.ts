// Every `lmLens.*` setting once: key, type, default, limits and scope. The extension reads and
// clamps through this table, the panel takes its input ranges from it, the model process takes
// its text limit from it, and a unit test checks `contributes.configuration` in package.json
// against it, so a default or a range can no longer disagree between those places.

export const SECTION = 'lmLens';

/** The model used when `lmLens.model` (or the CLI's --model) is empty. */
export const DEFAULT_MODEL = 'Xenova/gpt2';

/**
 * The longest text the model process accepts in one request or one open document. It is also the
 * upper limit of `loss.maxDocumentChars`, so a document the user confirms can always be scored.
 */
export const MAX_TEXT_CHARS = 2_000_000;

/** Where a value may come from; `machine`: user settings only, a workspace cannot redirect it. */
export type SettingScope = 'machine' | 'window' | 'resource';

interface Base {
  scope?: SettingScope;
}

export interface NumberSetting extends Base {
  type: 'integer' | 'number';
  default: number;
  minimum: number;
  maximum: number;
}

export interface BooleanSetting extends Base {
  type: 'boolean';
  default: boolean;
}

export interface StringSetting extends Base {
  type: 'string';
  default: string;
  enum?: readonly string[];
}

export interface ArraySetting extends Base {
  type: 'array';
  items: 'string' | 'number';
  default: readonly string[] | readonly number[];
}

export type SettingSpec = NumberSetting | BooleanSetting | StringSetting | ArraySetting;

const PROSE_LANGUAGES = ['plaintext', 'markdown', 'latex', 'restructuredtext'] as const;

export const SETTINGS = {
  model: { type: 'string', default: DEFAULT_MODEL, scope: 'machine' },
  dtype: { type: 'string', default: 'fp32', enum: ['fp32', 'q8-fast', 'fp16', 'q8', 'int8', 'q4'], scope: 'machine' },
  allowDownloads: { type: 'boolean', default: true, scope: 'machine' },
  cacheDir: { type: 'string', default: '', scope: 'machine' },
  hubEndpoint: { type: 'string', default: 'https://huggingface.co', scope: 'machine' },
  threads: { type: 'integer', default: 0, minimum: 0, maximum: 64, scope: 'machine' },
  backend: { type: 'string', default: 'local', enum: ['local', 'openai', 'llama.cpp'], scope: 'machine' },
  'server.url': { type: 'string', default: 'http://127.0.0.1:8000', scope: 'machine' },
  'server.model': { type: 'string', default: '', scope: 'machine' },
  // Below the extension's 120 s wait for the model process, so a slow server is named as such.
  'server.timeoutSeconds': { type: 'integer', default: 60, minimum: 5, maximum: 100, scope: 'machine' },
  'nextToken.topK': { type: 'integer', default: 10, minimum: 1, maximum: 100 },
  'nextToken.temperature': { type: 'number', default: 1, minimum: 0.05, maximum: 5 },
  'nextToken.topP': { type: 'number', default: 1, minimum: 0.01, maximum: 1 },
  'nextToken.samplingTopK': { type: 'integer', default: 0, minimum: 0, maximum: 50257 },
  'nextToken.debounceMs': { type: 'integer', default: 150, minimum: 0, maximum: 2000 },
  'inline.enabled': { type: 'boolean', default: true },
  'inline.languages': { type: 'array', items: 'string', default: [...PROSE_LANGUAGES, 'git-commit'] },
  'inline.maxNewTokens': { type: 'integer', default: 16, minimum: 1, maximum: 64 },
  'inline.debounceMs': { type: 'integer', default: 300, minimum: 0, maximum: 5000 },
  'inline.alternatives': { type: 'integer', default: 3, minimum: 0, maximum: 8 },
  'inline.stopAt': { type: 'string', default: 'sentence', enum: ['sentence', 'line', 'paragraph'] },
  // The model's probability of a generated token; below it the completion ends (0 = never).
  'inline.minTokenProb': { type: 'number', default: 0.02, minimum: 0, maximum: 0.5 },
  'loss.enabled': { type: 'boolean', default: true },
  'loss.languages': { type: 'array', items: 'string', default: PROSE_LANGUAGES },
  'loss.mode': { type: 'string', default: 'sentence', enum: ['sentence', 'token'] },
  'loss.thresholds': { type: 'array', items: 'number', default: [3, 4.5, 6, 7.5] },
  'loss.showAnnotation': { type: 'boolean', default: false },
  'loss.maxDocumentChars': { type: 'integer', default: 200_000, minimum: 1000, maximum: MAX_TEXT_CHARS },
} as const satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;
export type NumberSettingKey = { [K in SettingKey]: (typeof SETTINGS)[K] extends { minimum: number } ? K : never }[SettingKey];

/** The full id VS Code knows a setting by, e.g. `lmLens.loss.enabled`. */
export function settingId(key: SettingKey): string {
  return `${SECTION}.${key}`;
}

/** A raw value clamped to the setting's range (rounded for integers); the default when not a finite number. */
export function clampSetting(key: NumberSettingKey, value: unknown): number {
  const spec: NumberSetting = SETTINGS[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) return spec.default;
  const clamped = Math.min(spec.maximum, Math.max(spec.minimum, value));
  return spec.type === 'integer' ? Math.round(clamped) : clamped;
}
