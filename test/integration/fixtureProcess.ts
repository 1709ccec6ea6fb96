// Starts test/integration/fixtureServer.ts (bundled beside this file) as a child process and
// talks to it: its URL, faults to inject, and stopping it (a server that goes down).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { FaultMode, FixtureApi } from '../support/serverFixture';

export const LISTENING = 'LISTENING';

export interface FixtureCommand {
  fault: { mode: FaultMode; path?: string; times?: number } | null;
}

export interface FixtureProcessOptions {
  api: FixtureApi;
  /** The test model folder the fixture answers from. */
  model: string;
  served?: string;
  apiKey?: string;
  maxLogprobs?: number;
}

export class FixtureProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly lines: AsyncIterator<string>,
  ) {}

  /** `script`: the bundled fixtureServer.js (beside the test bundle that calls this). */
  static async start(options: FixtureProcessOptions, script = path.join(__dirname, 'fixtureServer.js')): Promise<FixtureProcess> {
    const args = [script, '--api', options.api, '--model', options.model];
    if (options.served) args.push('--served', options.served);
    if (options.apiKey) args.push('--api-key', options.apiKey);
    if (options.maxLogprobs !== undefined) args.push('--max-logprobs', String(options.maxLogprobs));
    // In desktop VS Code the extension host is Electron's binary: run it as Node.
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const first = await Promise.race([
      lines.next(),
      new Promise<never>((_resolve, reject) => child.once('exit', (code) => reject(new Error(`the fixture server exited (code ${code}) before it listened`)))),
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('the fixture server did not listen within 60 s')), 60_000).unref()),
    ]);
    const line = first.done ? '' : first.value;
    if (!line.startsWith(`${LISTENING} `)) throw new Error(`the fixture server said ${JSON.stringify(line)}`);
    return new FixtureProcess(child, line.slice(LISTENING.length + 1), lines);
  }

  /** Every matching request (default: all) fails this way, `times` times (default: until cleared). */
  async setFault(fault: FixtureCommand['fault']): Promise<void> {
    const command: FixtureCommand = { fault };
    this.child.stdin?.write(`${JSON.stringify(command)}\n`);
    // The fixture acknowledges, so the next request already sees the fault.
    await this.lines.next();
  }

  /** Kills the server: its port refuses connections from then on. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}
