// Checks one platform VSIX as the Marketplace and a user's VS Code will see it: the target in its
// manifest, exactly that target's runtime binaries (of its machine type, loadable on the oldest
// system we support), nothing that only development needs, and a size bound.
//   node scripts/checkVsix.mjs FILE.vsix TARGET   (exit 1 with every problem listed)
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { compareVersions, loadClosure, readBinaryHeader } from './binaryHeaders.mjs';
import { runtimeFolders, targetArch, targetFormat } from './targets.mjs';

/** onnxruntime-node 1.30's own floors (PLATFORMS.md): glibc 2.28 (Debian 10, RHEL 8, Ubuntu 18.10), macOS 14. */
export const GLIBC_FLOOR = '2.28';
export const MACOS_FLOOR = '14.0';
/** Compressed size bound: the runtime is 11-25 MB compressed per target; more means something slipped in. */
export const MAX_VSIX_MB = 30;

/** Libraries every Windows 10+ has, and the Visual C++ runtime (which the extension explains when missing). */
const WINDOWS_SYSTEM = /^(api-ms-win-.*|kernel32|setupapi|dbghelp|advapi32|ole32|oleaut32|user32|shell32|msvcp140(_1|_atomic_wait)?|vcruntime140(_1)?)\.dll$/i;
const LINUX_SYSTEM = /^(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+)\.so\.\d+$|^ld-linux-(x86-64|aarch64)\.so\.\d+$/;
const DARWIN_SYSTEM = /^\/(usr\/lib|System\/Library)\//;

