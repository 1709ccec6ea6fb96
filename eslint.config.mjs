import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noVscode = { regex: '^vscode$', message: 'Only src/extension may depend on vscode.' };
const fromDir = (dir) => ({ regex: `^(\\.\\./)+${dir}(/|$)`, message: `This layer must not import src/${dir}/.` });
const fromMedia = { regex: '(^|/)media/', message: 'Only the webview bundle imports media/; share through src/shared/.' };
// The extension renders; sentence splitting, model maths and the report's aggregation run in the model process.
const coreMaths = {
  regex: '/core/(sentences|sentenceLoss|scoring|scoringHead|distribution|nextToken|sampling|generation|completion|model|engine|tokenizer|prefixCache|report|reportExport|compare)$',
  message: 'src/extension renders results: sentence splitting and model maths belong in the model process (src/host, src/core).',
};
// src/shared is the leaf every side stands on: one `../` leaves it (it has no subfolders).
const sharedLeaf = { regex: '^\\.\\.(/|$)', message: 'src/shared is the leaf: it imports nothing else from src/ (define the type here; src/core may import it).' };
// The window side may rebuild an LmLensError; the rest of src/core runs in the model process.
const coreButErrors = { regex: '^(\\.\\./)+core/(?!errors$)', message: 'src/client talks to the model process; of src/core it uses only errors.' };
const layer = (files, patterns) => [{ files, rules: { 'no-restricted-imports': ['error', { patterns }] } }];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
    },
  },
  {
    // Build and config scripts run in Node; eslint.config.mjs must default-export its config.
    files: ['*.mjs', 'scripts/**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', module: 'writable', require: 'readonly' } },
    rules: { 'no-restricted-syntax': 'off' },
  },
  // Layer boundaries (CONTRIBUTING.md "Layers"): src/shared holds every contract more than one
  // side imports; the webview, the extension and the model process meet only there.
  ...layer(['src/core/**/*.ts'], [noVscode, fromDir('extension'), fromDir('host'), fromDir('client'), fromDir('cli'), fromMedia]),
  ...layer(['src/shared/**/*.ts'], [noVscode, sharedLeaf, fromMedia]),
  // The model server and the window's side of it (as vscode-eslint's server and client) meet only in src/shared.
  ...layer(['src/host/**/*.ts'], [noVscode, fromDir('extension'), fromDir('client'), fromDir('cli'), fromMedia]),
  ...layer(['src/client/**/*.ts'], [noVscode, fromDir('extension'), fromDir('host'), fromDir('cli'), fromMedia, coreButErrors]),
  ...layer(['src/cli/**/*.ts'], [noVscode, fromDir('extension'), fromDir('host'), fromDir('client'), fromMedia]),
  ...layer(['media/**/*.ts'], [noVscode, { regex: '^(\\.\\./)+src/(?!shared/)', message: 'media/ imports only src/shared/.' }]),
  ...layer(['src/extension/**/*.ts'], [fromMedia, coreMaths, { ...fromDir('host'), message: 'src/extension reaches the model process through src/client/.' }]),
  ...layer(['scripts/**/*.ts'], [{ regex: '^(\\.\\./)+test/', message: 'scripts/ must not depend on test/.' }]),
  {
    files: ['src/extension/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
);
