// npm run package:all [-- --out-dir DIR]
// Builds once, packages every shipped target's VSIX from the same bundles, and checks each one
// (scripts/checkVsix.mjs). Exit 1 when any target fails its check.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkVsix } from './checkVsix.mjs';
import { runtimeFolders } from './targets.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const index = process.argv.indexOf('--out-dir');
const outDir = resolve(index === -1 ? join(repo, '.cache', 'vsix') : process.argv[index + 1]);
const { name, version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

const started = Date.now();
const step = (args) => {
  const result = spawnSync(process.execPath, args, { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) {
    console.error(`package:all: node ${args.join(' ')} exited with ${result.status ?? result.signal}`);
    process.exit(1);
  }
};

step(['esbuild.mjs', '--production']);
let failed = 0;
for (const target of Object.keys(runtimeFolders)) {
  const out = join(outDir, `${name}-${version}-${target}.vsix`);
  step(['scripts/package.mjs', '--target', target, '--out', out, '--no-build']);
  const { problems, summary } = checkVsix(out, target);
  console.log(`${problems.length === 0 ? '✓' : '✗'} ${relative(process.cwd(), out)}: ${summary}`);
  for (const problem of problems) console.log(`    ${problem}`);
  if (problems.length > 0) failed++;
}
console.log(`${Object.keys(runtimeFolders).length} VSIXs in ${((Date.now() - started) / 1000).toFixed(1)} s; ${failed === 0 ? 'all checks passed' : `${failed} failed`}`);
process.exit(failed === 0 ? 0 : 1);
