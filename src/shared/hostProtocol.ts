/**
 * Every feature message between the window (src/client) and the model server (src/host), typed;
 * the connection's lifecycle messages (hello, shutdown) are in handshake.ts. The types these
 * messages carry are defined in src/shared too, so the wire format changes only here.
 * Transport: vscode-jsonrpc over a local socket. Requests are cancellable with
 * `$/cancelRequest` (vscode-jsonrpc does that when the client's token fires); the server
 * turns the cancellation into an `AbortSignal` that the engine checks at every step.
 */
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import type {
  BackendCapabilities,
  BackendCompletion,
  BackendKind,
  BackendNextToken,
  BackendSequence,
  LensResult,
  LoadProgress,
  ModelInfo,
  NetworkSettings,
  PrefixCacheStats,
  RemoteApi,
  StopOptions,
} from './engineTypes';
import type { LmLensErrorCode } from './errorCodes';
import type { ComparisonSummary, ExportFormat, ReportData } from './reportProtocol';
import type { DocumentScore, SentenceScore } from './scoreTypes';

export type { ScoredToken, SentenceScore, UnlikelyToken } from './scoreTypes';

/** Where and how to load the model; sent before the first request and whenever a setting changes. */
export interface ModelSettings {
  model: string;
  dtype: string;
  allowDownloads: boolean;
  cacheDir: string;
  threads: number;
  /** Which engine answers: the in-process model, or a server (then `model`/`dtype` are not used). */
  backend?: BackendKind;
  serverUrl?: string;
  serverModel?: string;
  /** Per HTTP request to the server. */
  serverTimeoutMs?: number;
  /** From VS Code's SecretStorage; never logged, never written to settings. */
  apiKey?: string;
  /** Hub endpoint and proxy (VS Code's http.proxy, http.proxyStrictSSL, http.noProxy) for downloads. */
  network?: NetworkSettings;
}

/** Which engine answered, for the status bar and the panel: "local", or a server's host and model. */
export interface EngineLabel {
  kind: BackendKind;
  host: string;
  model: string;
  capabilities: BackendCapabilities;
  contextSize: number | null;
}

export interface SamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
}

export interface ContextToken {
  id: number;
  text: string;
  /** Its own probability given the tokens before it; absent for the first token of the context. */
  prob?: number;
}

export interface NextTokenParams extends SamplingParams {
  text: string;
  top: number;
  /** How many trailing context tokens to describe as chips. */
  tailTokens?: number;
}

export interface NextTokenResponse extends Omit<BackendNextToken, 'contextIds'> {
  tail: ContextToken[];
  elapsedMs: number;
  /** What the engine could not give (capped top-k, no entropy, no sampling view), one line each. */
  notes?: string[];
  /** "model @ host" when a server answered. */
  engine?: string;
}

export interface LensParams {
  text: string;
  /** Top tokens per layer. */
  top: number;
}

export interface LensResponse extends LensResult {
  /** Each context token's UTF-16 span in `text` (the editor shades attention there); null for one not in it (`<|endoftext|>`). */
  spans: Array<[number, number] | null>;
  elapsedMs: number;
}

export interface SampleParams extends SamplingParams {
  text: string;
  n: number;
  maxNewTokens: number;
  seed?: number;
}

export interface SampleResponse {
  sequences: BackendSequence[];
  elapsedMs: number;
}

export interface CompleteParams {
  text: string;
  maxNewTokens: number;
  alternatives: number;
  seed?: number;
  temperature?: number;
  /** The stop rules' settings (`lmLens.inline.stopAt`, `minTokenProb`); their defaults when absent. */
  stop?: Pick<StopOptions, 'stopAt' | 'minTokenProb'>;
}

export interface CompleteResponse {
  greedy: BackendCompletion;
  alternatives: BackendCompletion[];
  elapsedMs: number;
}

export interface ScoreSentencesParams {
  text: string;
  languageId: string;
  /** Only sentences ending after this offset are returned; earlier ones are unchanged. */
  fromOffset: number;
}

export interface ScoreSentencesResponse extends DocumentScore {
  elapsedMs: number;
}

export interface ScoreTextParams {
  text: string;
  bos: boolean;
  /** Score only the sentence of `text` holding `offset` (or ending just before it), split as the decorations are. */
  sentenceAt?: { offset: number; languageId: string };
}

export interface ScoreTextResponse {
  loss: number;
  perplexity: number;
  /** Tokens whose probability was computed (all but the first, or all of them after `<|endoftext|>`). */
  predicted: number;
  /** Tokens in the sequence, including `<|endoftext|>` when `bos` was set. */
  tokenCount: number;
  elapsedMs: number;
}

