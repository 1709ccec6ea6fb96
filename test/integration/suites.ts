// Every integration suite, one line each. Loaders (not static imports) keep each file's
// top-level describe()/it() calls from running before mocha has installed its globals:
// esbuild turns a bundled dynamic import into a lazily evaluated module.
// The feature suites run on the local engine and again on a protocol fixture server (onServer.ts).
import { onEveryBackend } from './suite/onServer';

export const suites: ReadonlyArray<readonly [name: string, load: () => Promise<unknown>]> = [
  ['activation', () => import('./suite/activation.test')],
  ['inline', async () => onEveryBackend((await import('./suite/inline.test')).defineInlineSuite)],
  ['panel', async () => onEveryBackend((await import('./suite/panel.test')).definePanelSuite)],
  ['loss', async () => onEveryBackend((await import('./suite/loss.test')).defineLossSuite)],
  // Replace and continue from the hover: the local engine (the ghost text it starts is covered on servers by 'inline').
  ['branching', () => import('./suite/branching.test')],
  // The report needs the local engine's whole distributions: one pass, local only.
  ['report', () => import('./suite/report.test')],
  ['remote engines', () => import('./suite/remote.test')],
  ['management', () => import('./suite/management.test')],
  ['faults', () => import('./suite/faults.test')],
  ['download', () => import('./suite/download.test')],
  // Last: it kills the model server, which the other window counts as a crash.
  ['shared server', () => import('./suite/sharedServer.test')],
];
