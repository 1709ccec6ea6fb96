// The layer rules of eslint.config.mjs (CONTRIBUTING.md "Layers") fire: each fixture below is
// linted as if it were a file of that folder, so a rule that silently stopped matching (a regex
// typo, a moved folder) fails here rather than letting an import cross a layer unnoticed.
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const repoRoot = path.join(__dirname, '..', '..');

interface Fixture {
  file: string;
  code: string;
  /** A fragment of the message the layer rule gives; absent: the import is allowed. */
  refused?: RegExp;
}

const FIXTURES: Fixture[] = [
  { file: 'src/shared/fixture.ts', code: "import type { Engine } from '../core/engine';", refused: /src\/shared is the leaf/ },
  { file: 'src/shared/fixture.ts', code: "export type { ModelInfo } from '../core/model';", refused: /src\/shared is the leaf/ },
  { file: 'src/shared/fixture.ts', code: "import { ModelClient } from '../client/client';", refused: /src\/shared is the leaf/ },
  { file: 'src/shared/fixture.ts', code: "import type { ModelInfo } from './engineTypes';" },
  { file: 'src/client/fixture.ts', code: "import { ModelService } from '../host/modelService';", refused: /must not import src\/host/ },
  { file: 'src/client/fixture.ts', code: "import { loadEngine } from '../core/engine';", refused: /uses only errors/ },
  { file: 'src/client/fixture.ts', code: "import { LmLensError } from '../core/errors';" },
  { file: 'src/host/fixture.ts', code: "import { ModelClient } from '../client/client';", refused: /must not import src\/client/ },
  { file: 'src/extension/fixture.ts', code: "import { DocumentStore } from '../host/documentStore';", refused: /through src\/client/ },
  { file: 'src/extension/fixture.ts', code: "import { ModelClient } from '../client/client';" },
  { file: 'src/core/fixture.ts', code: "import { ModelClient } from '../client/client';", refused: /must not import src\/client/ },
  { file: 'media/report/fixture.ts', code: "import type { Engine } from '../../src/core/engine';", refused: /media\/ imports only src\/shared/ },
];

describe('layers: the lint rules that keep src/ apart', function () {
  // Loading typescript-eslint takes a few seconds on a busy machine.
  this.timeout(60_000);
  const eslint = new ESLint({ cwd: repoRoot });

  for (const fixture of FIXTURES) {
    it(`${fixture.refused ? 'refuses' : 'allows'} in ${fixture.file}: ${fixture.code}`, async () => {
      const [result] = await eslint.lintText(`${fixture.code}\nexport const used = 1;\n`, { filePath: path.join(repoRoot, fixture.file) });
      const layerMessages = result.messages.filter((message) => message.ruleId === 'no-restricted-imports').map((message) => message.message);
      if (fixture.refused) {
        assert.equal(layerMessages.length, 1, `expected one layer error, got ${JSON.stringify(result.messages)}`);
        assert.match(layerMessages[0], fixture.refused);
      } else {
        assert.deepEqual(layerMessages, []);
      }
    });
  }

  it('src/shared itself imports nothing from the rest of src/ (read from the files, not from the linter)', () => {
    const folder = path.join(repoRoot, 'src', 'shared');
    const files = readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'));
    assert.ok(files.length > 5, 'src/shared has its files');
    const leaving = files.flatMap((name) =>
      [...readFileSync(path.join(folder, name), 'utf8').matchAll(/\bfrom\s+'(\.\.\/[^']*)'/g)].map((match) => `${name}: ${match[1]}`),
    );
    assert.deepEqual(leaving, []);
  });
});
