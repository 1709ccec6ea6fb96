// What the foreign-platform smoke tests share (wineSmoke.mjs, arm64Smoke.mjs): the VSIXs
// unpacked as VS Code installs them, the test model in a folder named with spaces and accents,
// the CLI commands whose output must equal the linux-x64 build's, and the pass/fail report.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readZip } from './checkVsix.mjs';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);

/** A fresh work folder under .cache/<kind>; every path the tested build sees has a space and non-ASCII letters. */
export function workFolder(kind) {
  const work = join(repo, '.cache', kind, 'Smoke test – Zoë Ünïcødé');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  return work;
}

/**
 * Unpacks each target's VSIX (from --vsix-dir, package:all's output, or packaged here from one
 * production build) the way VS Code installs it, and returns target → extension folder.
 */
export function installVsixs(work, targets) {
  const { name, version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const vsixDir = option('--vsix-dir') ? resolve(option('--vsix-dir')) : join(work, '..', 'vsix');
  const node = (args) => {
    const result = spawnSync(process.execPath, args, { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
    if (result.status !== 0) throw new Error(`node ${args.join(' ')} failed`);
  };
  if (!option('--vsix-dir')) {
    node(['esbuild.mjs', '--production']);
    for (const target of targets) node(['scripts/package.mjs', '--target', target, '--no-build', '--out', join(vsixDir, `${name}-${version}-${target}.vsix`)]);
  }
  const folders = {};
  for (const target of targets) {
    const folder = join(work, 'VS Code extensions', `${name}-${version}-${target}`);
    for (const [entry, file] of readZip(readFileSync(join(vsixDir, `${name}-${version}-${target}.vsix`)))) {
      if (!entry.startsWith('extension/') || entry.endsWith('/')) continue;
      const out = join(folder, entry.slice('extension/'.length));
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, file.read());
    }
    folders[target] = folder;
  }
  return folders;
}

/** The unit tests' GPT-2 shape, written by the production build's generator. */
export function makeTestModel(work) {
  const model = join(work, 'Modèles de test', 'tiny gpt2');
  const made = spawnSync(process.execPath, [join(repo, 'dist', 'makeTestModel.js'), '--layers', '2', '--dim', '64', '--heads', '4', '--seed', '1', '--out', model], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (made.status !== 0) throw new Error('make-test-model failed');
  return model;
}

/**
 * Largest difference between two JSON values' numbers, absolute up to 1 and relative beyond (a
 * perplexity of 8.9 million differs in its units digit when its log-probs differ by 4e-6);
 * strings, ids and shapes must match exactly.
 */
export function difference(a, b, where = '') {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) / Math.max(1, Math.abs(a), Math.abs(b));
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return Math.max(0, ...a.map((value, i) => difference(value, b[i], `${where}[${i}]`)));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a).filter((key) => key !== 'model');
    if (keys.join() !== Object.keys(b).filter((key) => key !== 'model').join()) throw new Error(`${where}: keys differ`);
    return Math.max(0, ...keys.map((key) => difference(a[key], b[key], `${where}.${key}`)));
  }
  if (a !== b) throw new Error(`${where}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
  return 0;
}

export function createReport() {
  const results = [];
  const started = Date.now();
  const record = (name, ok, details = {}) => {
    results.push({ name, ok });
    console.log(`${ok ? '✓' : '✗'} ${name}${Object.keys(details).length ? ` ${JSON.stringify(details)}` : ''}`);
  };
  /** Prints the summary and exits 1 unless every case passed. */
  const finish = (label) => {
    const failed = results.filter((result) => !result.ok).length;
    console.log(`${label}: ${results.length - failed}/${results.length} passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    process.exit(failed === 0 && results.length > 0 ? 0 : 1);
  };
  return { record, finish };
}

/**
 * `next` and `loss` from the build under test (`run(cliArgs, model)`) against the linux-x64
 * build run by this Node: equal within 1e-5 (absolute, relative past 1: different SIMD kernels round differently).
 */
export function compareCli(record, label, linuxExtension, model, run) {
  const commands = [
    ['next', 'Alice was', '--top', '10', '--json', '--threads', '1'],
    ['loss', 'Alice was beginning to get very tired. Zoë’s café served crème brûlée.', '--json', '--threads', '1'],
  ];
  for (const args of commands) {
    const title = `CLI ${args[0]} ${label} equals linux-x64's within 1e-5`;
    const linux = spawnSync(process.execPath, [join(linuxExtension, 'dist', 'cli.js'), ...args, '--model', model], { encoding: 'utf8' });
    const tested = run(args);
    try {
      if (linux.status !== 0 || tested.status !== 0) throw new Error(`exit ${linux.status} (linux-x64) / ${tested.status} (${label}): ${linux.stderr}${tested.stderr}`);
      const diff = difference(JSON.parse(linux.stdout), JSON.parse(tested.stdout));
      record(title, diff <= 1e-5, { maxDiff: diff });
    } catch (error) {
      record(title, false, { error: String(error) });
    }
  }
}
