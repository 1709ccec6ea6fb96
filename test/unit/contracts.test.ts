// package.json's contributions against the one table of each fact in src/shared: a setting whose
// default or range differs, or a command registered under another id, fails here.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { contributedColors } from '../../src/extension/lossBands';
import { COMMANDS } from '../../src/shared/commands';
import { CONTROL_LIMITS, CONTROL_SETTINGS } from '../../src/shared/panelProtocol';
import { MAX_TEXT_CHARS, SECTION, SETTINGS, clampSetting } from '../../src/shared/settings';
import type { SettingSpec } from '../../src/shared/settings';

interface ContributedSetting {
  type: string;
  default: unknown;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  scope?: string;
  items?: { type: string };
}

const manifest = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, ContributedSetting> }; commands: Array<{ command: string }>; colors: unknown[] };
};
const contributed = manifest.contributes.configuration.properties;

/** The fields of a contributed setting that the table also states. */
function facts(spec: SettingSpec | ContributedSetting): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: spec.type, default: spec.default, scope: spec.scope ?? 'window' };
  if ('minimum' in spec) fields.minimum = spec.minimum;
  if ('maximum' in spec) fields.maximum = spec.maximum;
  if ('enum' in spec) fields.enum = spec.enum;
  if ('items' in spec) fields.items = typeof spec.items === 'string' ? spec.items : spec.items?.type;
  return fields;
}

describe('contracts: package.json against src/shared', () => {
  it('contributes exactly the settings of the table', () => {
    assert.deepEqual(Object.keys(contributed).sort(), Object.keys(SETTINGS).map((key) => `${SECTION}.${key}`).sort());
  });

  for (const [key, spec] of Object.entries(SETTINGS) as Array<[string, SettingSpec]>) {
    it(`lmLens.${key}: type, default, limits and scope agree`, () => {
      const entry = contributed[`${SECTION}.${key}`];
      assert.ok(entry, `package.json lacks lmLens.${key}`);
      assert.deepEqual(facts(entry), facts(spec));
    });
  }

  it('every numeric setting has both limits, and its default lies between them', () => {
    for (const [key, spec] of Object.entries(SETTINGS) as Array<[string, SettingSpec]>) {
      if (spec.type !== 'integer' && spec.type !== 'number') continue;
      assert.ok(spec.minimum <= spec.default && spec.default <= spec.maximum, key);
    }
  });

  it('a document the user may confirm is one the model process accepts (one limit)', () => {
    assert.equal(SETTINGS['loss.maxDocumentChars'].maximum, MAX_TEXT_CHARS);
    assert.equal(clampSetting('loss.maxDocumentChars', 50_000_000), MAX_TEXT_CHARS);
    assert.equal(clampSetting('loss.maxDocumentChars', 10), 1000);
    assert.equal(clampSetting('loss.maxDocumentChars', 'lots'), 200_000);
    assert.equal(clampSetting('nextToken.topK', 7.6), 8, 'integers are rounded');
  });

  it("the panel's input ranges are the settings' ranges", () => {
    for (const [control, key] of Object.entries(CONTROL_SETTINGS)) {
      const limit = CONTROL_LIMITS[control as keyof typeof CONTROL_LIMITS];
      assert.equal(limit.min, SETTINGS[key].minimum, control);
      assert.equal(limit.max, SETTINGS[key].maximum, control);
    }
  });

  it('contributes the decoration colours, with high-contrast defaults and no tint there', () => {
    assert.deepEqual(manifest.contributes.colors, contributedColors());
    for (const color of contributedColors()) {
      assert.ok(color.defaults.highContrast && color.defaults.highContrastLight, color.id);
      if (color.id.endsWith('Background')) assert.equal(color.defaults.highContrast, '#00000000', color.id);
    }
  });

  it('contributes exactly the command ids of the table', () => {
    assert.deepEqual(manifest.contributes.commands.map((command) => command.command).sort(), Object.values(COMMANDS).sort());
  });
});
