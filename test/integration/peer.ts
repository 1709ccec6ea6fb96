// extensionTestsPath entry of the integration run's second workbench window: it activates
// LM Lens like any window and, on the first window's orders (peerChannel.ts), asks the model
// for a next-token answer and reports which model server answered. Bundled by esbuild.mjs into
// dist/test/integration/peer.js.
import * as vscode from 'vscode';
import type { RequestType } from 'vscode-jsonrpc';
import type { LmLensApi } from '../../src/extension/extension';
import type { ErrorData, NextTokenParams, NextTokenResponse } from '../../src/shared/hostProtocol';
import { peerDir, servePeer } from './peerChannel';
import type { PeerAnswer } from './peerChannel';

async function ask(lens: LmLensApi): Promise<PeerAnswer> {
  try {
    // After the server died the first request may fail (it counts the crash); the next reconnects.
    // By method name: a RequestType built in this bundle is not the extension's copy of the class.
    const type = 'lmLens/nextToken' as unknown as RequestType<NextTokenParams, NextTokenResponse, ErrorData>;
    const request = (): Promise<NextTokenResponse> => lens.model.request('command', type, { text: 'The other window says', top: 4 });
    const response = await request().catch(() => request());
    return { pid: lens.model.client.pid, rows: response.top.length };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

export async function run(): Promise<void> {
  const dir = peerDir();
  if (!dir) return;
  const extension = vscode.extensions.getExtension<LmLensApi>('lm-lens.lm-lens');
  if (!extension) throw new Error('lm-lens.lm-lens is not installed in the peer window');
  const lens = await extension.activate();
  await servePeer(dir, () => ask(lens), 10 * 60_000);
}
