import type { ComparedTextToken } from '../core/compare';
import { COMPARE_SERVER_HINTS, scoreSentencesOnServer } from '../core/compareServer';
import type { ServerScores } from '../core/compareServer';
import { loadEngine } from '../core/engine';
import type { Backend } from '../core/backend';
import { LocalBackend } from '../core/local/localBackend';
import { LmLensError } from '../core/errors';
import { createRemoteBackend } from '../core/remote';
import type { SentenceSpan } from '../core/sentences';
import type { CompareServer, ModelSettings } from '../shared/hostProtocol';

/**
 * The report's second model, loaded on first use and kept while the same one is asked for (a
 * report compares again after every edit); another model or new settings replace it. It loads
 * like the main model (cache folder, downloads, proxy) but never reports a loading state: the
 * status bar describes the main model only. A server's model is kept the same way: the
 * connection (model list, start token, caps) is learnt once.
 */
export class ComparisonModel {
  private current: { key: string; engine: Promise<LocalBackend> } | undefined;
  private server: { key: string; backend: Backend } | undefined;

  constructor(private readonly log: (message: string) => void = () => undefined) {}

  async compare(main: Backend, settings: ModelSettings, model: string, dtype: string, text: string, signal: AbortSignal): Promise<{ modelB: string; tokens: ComparedTextToken[] }> {
    const key = JSON.stringify([model, dtype, settings.cacheDir, settings.allowDownloads, settings.threads, settings.network]);
    if (this.current?.key !== key) {
      await this.dispose();
      const engine = loadEngine({ model, dtype, allowDownloads: settings.allowDownloads, cacheDir: settings.cacheDir || undefined, threads: settings.threads, network: settings.network, signal }).then(
        (loaded) => new LocalBackend(loaded),
      );
      const current = { key, engine };
      this.current = current;
      // A model that failed to load (missing, corrupt, cancelled) is tried again on the next request.
      engine.catch(() => {
        if (this.current === current) this.current = undefined;
      });
    }
    const other = await this.current.engine.catch((error: unknown) => {
      throw error instanceof LmLensError ? forComparison(error) : error;
    });
    return { modelB: other.info.model, tokens: await main.compareText(other, text, signal) };
  }

  /** Each sentence's loss under a server's model; a server that failed is asked again next time (its backend reconnects). */
  async compareOnServer(server: CompareServer, text: string, spans: readonly SentenceSpan[], signal: AbortSignal): Promise<ServerScores> {
    const key = JSON.stringify([server.api, server.url, server.model ?? '', server.timeoutMs ?? 0, server.apiKey ?? '']);
    if (this.server?.key !== key) {
      await this.dispose();
      // The URL and model only: the API key never reaches a log.
      this.log(`Comparing with the ${server.api} server at ${server.url}${server.model ? ` (model ${server.model})` : ''}`);
      const backend = createRemoteBackend(server.api, { url: server.url, model: server.model || undefined, apiKey: server.apiKey || undefined, timeoutMs: server.timeoutMs, hints: COMPARE_SERVER_HINTS });
      this.server = { key, backend };
    }
    return scoreSentencesOnServer(this.server.backend, text, spans, signal);
  }

  async dispose(): Promise<void> {
    const engine = this.current?.engine;
    const backend = this.server?.backend;
    this.current = undefined;
    this.server = undefined;
    await backend?.dispose();
    if (engine) await engine.then((loaded) => loaded.dispose()).catch(() => undefined);
  }
}

/**
 * The loader's messages name the main model's settings as the fix (lmLens.model, --model,
 * lmLens.dtype); for the second model the fix is another pick in the report.
 */
export function forComparison(error: LmLensError): LmLensError {
  const message = error.message
    .replace(/(?:lmLens\.model|the setting lmLens\.model)(?: \((?:or )?--model\))?/gu, 'the comparison model ("Compare with a second model…")')
    .replace(/lmLens\.dtype/gu, "the comparison model's precision");
  return message === error.message ? error : new LmLensError(error.code, message);
}
