// `npm start`: open VS Code with LM Lens (built from this checkout) on a sample document.
// Desktop `code` when it is on PATH; otherwise code-server on 127.0.0.1, installed on first use.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createProfile, ensureCodeServer, repoRoot, startCodeServer, workbenchUrl } from './codeServer';

const sample = path.join(repoRoot, 'media', 'sample.md');

function hasDesktopCode(): boolean {
  return spawnSync('code', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function main(): Promise<void> {
  if (!process.env.LM_LENS_USE_CODE_SERVER && hasDesktopCode()) {
    console.log('Opening VS Code with LM Lens from this checkout…');
    spawnSync('code', ['--new-window', `--extensionDevelopmentPath=${repoRoot}`, sample], { stdio: 'inherit' });
    return;
  }
  console.log('No desktop `code` on PATH: starting code-server (installed into .cache on first use)…');
  const install = ensureCodeServer();
  const baseDir = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-start-'));
  // The user's own model settings apply; only the model location can be preset from the environment.
  const settings: Record<string, unknown> = { 'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false };
  if (process.env.LM_LENS_MODEL) settings['lmLens.model'] = path.resolve(process.env.LM_LENS_MODEL);
  const profile = createProfile(baseDir, settings);
  const server = await startCodeServer(install, { profile });
  const url = workbenchUrl(server, path.dirname(sample), [
    ['extensionDevelopmentPath', `vscode-remote://${server.authority}${repoRoot}`],
    ['openFile', `vscode-remote://${server.authority}${sample}`],
  ]);
  console.log(`\nLM Lens is running in VS Code at:\n\n  ${url}\n\nOpen it in a browser (press Ctrl+C here to stop).`);
  const stop = (): void => void server.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
