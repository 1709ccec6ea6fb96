// A protocol fixture server (test/support/serverFixture.ts) as a process of its own, for the
// integration suites: the extension's model process reaches it over HTTP like a real vLLM or
// llama-server, and killing it is a server going down. Bundled by esbuild.mjs into
// dist/test/integration/fixtureServer.js.
//
//   node fixtureServer.js --api openai|llama.cpp --model <folder> [--served NAME] [--api-key K] [--max-logprobs N]
//
// Prints "LISTENING <url>" once it answers. Each line on stdin is a JSON command:
// {"fault": {"mode": "status500", "path": "completions", "times": 1}} or {"fault": null}.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadEngine } from '../../src/core/engine';
import { ProtocolFixture } from '../support/serverFixture';
import type { FixtureApi } from '../support/serverFixture';
import { LISTENING } from './fixtureProcess';
import type { FixtureCommand } from './fixtureProcess';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { api: { type: 'string' }, model: { type: 'string' }, served: { type: 'string' }, 'api-key': { type: 'string' }, 'max-logprobs': { type: 'string' } },
  });
  const api = values.api as FixtureApi;
  if ((api !== 'openai' && api !== 'llama.cpp') || !values.model) throw new Error('usage: fixtureServer.js --api openai|llama.cpp --model <folder>');
  const engine = await loadEngine({ model: values.model, allowDownloads: false, threads: 1 });
  const fixture = await ProtocolFixture.start({
    api,
    engine,
    model: values.served,
    apiKey: values['api-key'],
    maxLogprobs: values['max-logprobs'] ? Number(values['max-logprobs']) : undefined,
  });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const command = JSON.parse(line) as FixtureCommand;
    const fault = command.fault;
    fixture.fault = fault ? { mode: fault.mode, path: fault.path === undefined ? undefined : new RegExp(fault.path), times: fault.times } : undefined;
    process.stdout.write(`FAULT ${fault?.mode ?? 'none'}\n`);
  });
  // The test that started it went away: so does the server.
  process.stdin.on('end', () => void fixture.close().finally(() => process.exit(0)));
  process.stdout.write(`${LISTENING} ${fixture.url}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`fixture server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