// ---------------------------------------------------------------------------------------------
// Documents (text-document sync as in the Language Server Protocol, offsets in UTF-16 code units)

/** A document LM Lens scores, whole: sent once when it is opened (or after a reconnect). */
export interface TextDocumentItem {
  uri: string;
  languageId: string;
  /** VS Code's `TextDocument.version`; every later change names the version it produces. */
  version: number;
  /**
   * Which opening of `uri` this is (the window numbers them). VS Code gives a closed and reopened
   * untitled document its old uri and version 1 back, so pushes name the opening they are for
   * and the window drops those still in flight for an earlier one.
   */
  opening: number;
  text: string;
}

/** One edit, in the coordinates of the text left by the edits before it in the same message. */
export interface TextChange {
  rangeOffset: number;
  rangeLength: number;
  text: string;
}

export interface DidChangeParams {
  uri: string;
  version: number;
  changes: TextChange[];
}

export interface DocumentsInFocus {
  /** Documents on screen, most wanted (the active editor's) first; only these are scored. */
  visible: string[];
}

/** New scores for a version: the first `keep` sentences of the previous push still hold, then these. */
export interface SentenceScoresParams {
  uri: string;
  /** The didOpen's `opening` these scores were computed under. */
  opening: number;
  version: number;
  keep: number;
  sentences: SentenceScore[];
  /** Tokens the model had to compute for this push (the rest came from the prefix cache). */
  computedTokens: number | null;
}

/** `pending`: results were dropped (another model) and the document waits its turn. */
export type DocumentScoringState = 'pending' | 'scoring' | 'done' | 'failed';

export interface DocumentStatusParams {
  uri: string;
  opening: number;
  version: number;
  state: DocumentScoringState;
  /** Why it failed, one line; the document is retried after its next change or a model switch. */
  message?: string;
  code?: LmLensErrorCode;
}

// ---------------------------------------------------------------------------------------------
// The document report: aggregated in the model process from the scores it holds

export interface DocumentReportParams {
  uri: string;
  /** Sentence points the answer carries at most (every k-th beyond it); the summary counts them all. */
  maxSentencePoints?: number;
}

export interface DocumentReportResponse {
  uri: string;
  /** The document version the held scores (and so the report) describe. */
  version: number;
  data: ReportData;
  /** Version the comparison was computed for; the report carries it only when that is `version`. */
  comparedVersion?: number;
}

/** A server to compare with: the model it serves scores the text in its own tokens. */
export interface CompareServer {
  api: RemoteApi;
  url: string;
  /** Served model name; the server's first model when empty. */
  model?: string;
  /** Per HTTP request. */
  timeoutMs?: number;
  /** From VS Code's SecretStorage, as `ModelSettings.apiKey`; never logged. */
  apiKey?: string;
}

export interface CompareParams {
  uri: string;
  /** The second model (hub id or folder) and its precision; absent (and no `server`): stop comparing. */
  model?: string;
  dtype?: string;
  /** Instead of `model`: a server's model, compared per sentence (no cross-perplexity). */
  server?: CompareServer;
}

export interface CompareResponse {
  version: number;
  comparison?: ComparisonSummary;
  elapsedMs: number;
}

/** The logit lens's settled layer of every token of an open document (one lens step per token); it joins later reports and exports. */
export interface SettledLayersParams {
  uri: string;
}

export interface SettledLayersResponse {
  /** The document version the layers are of. */
  version: number;
  elapsedMs: number;
}

export interface SettledProgressParams {
  uri: string;
  /** Tokens done of `total`. */
  done: number;
  total: number;
}

export interface ReportExportParams {
  uri: string;
  format: ExportFormat;
  /** The page title of an HTML export. */
  title: string;
  /** A local file to write (the model process writes it, so a large export never crosses to the window); absent: the content is answered. */
  path?: string;
}

export interface ReportExportResponse {
  /** The export, when no `path` was given. */
  content?: string;
  bytes: number;
}

export interface HostDocumentStats {
  /** Documents this window has open in the model process. */
  open: number;
  uris: string[];
}

export interface HostStats {
  info?: ModelInfo;
  documents?: HostDocumentStats;
  cache: PrefixCacheStats;
  rssBytes: number;
  heapBytes: number;
}

export type ModelState =
  | { state: 'idle' }
  | { state: 'loading'; progress?: LoadProgress }
  | { state: 'ready'; info?: ModelInfo; engine?: EngineLabel }
  | { state: 'error'; code: LmLensErrorCode; message: string };

/** Data attached to a JSON-RPC error so the client can rebuild an `LmLensError`. */
export interface ErrorData {
  code: LmLensErrorCode;
}

