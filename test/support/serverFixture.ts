// A protocol fixture: an HTTP server that speaks the documented request and response shapes of
// vLLM's OpenAI-compatible completions API or llama-server's native API (caps and error bodies
// included), answering from the local engine on a test model. Fault modes reproduce what a
// remote server does wrong: hang, 5xx, HTML or cut-off answers, refused keys.
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Engine } from '../../src/core/engine';
import { handleLlamaCpp, STREAM_CHUNKS } from './fixtureLlamaCpp';
import { completionChunks, handleOpenAi } from './fixtureOpenai';

/** Time between two streamed events: long enough for a client to close the stream in the middle. */
const STREAM_GAP_MS = 5;

export type FixtureApi = 'openai' | 'llama.cpp';

export interface FixtureOptions {
  api: FixtureApi;
  engine: Engine;
  /** Served model name (default "test-gpt2"). */
  model?: string;
  /** When set, requests must carry `Authorization: Bearer <key>` (as `--api-key` makes vLLM / llama-server do). */
  apiKey?: string;
  /** vLLM's `--max-logprobs` (default 20). */
  maxLogprobs?: number;
  /** llama.cpp's response format: current (`top_logprobs`) or the old one (`probs: [{tok_str, prob}]`). */
  llamaFormat?: 'new' | 'old';
  /** false: behave like SGLang, which ignores vLLM's `prompt_logprobs` (scoring must use `echo`). */
  promptLogprobs?: boolean;
  /** false: answer `stream: true` with the whole JSON, as a server that does not stream would. */
  streams?: boolean;
}

export type FaultMode = 'hang' | 'status500' | 'status503' | 'html' | 'truncated' | 'cut-json' | 'reset';

export interface Fault {
  mode: FaultMode;
  /** Only requests whose path matches (default: all). */
  path?: RegExp;
  /** How many requests it hits before the server behaves again (default: all). */
  times?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
  authorization?: string;
}

export class FixtureError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`fixture answered ${status}`);
  }
}

export class ProtocolFixture {
  readonly requests: RecordedRequest[] = [];
  fault: Fault | undefined;
  /** Requests whose connection the client closed before the answer was sent. */
  closedEarly = 0;
  /** Server-sent events written (streamed completions), for tests that check a stream was cut short. */
  streamedEvents = 0;
  private closeWaiters: Array<() => void> = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly options: FixtureOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: FixtureOptions): Promise<ProtocolFixture> {
    const fixture = new ProtocolFixture(options);
    await new Promise<void>((resolve) => fixture.server.listen(0, '127.0.0.1', resolve));
    return fixture;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get model(): string {
    return this.options.model ?? 'test-gpt2';
  }

  /** Resolves when a client closes a request's connection before its answer. */
  nextEarlyClose(): Promise<void> {
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  paths(): string[] {
    return this.requests.map((request) => request.path);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let answered = false;
    res.on('finish', () => (answered = true));
    res.on('close', () => {
      if (answered) return;
      this.closedEarly++;
      for (const resolve of this.closeWaiters.splice(0)) resolve();
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0] as string;
    let body: Record<string, unknown>;
    try {
      body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return this.send(res, 400, { error: { code: 400, message: 'Invalid JSON body', type: 'invalid_request_error' } });
    }
    this.requests.push({ method: req.method ?? 'GET', path, body, authorization: req.headers.authorization });
    if (this.applyFault(path, res)) return;
    if (this.options.apiKey && req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      // vLLM answers {"error": "Unauthorized"}; llama-server the OpenAI-style object.
      return this.send(res, 401, this.options.api === 'openai' ? { error: 'Unauthorized' } : { error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } });
    }
    try {
      const answer = this.options.api === 'openai' ? await handleOpenAi(this, req.method ?? 'GET', path, body) : await handleLlamaCpp(this, req.method ?? 'GET', path, body);
      if (res.destroyed) return;
      if (body.stream === true && this.options.streams !== false) {
        if (this.options.api === 'openai' && path === '/v1/completions') return await this.sendEvents(res, completionChunks(this, answer), true);
        const chunks = (answer as { [STREAM_CHUNKS]?: unknown[] })[STREAM_CHUNKS];
        if (chunks) return await this.sendEvents(res, chunks, false);
      }
      this.send(res, 200, answer);
    } catch (error) {
      if (error instanceof FixtureError) return this.send(res, error.status, error.body);
      this.send(res, 500, { error: { code: 500, message: String(error), type: 'server_error' } });
    }
  }

  private applyFault(path: string, res: http.ServerResponse): boolean {
    const fault = this.fault;
    if (!fault || (fault.path && !fault.path.test(path))) return false;
    if (fault.times !== undefined && fault.times-- <= 0) return false;
    switch (fault.mode) {
      case 'hang':
        return true;
      case 'status500':
        this.send(res, 500, { error: { code: 500, message: 'CUDA error: an illegal memory access was encountered', type: 'InternalServerError' } });
        return true;
      case 'status503':
        this.send(res, 503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
        return true;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html><body>Sign in to continue</body></html>');
        return true;
      case 'truncated': {
        // Promises more bytes than it sends, then drops the connection.
        const text = JSON.stringify({ choices: [{ text: 'x', logprobs: null }], content: 'x' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length * 2) });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        setTimeout(() => res.destroy(), 20);
        return true;
      }
      case 'cut-json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [{"text": "x", "logprobs": {"tokens": [');
        return true;
      case 'reset':
        res.socket?.destroy();
        return true;
    }
  }

  /** Server-sent events a moment apart (vLLM ends with `[DONE]`, llama-server's native API does not); stops when the client closes the connection. */
  private async sendEvents(res: http.ServerResponse, events: unknown[], done: boolean): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const event of events) {
      if (res.destroyed) return;
      this.streamedEvents++;
      res.write(`data: ${JSON.stringify(event)}\n\n`);
      await new Promise((resolve) => setTimeout(resolve, STREAM_GAP_MS));
    }
    if (!res.destroyed) res.end(done ? 'data: [DONE]\n\n' : undefined);
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
  }
}

export function requireNumber(body: Record<string, unknown>, key: string, fallback: number): number {
  const value = body[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new FixtureError(400, { error: { code: 400, message: `${key} must be a number`, type: 'invalid_request_error' } });
  return value;
}

/** A prompt given as token ids or as text. */
export function promptOf(fixture: ProtocolFixture, prompt: unknown): number[] {
  if (Array.isArray(prompt) && prompt.every((id) => Number.isInteger(id))) return prompt as number[];
  if (typeof prompt === 'string') return fixture.options.engine.model.tokenizer.encode(prompt);
  throw new FixtureError(400, { error: { code: 400, message: 'prompt must be a string or a list of token ids', type: 'invalid_request_error' } });
}
