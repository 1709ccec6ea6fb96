// One build file, named entries: extension, model process, CLI (CJS, Node) and the webview (IIFE, browser).
// node esbuild.mjs [--production] [--watch]
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** onnxruntime-node carries native binaries: it stays outside bundles, next to them in node_modules. */
const nodeExternals = ['vscode', 'onnxruntime-node', 'onnxruntime-web'];

const nodeEntry = (name, entry, extra = {}) => ({
  entryPoints: { [name]: entry },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outdir: 'dist',
  external: nodeExternals,
  // transformers.js insists on an image library at load time; text models never call it.
  alias: { sharp: './src/host/sharpStub.cjs' },
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  ...extra,
});

const entries = [
  nodeEntry('extension', 'src/extension/extension.ts'),
  nodeEntry('modelHost', 'src/host/server.ts'),
  nodeEntry('cli', 'src/cli/main.ts', { banner: { js: '#!/usr/bin/env node' } }),
  nodeEntry('makeTestModel', 'test/support/makeTestModelCli.ts'),
  {
    entryPoints: { webview: 'media/main.ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    outdir: 'dist',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
  },
  {
    // The document report's page: its script (Chart.js bundled, no CDN) and styles, used by the
    // webview and inlined into exported HTML.
    entryPoints: [
      { in: 'media/report/main.ts', out: 'report' },
      { in: 'media/report/report.css', out: 'report' },
    ],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    outdir: 'dist',
    sourcemap: false,
    minify: true,
    // Licence banners carry URLs; an exported page must name none. The page credits Chart.js itself.
    legalComments: 'external',
    logLevel: 'warning',
  },
].filter((options) => Object.values(options.entryPoints).every((file) => existsSync(typeof file === 'string' ? file : file.in)));

if (existsSync('test/integration/index.ts')) {
  entries.push(nodeEntry('test/integration/index', 'test/integration/index.ts', { external: [...nodeExternals, 'mocha'] }));
  entries.push(nodeEntry('test/integration/peer', 'test/integration/peer.ts'));
  entries.push(nodeEntry('test/integration/fixtureServer', 'test/integration/fixtureServer.ts'));
}

if (watch) {
  const contexts = await Promise.all(entries.map((options) => esbuild.context(options)));
  await Promise.all(contexts.map((context) => context.watch()));
} else {
  await Promise.all(entries.map((options) => esbuild.build(options)));
}
