import { EnvHttpProxyAgent } from 'undici';
import type { Dispatcher } from 'undici';
import { LmLensError } from '../errors';
import type { NetworkSettings } from '../../shared/engineTypes';
export type { NetworkSettings } from '../../shared/engineTypes';

/** The Hugging Face hub; mirrors use the same URL layout. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/**
 * transformers.js joins host and path by string concatenation, so `https://mirror` without the
 * slash silently broke; LM Lens builds its own URLs from a normalised base without the slash.
 */
export function normalizeEndpoint(endpoint: string | undefined): string {
  const trimmed = (endpoint ?? '').trim();
  if (trimmed === '') return DEFAULT_HUB_ENDPOINT;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new LmLensError('endpoint-invalid', `The hub endpoint "${trimmed}" is not a URL. Set lmLens.hubEndpoint (CLI: --hub-endpoint or HF_ENDPOINT) to e.g. https://huggingface.co.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LmLensError('endpoint-invalid', `The hub endpoint "${trimmed}" must start with http:// or https://. Fix lmLens.hubEndpoint (CLI: --hub-endpoint or HF_ENDPOINT).`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** `{endpoint}/{model}/resolve/{revision}/{file}`, the layout of the hub and its mirrors. */
export function resolveUrl(endpoint: string, model: string, file: string, revision = 'main'): string {
  const encodedFile = file.split('/').map(encodeURIComponent).join('/');
  return `${normalizeEndpoint(endpoint)}/${model}/resolve/${encodeURIComponent(revision)}/${encodedFile}`;
}

/**
 * One undici agent for all downloads, handed to the global `fetch` as its `dispatcher`
 * (undici's own `fetch` returns Responses that are not the global class). EnvHttpProxyAgent
 * picks the proxy per URL, honours the no-proxy list and tunnels with CONNECT.
 */
export function createDispatcher(settings: NetworkSettings): Dispatcher {
  const tls = settings.strictSSL === false ? { rejectUnauthorized: false } : undefined;
  const proxy = settings.proxy?.trim() || undefined;
  const noProxy = settings.noProxy?.filter((host) => host.trim() !== '').join(',');
  return new EnvHttpProxyAgent({
    ...(proxy ? { httpProxy: proxy, httpsProxy: proxy } : {}),
    ...(noProxy ? { noProxy } : {}),
    ...(tls ? { connect: tls, requestTls: tls, proxyTls: tls } : {}),
  });
}

/** The proxy a URL would go through under these settings, for messages ("via proxy …"). */
export function proxyFor(settings: NetworkSettings): string | undefined {
  const proxy = settings.proxy?.trim() || process.env.HTTPS_PROXY || process.env.https_proxy || process.env.HTTP_PROXY || process.env.http_proxy;
  if (!proxy) return undefined;
  try {
    const url = new URL(proxy);
    return url.host;
  } catch {
    return proxy;
  }
}

const TLS_CODES = /CERT|SSL|TLS|self[- ]signed|unable to (get|verify)|DEPTH_ZERO|altnames/i;
const OFFLINE_CODES = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ENETUNREACH|EHOSTUNREACH|ENETDOWN|getaddrinfo/;

/** Every message and code along an error's `cause` chain (fetch wraps the interesting one). */
export function errorChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    if (current instanceof Error) {
      parts.push(`${current.name}: ${current.message}`);
      const code = (current as { code?: unknown }).code;
      if (typeof code === 'string') parts.push(code);
      current = (current as { cause?: unknown }).cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(' | ');
}

/** A connection that broke after it worked: worth resuming, unlike a refused proxy or a bad certificate. */
export function isTransient(error: unknown): boolean {
  if (error instanceof LmLensError) return error.code === 'download-stalled' || error.code === 'download-interrupted';
  const chain = errorChain(error);
  return /terminated|ECONNRESET|EPIPE|other side closed|UND_ERR_SOCKET|socket hang up|premature close/i.test(chain) && !TLS_CODES.test(chain);
}

export interface FailureContext {
  model: string;
  file: string;
  endpoint: string;
  proxy?: string;
}

/** Turns what fetch throws into one line that says what to do. */
export function describeNetworkError(error: unknown, context: FailureContext): LmLensError {
  if (error instanceof LmLensError) return error;
  const chain = errorChain(error);
  const host = new URL(context.endpoint).host;
  const proxyStatus = /Proxy response \((\d{3})\)/.exec(chain)?.[1];
  if (proxyStatus === '407') {
    return new LmLensError('proxy-auth', `The proxy ${context.proxy ?? ''} asks for a login (407). Put the credentials in http.proxy (http://user:password@host:port; CLI: HTTPS_PROXY), then retry.`);
  }
  if (proxyStatus) {
    return new LmLensError('proxy-refused', `The proxy ${context.proxy ?? ''} refused the connection to ${host} (${proxyStatus}). Ask for ${host} to be allowed, or set lmLens.hubEndpoint to a mirror it allows.`);
  }
  if (TLS_CODES.test(chain)) {
    return new LmLensError(
      'tls-failed',
      `The TLS certificate of ${context.proxy ? `the proxy ${context.proxy} or ` : ''}${host} was not accepted (${/([A-Z_]{6,})/.exec(chain)?.[1] ?? 'certificate error'}). A proxy that inspects TLS needs its certificate installed; or turn off http.proxyStrictSSL.`,
    );
  }
  if (context.proxy && /ECONNREFUSED/.test(chain) && chain.includes(context.proxy.replace(/^localhost:/, '127.0.0.1:'))) {
    return new LmLensError('proxy-refused', `Cannot connect to the proxy ${context.proxy}. Check http.proxy (CLI: HTTPS_PROXY / HTTP_PROXY), then retry.`);
  }
  if (OFFLINE_CODES.test(chain) || /fetch failed/.test(chain)) {
    return new LmLensError(
      'hub-unreachable',
      `Cannot reach ${host} to download ${context.model} (offline?). Check the connection${context.proxy ? ` and the proxy ${context.proxy}` : ''}, or set lmLens.model (--model) to a local folder.`,
    );
  }
  return new LmLensError('download-interrupted', `The download of ${context.file} from ${host} broke off (${chain.split(' | ')[0]}). Retry: it resumes where it stopped.`);
}
