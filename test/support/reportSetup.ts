// The document report's model-process side on a test model, as the unit tests drive it: a model
// service, a document store that scores with it, and the report service, with one document open
// and scored; and the check every refusal passes (an LmLensError of one line).
import * as assert from 'node:assert/strict';
import { LmLensError } from '../../src/core/errors';
import { DocumentStore } from '../../src/host/documentStore';
import { ModelService } from '../../src/host/modelService';
import { ReportService } from '../../src/host/reportService';

export interface ReportSetup {
  service: ModelService;
  store: DocumentStore;
  reports: ReportService;
  dispose(): Promise<void>;
}

export async function openReport(options: { model: string; uri: string; text: string; assetsFolder?: string; log?: (level: 'info' | 'warn' | 'error', message: string) => void }): Promise<ReportSetup> {
  const service = new ModelService(() => undefined, options.log ?? (() => undefined));
  await service.configure({ model: options.model, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
  const store = new DocumentStore((text, score) => service.scoreDocument(text, score), { scores: () => undefined, status: () => undefined }, { debounceMs: 5 });
  const reports = new ReportService(store, service, options.assetsFolder ?? '');
  store.open({ uri: options.uri, languageId: 'markdown', version: 1, opening: 1, text: options.text });
  store.focus([options.uri]);
  await store.idle();
  return {
    service,
    store,
    reports,
    dispose: async () => {
      store.dispose();
      await service.dispose();
    },
  };
}

/** `work` fails with an LmLensError of this code, one line matching `pattern`; `check` looks further. */
export async function rejectsWith(work: Promise<unknown>, code: string, pattern: RegExp, check?: (error: LmLensError) => void): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof LmLensError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /\n/u);
    check?.(error);
    return true;
  });
}
