import { CancelledError, LmLensError, errorMessage } from '../errors';

export interface HttpOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8000`. */
  url: string;
  apiKey?: string;
  /** Per request (default 60 s): a large model's first answer can take a while. */
  timeoutMs?: number;
  /** Extra tries for idempotent calls after a dropped connection or a 429/502/503/504 (default 2). */
  retries?: number;
  /** Wait before the first retry, doubled each time (default 250 ms). */
  retryDelayMs?: number;
  /** Names the setting that fixes a wrong URL or key, for the one-line messages. */
  hints?: { url: string; key: string; model: string; api: string };
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Safe to send twice (reads, deterministic completions); only these are retried. */
  idempotent?: boolean;
  /** Used in the 404 message: a missing endpoint means the wrong kind of server. */
  endpointHint?: string;
  /**
   * For a body with `stream: true`: each server-sent event's JSON as it arrives. Returning true
   * stops reading and closes the connection (the server stops generating). The request then
   * resolves with undefined, or with the whole answer when the server did not stream.
   */
  onEvent?: (event: unknown) => boolean | void | Promise<boolean | void>;
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);

export const DEFAULT_HINTS = { url: 'lmLens.server.url', key: 'the command "LM Lens: Set server API key"', model: 'lmLens.server.model', api: 'lmLens.backend' };

/**
 * JSON over HTTP with the built-in fetch: an abort closes the socket (servers then stop the
 * generation), a timeout per request, bounded retries only where sending twice is harmless,
 * and every failure mapped to one actionable line.
 */
export class HttpClient {
  readonly base: string;
  /** Milliseconds of the last answered request, for the status bar. */
  lastLatencyMs: number | undefined;
  private readonly hints: NonNullable<HttpOptions['hints']>;

  constructor(private readonly options: HttpOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new LmLensError('server-unreachable', `"${options.url}" is not a server URL: give one like http://127.0.0.1:8000 in ${options.hints?.url ?? DEFAULT_HINTS.url}.`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new LmLensError('server-unreachable', `"${options.url}" is not an http(s) URL: set ${options.hints?.url ?? DEFAULT_HINTS.url} to one like http://127.0.0.1:8000.`);
    }
    this.base = parsed.href.replace(/\/+$/, '');
    this.hints = options.hints ?? DEFAULT_HINTS;
  }

  get host(): string {
    return new URL(this.base).host;
  }

  post<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, body, options);
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, undefined, { idempotent: true, ...options });
  }

  private async request<T>(method: string, path: string, body: unknown, options: RequestOptions): Promise<T> {
    const tries = 1 + (options.idempotent ? (this.options.retries ?? 2) : 0);
    let delay = this.options.retryDelayMs ?? 250;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, path, body, options);
      } catch (error) {
        const retryable = error instanceof RetryableError;
        if (!retryable || attempt >= tries || options.signal?.aborted) throw retryable ? error.failure : error;
        await sleep(delay, options.signal);
        delay *= 2;
      }
    }
  }

  private async once<T>(method: string, path: string, body: unknown, options: RequestOptions): Promise<T> {
    if (options.signal?.aborted) throw new CancelledError();
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const started = performance.now();
    const where = `${this.base}${path}`;
    let response: Response;
    let text: string;
    // Events already handed on: asking again would hand them twice.
    let delivered = 0;
    try {
      response = await fetch(where, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
      const onEvent = options.onEvent;
      if (onEvent && response.ok && response.body && /text\/event-stream/.test(response.headers.get('content-type') ?? '')) {
        await readEvents(response.body, (data) => {
          delivered++;
          return onEvent(parseJson(data, this.host, path, this.hints.api));
        });
        this.lastLatencyMs = performance.now() - started;
        return undefined as T;
      }
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw new CancelledError();
      if (error instanceof LmLensError) throw delivered === 0 && /truncated/.test(error.message) ? new RetryableError(error) : error;
      if (timeout.aborted) {
        throw new LmLensError('server-timeout', `The server at ${this.host} did not answer ${path} within ${timeoutMs >= 10_000 ? Math.round(timeoutMs / 1000) : (timeoutMs / 1000).toFixed(1)} s: it may be busy or loading; try again, or check it is the right server (${this.hints.url}).`);
      }
      const cause = networkCause(error);
      const failure =
        cause === 'truncated'
          ? new LmLensError('server-response', `The server at ${this.host} closed the connection in the middle of its answer to ${path} (truncated response); try again, and see the server's log if it repeats.`)
          : new LmLensError('server-unreachable', `Cannot reach the server at ${this.base} (${cause}): check that it is running and that ${this.hints.url} is right.`);
      throw delivered === 0 ? new RetryableError(failure) : failure;
    }
    this.lastLatencyMs = performance.now() - started;
    if (!response.ok) {
      const failure = this.statusError(response.status, path, text, options);
      throw RETRY_STATUS.has(response.status) ? new RetryableError(failure) : failure;
    }
    try {
      return parseJson<T>(text, this.host, path, this.hints.api);
    } catch (error) {
      // JSON cut short is a dropped connection by another name; a web page is not worth asking again.
      throw error instanceof LmLensError && /truncated/.test(error.message) ? new RetryableError(error) : error;
    }
  }

  private statusError(status: number, path: string, text: string, options: RequestOptions): LmLensError {
    const said = serverMessage(text);
    const detail = said ? `: ${said}` : '';
    if (status === 401 || status === 403) {
      return new LmLensError('server-auth', `The server at ${this.host} refused the request (${status}${detail}): set its API key with ${this.hints.key}.`);
    }
    if (status === 404) {
      if (/model/i.test(said)) return new LmLensError('server-model', `The server at ${this.host} does not serve that model (404${detail}): set ${this.hints.model} to a model it serves.`);
      return new LmLensError('server-endpoint', `The server at ${this.host} has no ${path} (404): is it ${options.endpointHint ?? 'the kind of server chosen'}? Check ${this.hints.api} and ${this.hints.url}.`);
    }
    if (status === 400 || status === 422) return new LmLensError('server-refused', `The server at ${this.host} refused the request to ${path} (${status}${detail}).`);
    if (status === 503) return new LmLensError('server-error', `The server at ${this.host} is not ready (503${detail}): it may still be loading the model; try again shortly.`);
    return new LmLensError('server-error', `The server at ${this.host} failed on ${path} (${status}${detail}); try again, and see the server's log if it repeats.`);
  }
}