/** Client → server: the settings to load with. Unloads the current model if they changed; loading is lazy. */
export const configureRequest = new RequestType<ModelSettings, void, ErrorData>('lmLens/configure');
/** Client → server: the user cancelled the download (its partial files are removed); no download starts again until `load` or new settings. */
export const cancelDownloadRequest = new RequestType<null, void, ErrorData>('lmLens/cancelDownload');
/** Client → server: load now (e.g. after "Select model") and answer with what was loaded. */
export const loadRequest = new RequestType<null, ModelInfo | null, ErrorData>('lmLens/load');
/** Client → server: top-k next tokens after `text` (the panel). */
export const nextTokenRequest = new RequestType<NextTokenParams, NextTokenResponse, ErrorData>('lmLens/nextToken');
/** Client → server: the logit lens and attention at the end of `text` (the panel's Layers view); a server backend answers `lens-unavailable`. */
export const lensRequest = new RequestType<LensParams, LensResponse, ErrorData>('lmLens/lens');
/** Client → server: N sampled continuations as one batch (the panel's "Sample"). */
export const sampleRequest = new RequestType<SampleParams, SampleResponse, ErrorData>('lmLens/sample');
/** Client → server: greedy continuation plus sampled alternatives (ghost text). */
export const completeRequest = new RequestType<CompleteParams, CompleteResponse, ErrorData>('lmLens/complete');
/** Client → server: per-sentence loss of a whole text from scratch (tests and the benchmark compare the pushed scores with it). */
export const scoreSentencesRequest = new RequestType<ScoreSentencesParams, ScoreSentencesResponse, ErrorData>('lmLens/scoreSentences');
/** Client → server: loss and perplexity of one text (score selection / document). */
export const scoreTextRequest = new RequestType<ScoreTextParams, ScoreTextResponse, ErrorData>('lmLens/scoreText');
/** Client → server: cache and memory figures for the status bar and the benchmark. */
export const statsRequest = new RequestType<null, HostStats, ErrorData>('lmLens/stats');
/** Client → server: the report of an open document from the scores held for its current version (no model work). */
export const documentReportRequest = new RequestType<DocumentReportParams, DocumentReportResponse, ErrorData>('lmLens/documentReport');
/** Client → server: compare an open document with a second model (cross-perplexity), or stop comparing; the result joins later reports. */
export const compareRequest = new RequestType<CompareParams, CompareResponse, ErrorData>('lmLens/compare');
/** Client → server: every token's settled layer for the report (background work; a server backend answers `lens-unavailable`). */
export const settledLayersRequest = new RequestType<SettledLayersParams, SettledLayersResponse, ErrorData>('lmLens/settledLayers');
/** Server → client: how far a settled-layers request has got (about every 1% of the tokens). */
export const settledProgressNotification = new NotificationType<SettledProgressParams>('lmLens/settledProgress');
/** Client → server: an export of an open document's report (HTML, CSV or JSON of every token), written to `path` or answered. */
export const reportExportRequest = new RequestType<ReportExportParams, ReportExportResponse, ErrorData>('lmLens/reportExport');

/** Client → server: LM Lens scores this document now (its language is on and it is on screen or was). */
export const didOpenNotification = new NotificationType<TextDocumentItem>('lmLens/didOpen');
/** Client → server: the user edited an open document; only the edits travel. */
export const didChangeNotification = new NotificationType<DidChangeParams>('lmLens/didChange');
/** Client → server: the document was closed (or LM Lens stopped scoring it): free everything about it. */
export const didCloseNotification = new NotificationType<{ uri: string }>('lmLens/didClose');
/** Client → server: which open documents are on screen, in priority order. */
export const focusNotification = new NotificationType<DocumentsInFocus>('lmLens/focus');
/** Server → client: sentence scores of a document version (like publishDiagnostics); the client renders them. */
export const sentenceScoresNotification = new NotificationType<SentenceScoresParams>('lmLens/sentenceScores');
/** Server → client: a document started or finished scoring, or failed to. */
export const documentStatusNotification = new NotificationType<DocumentStatusParams>('lmLens/documentStatus');

/** Server → client: the model's state changed (loading progress, ready, error). */
export const stateNotification = new NotificationType<ModelState>('lmLens/state');
/**
 * Server → client: the model finished steps since the last beat (sent at most every
 * PROGRESS_BEAT_MS while it works). A request's hang timer measures lack of progress, not time
 * queued behind other windows' work: every beat re-arms it.
 */
export const progressNotification = new NotificationType<{ steps: number }>('lmLens/progress');
/** How often a working server says it is making progress. */
export const PROGRESS_BEAT_MS = 5000;
/** Server → client: a line for the "LM Lens" output channel. */
export const logNotification = new NotificationType<{ level: 'info' | 'warn' | 'error'; message: string }>('lmLens/log');
