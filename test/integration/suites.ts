// Every integration suite, one line each. Loaders (not static imports) keep each file's
// top-level describe()/it() calls from running before mocha has installed its globals:
// esbuild turns a bundled dynamic import into a lazily evaluated module.
export const suites: ReadonlyArray<readonly [name: string, load: () => Promise<unknown>]> = [
  ['activation', () => import('./suite/activation.test')],
  ['inline', () => import('./suite/inline.test')],
  ['panel', () => import('./suite/panel.test')],
  ['loss', () => import('./suite/loss.test')],
  ['management', () => import('./suite/management.test')],
  ['faults', () => import('./suite/faults.test')],
  ['download', () => import('./suite/download.test')],
  // Last: it kills the model server, which the other window counts as a crash.
  ['shared server', () => import('./suite/sharedServer.test')],
];