/** The entries of a zip file (name → data), read from its central directory. */
export function readZip(buffer) {
  const eocd = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd === -1) throw new Error('not a zip file (no end of central directory)');
  const count = buffer.readUInt16LE(eocd + 10);
  let at = buffer.readUInt32LE(eocd + 16);
  const entries = new Map();
  for (let i = 0; i < count; i++) {
    if (buffer.readUInt32LE(at) !== 0x02014b50) throw new Error(`damaged central directory at entry ${i}`);
    const method = buffer.readUInt16LE(at + 10);
    const compressedSize = buffer.readUInt32LE(at + 20);
    const nameLength = buffer.readUInt16LE(at + 28);
    const extraLength = buffer.readUInt16LE(at + 30);
    const commentLength = buffer.readUInt16LE(at + 32);
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.toString('utf8', at + 46, at + 46 + nameLength);
    const dataAt = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const raw = buffer.subarray(dataAt, dataAt + compressedSize);
    entries.set(name, { read: () => (method === 8 ? inflateRawSync(raw) : Buffer.from(raw)) });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** vsce's category names (a listing with another is refused at publish). */
const CATEGORIES = new Set(['AI', 'Azure', 'Chat', 'Data Science', 'Debuggers', 'Education', 'Extension Packs', 'Formatters', 'Keymaps', 'Language Packs', 'Linters', 'Machine Learning', 'Notebooks', 'Programming Languages', 'SCM Providers', 'Snippets', 'Testing', 'Themes', 'Visualization', 'Other']);
const isUrl = (value) => typeof value === 'string' && /^https:\/\/\S+$/.test(value);

/** What the Marketplace and Open VSX show or refuse: icon, banner, links, categories, licence. */
function listingProblems(packageJson, entries) {
  const problems = [];
  if (!/^[a-z0-9][a-z0-9-]*$/.test(packageJson.publisher ?? '') || !/^[a-z0-9][a-z0-9-]*$/.test(packageJson.name ?? '')) problems.push('publisher and name must be lower-case letters, digits and dashes');
  if (!/^\d+\.\d+\.\d+$/.test(packageJson.version ?? '')) problems.push(`version ${packageJson.version} is not major.minor.patch (the Marketplace takes no pre-release suffix)`);
  const icon = packageJson.icon && entries.get(`extension/${packageJson.icon}`)?.read();
  if (!icon || icon.readUInt32BE(0) !== 0x89504e47) problems.push('no PNG icon (the Marketplace refuses SVG icons)');
  else if (icon.readUInt32BE(16) < 128 || icon.readUInt32BE(20) < 128) problems.push(`icon ${icon.readUInt32BE(16)}×${icon.readUInt32BE(20)} is smaller than 128×128`);
  if (!/^#[0-9a-f]{6}$/i.test(packageJson.galleryBanner?.color ?? '') || !['dark', 'light'].includes(packageJson.galleryBanner?.theme)) problems.push('galleryBanner needs a #rrggbb colour and a dark or light theme');
  for (const [field, value] of [['homepage', packageJson.homepage], ['repository', packageJson.repository?.url], ['bugs', packageJson.bugs?.url]]) if (!isUrl(value)) problems.push(`${field} is not an https URL`);
  for (const category of packageJson.categories ?? []) if (!CATEGORIES.has(category)) problems.push(`unknown category ${category}`);
  if (!Array.isArray(packageJson.keywords) || packageJson.keywords.length === 0 || packageJson.keywords.length > 30) problems.push('keywords: 1 to 30 needed');
  if (!packageJson.license || ![...entries.keys()].some((name) => /^extension\/licen[cs]e(\.(md|txt))?$/i.test(name))) problems.push('no licence: Open VSX shows it, and vsce asks for a LICENSE file');
  if (!/^\^\d+\.\d+\.\d+$/.test(packageJson.engines?.vscode ?? '')) problems.push('engines.vscode must be ^major.minor.patch');
  return problems;
}

const isSystemLibrary = (format, name) => (format === 'pe' ? WINDOWS_SYSTEM : format === 'elf' ? LINUX_SYSTEM : DARWIN_SYSTEM).test(name);

/** Every problem of the VSIX for `target`, and what was found (for the summary line). */
export function checkVsix(file, target) {
  const problems = [];
  const bytes = readFileSync(file);
  const entries = readZip(bytes);
  const names = [...entries.keys()];
  const manifest = entries.get('extension.vsixmanifest')?.read().toString('utf8') ?? '';
  if (!manifest.includes(`TargetPlatform="${target}"`)) problems.push(`extension.vsixmanifest does not say TargetPlatform="${target}"`);

  const packageJson = JSON.parse(entries.get('extension/package.json')?.read().toString('utf8') ?? '{}');
  for (const bundle of [packageJson.main, './dist/modelHost.js', './dist/cli.js']) {
    if (!bundle || !entries.has(`extension/${bundle.replace(/^\.\//, '')}`)) problems.push(`missing ${bundle ?? 'package.json "main"'}`);
  }
  if (packageJson.scripts || packageJson.devDependencies) problems.push('package.json still has scripts or devDependencies');
  problems.push(...listingProblems(packageJson, entries));

  // Nothing development-only: sources, maps, other runtimes, the GGUF test engine.
  const unwanted = names.filter((name) => (/\.(ts|map)$/.test(name) && !name.endsWith('.d.ts')) || /node_modules\/(node-llama-cpp|@node-llama-cpp|onnxruntime-web|sharp|@img|@huggingface|typescript|mocha|esbuild)\//.test(name));
  for (const name of unwanted) problems.push(`development-only file shipped: ${name}`);

  const folder = `extension/node_modules/onnxruntime-node/bin/napi-v6/${runtimeFolders[target]}/`;
  const binaries = names.filter((name) => name.startsWith('extension/node_modules/onnxruntime-node/bin/'));
  for (const name of binaries.filter((name) => !name.startsWith(folder))) problems.push(`another target's binary: ${name}`);
  const headers = new Map(binaries.filter((name) => name.startsWith(folder)).map((name) => [name.slice(folder.length), readBinaryHeader(entries.get(name).read())]));
  if (!headers.get('onnxruntime_binding.node')) problems.push(`no onnxruntime_binding.node under ${folder}`);

  const format = targetFormat(target);
  for (const [name, header] of headers) {
    if (!header) {
      problems.push(`${name}: not a native binary`);
      continue;
    }
    if (header.format !== format || header.arch !== targetArch(target) || header.bits !== 64) problems.push(`${name}: ${header.format} ${header.arch} (${header.bits}-bit), expected ${format} ${targetArch(target)}`);
    if (header.glibc && compareVersions(header.glibc, GLIBC_FLOOR) > 0) problems.push(`${name} needs GLIBC_${header.glibc}, newer than ${GLIBC_FLOOR}`);
    if (header.minos && compareVersions(header.minos, MACOS_FLOOR) > 0) problems.push(`${name} needs macOS ${header.minos}, newer than ${MACOS_FLOOR}`);
    // Each library loaded with it is either shipped beside it or part of the system.
    const shipped = new Set([...headers.keys()].map((file) => (format === 'pe' ? file.toLowerCase() : file)));
    for (const dependency of header.imports ?? []) {
      const base = dependency.split('/').pop();
      if (!shipped.has(format === 'pe' ? base.toLowerCase() : base) && !isSystemLibrary(format, format === 'macho' ? dependency : base)) problems.push(`${name} loads ${dependency}, which is neither shipped nor a system library`);
    }
  }
  // Nothing shipped that the binding does not load (DirectML, a second copy of the dylib).
  const loaded = loadClosure('onnxruntime_binding.node', headers);
  for (const name of headers.keys()) if (!loaded.has(name)) problems.push(`${name} is shipped but never loaded`);

  const megabytes = bytes.length / 1024 / 1024;
  if (megabytes > MAX_VSIX_MB) problems.push(`${megabytes.toFixed(1)} MB, more than ${MAX_VSIX_MB} MB`);
  const describe = [...headers].map(([name, header]) => `${name} ${header?.format}/${header?.arch}${header?.glibc ? ` glibc ${header.glibc}` : ''}${header?.minos ? ` macOS ${header.minos}` : ''}`);
  return { problems, summary: `${megabytes.toFixed(1)} MB, ${names.length} files; ${describe.join(', ')}` };
}

if (process.argv[1]?.endsWith('checkVsix.mjs')) {
  const [file, target] = process.argv.slice(2);
  if (!file || !runtimeFolders[target]) {
    console.error(`usage: node scripts/checkVsix.mjs FILE.vsix TARGET (${Object.keys(runtimeFolders).join(', ')})`);
    process.exit(2);
  }
  const { problems, summary } = checkVsix(file, target);
  console.log(`${target}: ${summary}`);
  for (const problem of problems) console.error(`  ✗ ${problem}`);
  process.exit(problems.length === 0 ? 0 : 1);
}
