import { compareText } from '../core/compare';
import type { ComparedTextToken } from '../core/compare';
import { loadEngine } from '../core/engine';
import type { Engine } from '../core/engine';
import type { ModelSettings } from '../shared/hostProtocol';

/**
 * The report's second model, loaded on first use and kept while the same one is asked for (a
 * report compares again after every edit); another model or new settings replace it. It loads
 * like the main model (cache folder, downloads, proxy) but never reports a loading state: the
 * status bar describes the main model only.
 */
export class ComparisonModel {
  private current: { key: string; engine: Promise<Engine> } | undefined;

  async compare(main: Engine, settings: ModelSettings, model: string, dtype: string, text: string, signal: AbortSignal): Promise<{ modelB: string; tokens: ComparedTextToken[] }> {
    const key = JSON.stringify([model, dtype, settings.cacheDir, settings.allowDownloads, settings.threads, settings.network]);
    if (this.current?.key !== key) {
      await this.dispose();
      const engine = loadEngine({ model, dtype, allowDownloads: settings.allowDownloads, cacheDir: settings.cacheDir || undefined, threads: settings.threads, network: settings.network, signal });
      const current = { key, engine };
      this.current = current;
      // A model that failed to load (missing, corrupt, cancelled) is tried again on the next request.
      engine.catch(() => {
        if (this.current === current) this.current = undefined;
      });
    }
    const other = await this.current.engine;
    return { modelB: other.model.info.id, tokens: await compareText(main, other, text, { signal }) };
  }

  async dispose(): Promise<void> {
    const engine = this.current?.engine;
    this.current = undefined;
    if (engine) await engine.then((loaded) => loaded.dispose()).catch(() => undefined);
  }
}
