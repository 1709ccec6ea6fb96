// npm run package [-- --target linux-x64] [--out file.vsix] [--no-build]
// Builds for production and packages a platform-specific VSIX from a staging folder that holds
// exactly what the extension loads at run time: the bundles, media, and onnxruntime-node trimmed
// to the target's binary and the libraries it loads with (read from its headers: no DirectML,
// which only the GPU provider loads, and no second copy of the macOS dylib). transformers.js is inside the bundles; onnxruntime-web and sharp are
// never loaded under Node, so they stay out (≈ 80 MB instead of ≈ 470 MB).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClosure, readBinaryHeader } from './binaryHeaders.mjs';
import { runtimeFolders } from './targets.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');


function option(name) {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

/** npm run exports npm_config_*; vsce's nested `npm list` must look at the staging folder only. */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

function run(command, args, cwd = repo) {
  const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'], env: cleanEnv() });
  if (result.status !== 0) {
    fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  }
}

/** Files under `folder` (relative to the repo) whose path matches `keep`. */
function walk(folder, keep = () => true) {
  const root = join(repo, folder);
  if (!existsSync(root)) {
    return [];
  }
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(repo, join(entry.parentPath, entry.name)))
    .filter(keep);
}

/** Licence files at the top of a package folder. */
function licenses(folder) {
  return readdirSync(join(repo, folder))
    .filter((name) => /^(license|licence|copying|thirdpartynotices)/i.test(name))
    .map((name) => `${folder}/${name}`);
}

const readJson = (file) => JSON.parse(readFileSync(join(repo, file), 'utf8'));
const isJs = (file) => file.endsWith('.js');

const target = option('--target') ?? `${process.platform}-${process.arch}`;
const runtimeFolder = runtimeFolders[target];
if (!runtimeFolder) {
  fail(`unsupported target ${target}; onnxruntime-node ships binaries for ${Object.keys(runtimeFolders).join(', ')}`);
}
const manifest = readJson('package.json');
const out = resolve(option('--out') ?? join(repo, `${manifest.name}-${manifest.version}-${target}.vsix`));

// package:all builds once and packages every target from the same bundles.
if (!process.argv.includes('--no-build')) run(process.execPath, ['esbuild.mjs', '--production']);

const targetFiles = walk('node_modules/onnxruntime-node/bin', (file) => file.includes(`/${runtimeFolder}/`));
const binding = targetFiles.find((file) => file.endsWith('/onnxruntime_binding.node'));
if (!binding) {
  fail(`node_modules/onnxruntime-node has no binding under bin/napi-v*/${runtimeFolder}`);
}
const headers = new Map(targetFiles.map((file) => [file.slice(dirname(binding).length + 1), readBinaryHeader(readFileSync(join(repo, file)))]));
const loaded = loadClosure('onnxruntime_binding.node', headers);
const runtimeBinaries = [...loaded].map((name) => `${dirname(binding)}/${name}`);

const files = [
  ...['README.md', 'CHANGELOG.md', 'LICENSE', 'LICENSE.md', 'LICENSE.txt'].filter((file) => existsSync(join(repo, file))),
  // report.js/.css: the document report's page, loaded by its webview and inlined into HTML exports
  // (the model process reads them beside modelHost.js); its LEGAL file holds Chart.js's licence.
  ...['extension', 'modelHost', 'cli', 'webview', 'report'].flatMap((name) => [`dist/${name}.js`, `dist/${name}.css`, `dist/${name}.js.LEGAL.txt`, `dist/${name}.css.LEGAL.txt`]).filter((file) => existsSync(join(repo, file))),
  // Webview styles and images, and the walkthrough's markdown pages (TypeScript sources are bundled, not shipped).
  ...walk('media', (file) => /\.(css|png|svg|jpg|gif|ico|ttf|woff2?)$/i.test(file) || file.includes('walkthrough')),
  ...(manifest.icon ? [manifest.icon] : []),
  // lib/ holds TypeScript sources; dist/ is what its package.json "main" loads.
  ...walk('node_modules/onnxruntime-node/dist', isJs),
  ...licenses('node_modules/onnxruntime-node'),
  ...runtimeBinaries,
  ...walk('node_modules/onnxruntime-common/dist', (file) => isJs(file) || file.endsWith('package.json')),
  ...licenses('node_modules/onnxruntime-common'),
];

const staging = join(repo, '.cache', 'vsix-staging', target);
rmSync(staging, { recursive: true, force: true });
for (const file of new Set(files)) {
  mkdirSync(dirname(join(staging, file)), { recursive: true });
  cpSync(join(repo, file), join(staging, file));
}

/** Only what a packaged package.json needs: no scripts to run, no tree for npm to resolve. */
function stagedManifest(file, dependencies) {
  const staged = { ...readJson(file), dependencies };
  for (const key of ['scripts', 'devDependencies', 'optionalDependencies']) {
    delete staged[key];
  }
  writeFileSync(join(staging, file), `${JSON.stringify(staged, null, 2)}\n`);
}
const runtimeVersion = readJson('node_modules/onnxruntime-node/package.json').version;
stagedManifest('package.json', { 'onnxruntime-node': runtimeVersion });
// vsce lists node_modules with `npm list --production`, which must see a complete tree: the
// runtime's own install-time dependencies (a CUDA downloader) are not shipped.
stagedManifest('node_modules/onnxruntime-node/package.json', { 'onnxruntime-common': runtimeVersion });
stagedManifest('node_modules/onnxruntime-common/package.json', {});
writeFileSync(join(staging, '.vscodeignore'), '**/*.map\n**/*.d.ts\n**/*.ts\n.vscodeignore\n');

mkdirSync(dirname(out), { recursive: true });
rmSync(out, { force: true });
const vsce = join(repo, 'node_modules', '@vscode', 'vsce', 'vsce');
run(process.execPath, [vsce, 'package', '--target', target, '--out', out, '--no-rewrite-relative-links'], staging);

// What went in, grouped: the VSIX holds exactly the staged files (plus its manifest).
const groups = new Map();
for (const file of walk(relative(repo, staging))) {
  const inside = relative(relative(repo, staging), file);
  if (inside === '.vscodeignore') {
    continue; // vsce reads it and leaves it out
  }
  const parts = inside.split('/');
  const group = parts[0] === 'node_modules' ? parts.slice(0, parts[2] === 'bin' ? 6 : 3).join('/') : parts.length > 1 ? `${parts[0]}/` : inside;
  const entry = groups.get(group) ?? { files: 0, bytes: 0 };
  entry.files += 1;
  entry.bytes += statSync(join(repo, file)).size;
  groups.set(group, entry);
}
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
console.log(`\n${relative(process.cwd(), out)}: ${mb(statSync(out).size)} (target ${target})`);
for (const [group, { files: count, bytes }] of [...groups].sort()) {
  console.log(`  ${group.padEnd(56)} ${String(count).padStart(4)} files ${mb(bytes).padStart(9)}`);
}
