import type { Backend } from '../core/backend';
import { loadEngine } from '../core/engine';
import { LocalBackend } from '../core/local/localBackend';
import type { LoadProgress, ModelInfo } from '../core/model';
import { createRemoteBackend } from '../core/remote';
import type { ModelSettings, ModelState } from '../shared/hostProtocol';

export interface OpenedBackend {
  backend: Backend;
  /** The local model's facts (the status bar, `stats`); absent for a server. */
  modelInfo?: ModelInfo;
  /** The state to announce once it is ready, and the log line that says so. */
  ready: ModelState & { state: 'ready' };
  line: string;
}

/**
 * The one place that knows how each kind of backend is opened: the local model is loaded (maybe
 * downloaded), a server is connected to and asked for its model's facts. Everything after this
 * talks to the `Backend` alone.
 */
export async function openBackend(
  settings: ModelSettings,
  options: { signal: AbortSignal; onProgress: (progress: LoadProgress) => void; log: (message: string) => void },
): Promise<OpenedBackend> {
  const api = settings.backend;
  if (api && api !== 'local') {
    // The URL and model only: the API key never reaches a log.
    options.log(`Connecting to the ${api} server at ${settings.serverUrl ?? ''}${settings.serverModel ? ` (model ${settings.serverModel})` : ''}`);
    const backend = createRemoteBackend(api, { url: settings.serverUrl ?? '', model: settings.serverModel || undefined, apiKey: settings.apiKey || undefined, timeoutMs: settings.serverTimeoutMs });
    const info = await backend.ready(options.signal);
    return {
      backend,
      ready: { state: 'ready', engine: { kind: info.kind, host: info.host, model: info.model, capabilities: backend.capabilities, contextSize: info.contextSize } },
      line: `Connected: ${info.model} at ${info.host}, window ${info.contextSize ?? 'unknown'}, up to ${backend.capabilities.maxTopK} alternatives per token`,
    };
  }
  options.log(`Loading ${settings.model} (${settings.dtype}, threads ${settings.threads || 'auto'})`);
  const engine = await loadEngine({
    model: settings.model,
    dtype: settings.dtype,
    allowDownloads: settings.allowDownloads,
    cacheDir: settings.cacheDir || undefined,
    threads: settings.threads,
    network: settings.network,
    signal: options.signal,
    onProgress: options.onProgress,
  });
  const info = engine.model.info;
  return {
    backend: new LocalBackend(engine),
    modelInfo: info,
    ready: { state: 'ready', info },
    line: `Loaded ${info.id} in ${info.loadMs} ms: ${info.layers} layers, ${info.vocabSize} tokens, window ${info.contextSize}, ${info.threads} threads`,
  };
}
