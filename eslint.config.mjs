import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    // The engine must stay usable from plain Node (CLI, model process, unit tests).
    files: ['src/core/**/*.ts', 'src/host/**/*.ts', 'src/cli/**/*.ts', 'media/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'src/core, src/host, src/cli and media must not depend on vscode.' }] }],
    },
  },
  {
    files: ['src/extension/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
);