/** Wraps failures that another try may fix (a dropped connection, an overloaded server). */
class RetryableError extends Error {
  constructor(readonly failure: LmLensError) {
    super(failure.message);
  }
}

/**
 * Hands each server-sent event's data to `handle` as it arrives, until the stream ends, a
 * `[DONE]` event, or `handle` says stop; then the body is cancelled, which closes the connection.
 */
async function readEvents(body: ReadableStream<Uint8Array>, handle: (data: string) => boolean | void | Promise<boolean | void>): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      // The last event may end with the stream rather than a blank line.
      buffer += decoder.decode(value, { stream: !done }) + (done ? '\n\n' : '');
      for (let end = buffer.search(/\r?\n\r?\n/); end >= 0; end = buffer.search(/\r?\n\r?\n/)) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = block
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data === '[DONE]') return;
        if (data !== '' && (await handle(data)) === true) return;
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

function parseJson<T>(text: string, host: string, path: string, apiHint: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    const trimmed = text.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      throw new LmLensError('server-response', `The server at ${host} sent an incomplete answer to ${path} (truncated JSON); try again, and see the server's log if it repeats.`);
    }
    const preview = trimmed.slice(0, 60).replace(/\s+/g, ' ');
    throw new LmLensError('server-response', `The server at ${host} answered ${path} with something that is not JSON ("${preview}"): check ${apiHint} and the server URL.`);
  }
}

/** The message a server put in its error body, in the shapes vLLM, SGLang, llama.cpp and FastAPI use. */
export function serverMessage(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return text.trim().slice(0, 160).replace(/\s+/g, ' ');
  }
  const pick = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      return pick(record.message) ?? pick(record.error) ?? pick(record.detail) ?? pick(record.msg);
    }
    if (Array.isArray(value)) return pick(value[0]);
    return undefined;
  };
  return (pick(body) ?? '').replace(/\s*\n\s*/g, ' ').slice(0, 200);
}

function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  if (code === 'UND_ERR_SOCKET' || /terminated|other side closed/i.test(errorMessage(error))) return 'truncated';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET') return 'connection reset';
  return cause?.message ?? errorMessage(error);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new CancelledError());
      },
      { once: true },
    );
  });
}
