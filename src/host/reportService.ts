/**
 * The document report of one window's open documents, answered from the scores the document
 * store already holds (no model work; each sentence's share is aggregated once, see
 * core/report.ts), plus the comparison with a second model, the settled layers (logit lens, on
 * demand) and the exports. Everything heavy stays here: the window gets the aggregates, never a
 * per-token list.
 */
import { writeFile } from 'node:fs/promises';
import { summarizeComparison } from '../core/compare';
import type { ComparedTextToken, ComparisonSummary } from '../core/compare';
import { summarizeServerComparison } from '../core/compareServer';
import type { ServerScores } from '../core/compareServer';
import type { SentenceSpan } from '../core/sentences';
import { LmLensError, errorMessage } from '../core/errors';
import { MAX_SENTENCE_POINTS, buildReport, reportableSentences, thinSentences } from '../core/report';
import { readReportAssets, reportJson, sentencesCsv, standaloneHtml, tokensCsv } from '../core/reportExport';
import type { ExportSentence, ReportData } from '../core/reportExport';
import { withSettled } from '../core/settledLayers';
import type { SettledText } from '../core/settledLayers';
import type { CompareParams, CompareResponse, CompareServer, DocumentReportParams, DocumentReportResponse, ReportExportParams, ReportExportResponse, SettledLayersParams, SettledLayersResponse, SettledProgressParams } from '../shared/hostProtocol';
import type { DocumentState } from './documentState';

/** What the report needs of the model service (ModelService fits). */
export interface ReportModel {
  reportModel(): Promise<{ model: string; dtype: string }>;
  compareText(text: string, model: string, dtype: string, signal: AbortSignal): Promise<{ modelB: string; tokens: ComparedTextToken[] }>;
  compareOnServer(text: string, spans: readonly SentenceSpan[], server: CompareServer, signal: AbortSignal): Promise<ServerScores>;
  settledLayers(text: string, signal: AbortSignal, onProgress: (done: number, total: number) => void): Promise<SettledText>;
}

/** Settled layers of one version of a document under one main model; an edit or a model switch leaves them stale (not shown). */
interface Settled {
  version: number;
  modelA: string;
  value: SettledText;
}

interface Compared {
  version: number;
  /** Main model (id and precision) the tokens were compared under: after a switch they no longer hold. */
  modelA: string;
  /** A local model's tokens (both distributions), or a server's per-sentence losses. */
  of: { tokens: ComparedTextToken[]; modelB: string } | { server: ServerScores };
  /** The summary for the sentences held when it was made; made again when more are held. */
  summary?: { sentences: number; value: ComparisonSummary };
}

export const NOT_SCORED_MESSAGE = 'LM Lens does not score this document: turn on sentence loss (lmLens.loss.enabled) and list its language in lmLens.loss.languages.';

export class ReportService {
  private readonly compared = new Map<string, Compared>();
  private readonly settled = new Map<string, Settled>();

  constructor(
    private readonly documents: { get(uri: string): DocumentState | undefined },
    private readonly model: ReportModel,
    /** Folder of the report page's script and styles (dist/), for HTML exports. */
    private readonly assetsFolder: string,
  ) {}

  private document(uri: string): DocumentState {
    const document = this.documents.get(uri);
    if (!document) {
      this.compared.delete(uri);
      this.settled.delete(uri);
      throw new LmLensError('text-invalid', NOT_SCORED_MESSAGE);
    }
    return document;
  }

  /** The report of what is held now; call with the model already resolved, so nothing moves underneath. */
  private build(document: DocumentState, model: { model: string; dtype: string }): { data: ReportData; sentences: ExportSentence[]; comparedVersion?: number } {
    let sentences: ExportSentence[] = reportableSentences(document.sentences);
    let settled: ReportData['settled'];
    const layers = this.settled.get(document.uri);
    if (layers && layers.version === document.version && layers.modelA === modelKey(model)) ({ sentences, settled } = withSettled(sentences, layers.value));
    const report = buildReport(sentences, { ...model, documentChars: document.text.length, complete: document.complete });
    const data: ReportData = { report, ...(settled ? { settled } : {}) };
    const compared = this.compared.get(document.uri);
    if (!compared || compared.modelA !== modelKey(model)) return { data, sentences };
    if (compared.version !== document.version) return { data, sentences, comparedVersion: compared.version };
    if (compared.summary?.sentences !== sentences.length) {
      const { of } = compared;
      compared.summary = { sentences: sentences.length, value: 'server' in of ? summarizeServerComparison(of.server, sentences) : summarizeComparison(of.modelB, of.tokens, sentences) };
    }
    return { data: { ...data, comparison: compared.summary.value }, sentences, comparedVersion: compared.version };
  }

