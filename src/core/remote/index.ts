import type { Backend } from '../backend';
import { LmLensError } from '../errors';
import { LlamaCppBackend } from './llamaCpp';
import { OpenAiBackend } from './openai';
import type { RemoteOptions } from './remoteBackend';
import type { RemoteApi } from '../../shared/engineTypes';
export type { RemoteApi } from '../../shared/engineTypes';

export const REMOTE_APIS: readonly RemoteApi[] = ['openai', 'llama.cpp'];

export function isRemoteApi(value: string): value is RemoteApi {
  return (REMOTE_APIS as readonly string[]).includes(value);
}

/** A backend for a server: `openai` (vLLM, SGLang) or `llama.cpp` (llama-server). */
export function createRemoteBackend(api: string, options: RemoteOptions): Backend & { readonly latencyMs: number | undefined } {
  if (api === 'openai') return new OpenAiBackend(options);
  if (api === 'llama.cpp') return new LlamaCppBackend(options);
  throw new LmLensError('server-endpoint', `Unknown server API "${api}": use openai (vLLM, SGLang) or llama.cpp (llama-server).`);
}

export type { RemoteOptions } from './remoteBackend';
