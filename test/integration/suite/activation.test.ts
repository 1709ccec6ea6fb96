import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { testModelEnvVar } from '../results';

const extensionId = 'lm-lens.lm-lens';

interface Manifest {
  contributes: {
    commands: Array<{ command: string; title: string }>;
    configuration: { properties: Record<string, { default?: unknown }> };
  };
}

function lmLens(): vscode.Extension<unknown> {
  const extension = vscode.extensions.getExtension(extensionId);
  assert.ok(extension, `${extensionId} is not installed in this extension host`);
  return extension;
}

// The manifest the host actually loaded, not the file on disk: catches a stale dist/ or VSIX.
function manifest(): Manifest {
  return lmLens().packageJSON as Manifest;
}

describe('activation', () => {
  it('activates', async () => {
    const extension = lmLens();
    await extension.activate();
    assert.equal(extension.isActive, true);
  });

  it('registers every command it contributes', async () => {
    await lmLens().activate();
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = manifest()
      .contributes.commands.map((entry) => entry.command)
      .filter((command) => !registered.has(command));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  it('declares every setting with its default', () => {
    const configuration = vscode.workspace.getConfiguration('lmLens');
    const properties = Object.entries(manifest().contributes.configuration.properties);
    assert.ok(properties.length > 0, 'no settings contributed');
    for (const [key, schema] of properties) {
      assert.ok(key.startsWith('lmLens.'), `${key} is outside the lmLens section`);
      const inspected = configuration.inspect(key.slice('lmLens.'.length));
      assert.ok(inspected, `${key} is unknown to VS Code`);
      assert.deepEqual(inspected.defaultValue, schema.default, `${key} default`);
    }
  });

  // The runners hand the model folder both ways (env and user settings); both must arrive,
  // or feature suites would silently test the hub default.
  it('sees the runner environment and user settings', function () {
    const model = process.env[testModelEnvVar];
    if (!model) {
      this.skip();
    }
    const configuration = vscode.workspace.getConfiguration('lmLens');
    assert.equal(configuration.get('model'), model);
    assert.equal(configuration.get('allowDownloads'), false);
  });
});