  async report(params: DocumentReportParams): Promise<DocumentReportResponse> {
    this.document(params.uri);
    const model = await this.model.reportModel();
    const document = this.document(params.uri);
    const { data, comparedVersion } = this.build(document, model);
    return { uri: params.uri, version: document.version, data: { ...data, report: thinSentences(data.report, params.maxSentencePoints ?? MAX_SENTENCE_POINTS) }, comparedVersion };
  }

  /** Compares the document's current text; a newer version in the meantime keeps the result for the version it is of. */
  async compare(params: CompareParams, signal: AbortSignal): Promise<CompareResponse> {
    const started = performance.now();
    const document = this.document(params.uri);
    if (!params.model && !params.server) {
      this.compared.delete(params.uri);
      return { version: document.version, elapsedMs: 0 };
    }
    const { version, text } = document;
    // Split now: an edit while the main model is resolved must not pair this text with the next version's sentences.
    const spans = document.spans();
    const modelA = modelKey(await this.model.reportModel());
    const of = params.server
      ? { server: await this.model.compareOnServer(text, spans, params.server, signal) }
      : await this.model.compareText(text, params.model ?? '', params.dtype ?? 'fp32', signal);
    if (this.documents.get(params.uri) !== document) throw new LmLensError('text-invalid', 'The document was closed while it was being compared.');
    this.compared.set(params.uri, { version, modelA, of });
    return { version, elapsedMs: performance.now() - started };
  }

  /**
   * Every token's settled layer (one lens step per token: several times the scoring's cost, so only
   * when asked), for the document's current text; later reports and exports of that version carry it.
   * Progress comes about every 1% of the tokens.
   */
  async settle(params: SettledLayersParams, signal: AbortSignal, onProgress: (progress: SettledProgressParams) => void): Promise<SettledLayersResponse> {
    const started = performance.now();
    const document = this.document(params.uri);
    const { version, text } = document;
    const modelA = modelKey(await this.model.reportModel());
    let reported = 0;
    const value = await this.model.settledLayers(text, signal, (done, total) => {
      if (done < total && done - reported < total / 100) return;
      reported = done;
      onProgress({ uri: params.uri, done, total });
    });
    if (this.documents.get(params.uri) !== document) throw new LmLensError('text-invalid', 'The document was closed while its settled layers were computed.');
    this.settled.set(params.uri, { version, modelA, value });
    return { version, elapsedMs: performance.now() - started };
  }

  async export(params: ReportExportParams): Promise<ReportExportResponse> {
    this.document(params.uri);
    const model = await this.model.reportModel();
    const { data, sentences } = this.build(this.document(params.uri), model);
    const content = exportContent(params, data, sentences, this.assetsFolder);
    const bytes = Buffer.byteLength(content);
    if (params.path === undefined) return { content, bytes };
    try {
      await writeFile(params.path, content);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOSPC' ? 'the disk is full' : errorMessage(error);
      throw new LmLensError('export-failed', `Could not write ${params.path}: ${reason}. Choose another folder.`);
    }
    return { bytes };
  }
}

function exportContent(params: ReportExportParams, data: ReportData, sentences: ExportSentence[], assetsFolder: string): string {
  switch (params.format) {
    case 'html':
      return standaloneHtml(data, readReportAssets(assetsFolder), params.title);
    case 'tokens-csv':
      return tokensCsv(sentences);
    case 'sentences-csv':
      return sentencesCsv(data);
    case 'json':
      return reportJson(data, sentences);
  }
}

const modelKey = (model: { model: string; dtype: string }): string => `${model.model}\n${model.dtype}`;
