// What every runner (code-server, Electron, UI e2e) prepares the same way: paths, the sample
// workspace, the user settings, and timings.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../scripts/codeServer';
import { ensureTestModel } from '../support/testModel';
import { testModelEnvVar } from './results';

export { createProfile, repoRoot, writeUserSettings } from '../../scripts/codeServer';
export type { ProfileDirs } from '../../scripts/codeServer';
export const extensionId = 'lm-lens.lm-lens';
export const testResultsDir = path.join(repoRoot, 'test-results');
export const testsEntry = path.join(repoRoot, 'dist', 'test', 'integration', 'index.js');
export const peerTestsEntry = path.join(repoRoot, 'dist', 'test', 'integration', 'peer.js');

export const sampleFileName = 'sample.md';
export const sampleProse = `# Alice

Alice is a curious girl who follows a white rabbit down a hole. She falls for a long time and
lands in a hall full of locked doors.

The rabbit is late for an important date. Alice finds a small golden key on a glass table, and
behind a curtain she discovers a little door that leads to the loveliest garden.

She drinks from a bottle labelled "drink me" and shrinks until she can pass through the door.
`;

/**
 * The model folder the extension is pointed at: LM_LENS_TEST_MODEL, or a tiny seeded GPT-2 built
 * once into .cache/test-models (real tokenizer, random weights), so no test touches the hub.
 */
export async function resolveTestModel(): Promise<string> {
  const fromEnv = process.env[testModelEnvVar];
  return fromEnv ? path.resolve(fromEnv) : ensureTestModel({ layers: 2, dim: 64, heads: 4 });
}

/** A second model folder, different weights and shape, for the model-switch tests (management suite). */
export const testModelBEnvVar = 'LM_LENS_TEST_MODEL_B';

export async function resolveTestModelB(): Promise<string> {
  const fromEnv = process.env[testModelBEnvVar];
  return fromEnv ? path.resolve(fromEnv) : ensureTestModel({ layers: 3, dim: 48, heads: 3, seed: 2 });
}

export interface SettingsOptions {
  model: string;
  colorTheme?: string;
}

export function testSettings(options: SettingsOptions): Record<string, unknown> {
  return {
    'lmLens.model': options.model,
    'lmLens.allowDownloads': false,
    'files.autoSave': 'off',
    'workbench.colorTheme': options.colorTheme ?? 'Default Dark Modern',
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'security.workspace.trust.enabled': false,
    'chat.commandCenter.enabled': false,
    'window.commandCenter': false,
    'git.enabled': false,
  };
}

/** A folder with one prose markdown file: what the extension's features act on. */
export function createSampleWorkspace(baseDir: string): string {
  const folder = path.join(baseDir, 'workspace');
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, sampleFileName), sampleProse);
  return folder;
}

export function assertBuilt(): void {
  const needed = [path.join(repoRoot, 'dist', 'extension.js'), testsEntry];
  const missing = needed.filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new Error(`Missing ${missing.map((file) => path.relative(repoRoot, file)).join(', ')}: run \`npm run build\` first.`);
  }
}

export class Timings {
  private readonly entries: Array<[string, number]> = [];

  async time<T>(label: string, work: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    try {
      return await work();
    } finally {
      this.entries.push([label, Date.now() - started]);
    }
  }

  /** Each step, then the total since the process started (tsx start-up and imports included). */
  report(): string {
    const total: [string, number] = ['total', performance.now()];
    return [...this.entries, total].map(([label, ms]) => `${label} ${(ms / 1000).toFixed(1)} s`).join(', ');
  }
}
