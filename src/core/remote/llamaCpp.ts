import type { BackendGeneratedToken, BackendNextToken, BackendSequence, BackendTokenScore, SampleRequest, TokenizedText } from '../backend';
import { entropy } from '../distribution';
import type { SamplingSettings } from '../distribution';
import { finite, rankIn, sampledProbOf, sequenceOf, sortTop } from './common';
import type { TopEntry } from './common';
import { RemoteBackend } from './remoteBackend';
import type { GreedyResult, RemoteOptions } from './remoteBackend';
import type { RequestOptions } from './http';
import { decodeBytes, spansFromPieces } from './tokens';

/** One alternative in either of llama-server's formats: `{id, token, bytes, logprob|prob}` or the old `{tok_str, prob}`. */
export interface LlamaTop {
  id?: number;
  token?: string;
  bytes?: number[];
  logprob?: number;
  prob?: number;
  tok_str?: string;
}

/** One generated position: the new format (`top_logprobs` / `top_probs`) or the old one (`content` + `probs`). */
export interface LlamaPosition extends LlamaTop {
  top_logprobs?: LlamaTop[];
  top_probs?: LlamaTop[];
  content?: string;
  probs?: LlamaTop[];
}

export interface LlamaCompletion {
  content?: string;
  tokens?: number[];
  completion_probabilities?: LlamaPosition[];
  /** The README's example names the array `probs`. */
  probs?: LlamaPosition[];
  stop_type?: string;
  stopped_eos?: boolean;
  stopped_word?: boolean;
  stopped_limit?: boolean;
}

export interface ParsedPosition {
  chosen: { id: number | null; text: string; logprob: number | null };
  top: TopEntry[];
}

const log = (value: number | undefined): number | undefined => (value === undefined ? undefined : Math.log(value));

function parseTop(entry: LlamaTop): TopEntry {
  const text = entry.bytes ? decodeBytes(entry.bytes) : (entry.token ?? entry.tok_str ?? '');
  return { id: finite(entry.id) ? entry.id : null, text, logprob: entry.logprob ?? log(entry.prob) ?? Number.NaN };
}

/** A position of `completion_probabilities` in either format, with log-probabilities throughout. */
export function parsePosition(position: LlamaPosition): ParsedPosition {
  if (position.probs && position.top_logprobs === undefined && position.top_probs === undefined) {
    const top = position.probs.map(parseTop);
    const text = position.content ?? '';
    return { chosen: { id: null, text, logprob: top.find((entry) => entry.text === text)?.logprob ?? null }, top };
  }
  const chosen = parseTop(position);
  return { chosen: { ...chosen, logprob: Number.isNaN(chosen.logprob) ? null : chosen.logprob }, top: (position.top_logprobs ?? position.top_probs ?? []).map(parseTop) };
}

export function positionsOf(answer: LlamaCompletion): ParsedPosition[] {
  return (answer.completion_probabilities ?? answer.probs ?? []).map(parsePosition);
}

function stopOf(answer: LlamaCompletion): 'length' | 'eos' | 'stop' {
  if (answer.stop_type === 'eos' || answer.stopped_eos) return 'eos';
  if (answer.stop_type === 'word' || answer.stopped_word) return 'stop';
  return 'length';
}

/** Sampler settings that leave the model's distribution alone unless a request sets them (llama-server's defaults are not neutral). */
const NEUTRAL = { top_k: 0, top_p: 1, min_p: 0, typical_p: 1, repeat_penalty: 1, presence_penalty: 0, frequency_penalty: 0, dry_multiplier: 0, xtc_probability: 0, mirostat: 0 };
/** HF's order: temperature, then top-k, then top-p. */
const HF_ORDER = ['temperature', 'top_k', 'top_p'];
/** More than any vocabulary: the server cuts n_probs to its vocabulary size. */
const WHOLE_VOCABULARY = 1 << 20;
/** A bias that makes the sampler pick the token, while the raw probabilities it reports stay unbiased. */
const FORCE = 1000;

/**
 * llama.cpp's `llama-server` through its native API: `/completion` with `n_probs` (raw softmax
 * probabilities, unaffected by samplers and `logit_bias`), `post_sampling_probs` for the
 * sampling view, `/tokenize` with pieces. It cannot echo prompt log-probabilities, so scoring
 * asks once per token with `cache_prompt` (each request evaluates about one new token).
 */
export class LlamaCppBackend extends RemoteBackend {
  protected readonly scoresWindowAtOnce = false;
  /** A token that decodes to whole characters: forcing it keeps answers from stopping inside a character. */
  private plainId: number | undefined;

  constructor(options: RemoteOptions) {
    super('llama.cpp', options, { maxTopK: options.maxLogprobs ?? 1000, entropy: false, logits: false, exactRank: false, samplingView: true, seededSampling: true });
  }

  protected async connect(signal?: AbortSignal): Promise<void> {
    await this.client.get('/health', { signal, endpointHint: "llama.cpp's llama-server" });
    const props = await this.client.get<{ model_path?: string; default_generation_settings?: { n_ctx?: number } }>('/props', { signal });
    const nCtx = props.default_generation_settings?.n_ctx;
    if (finite(nCtx)) this.info.contextSize = nCtx;
    const models = await this.client.get<{ data?: Array<{ id?: string; meta?: { n_vocab?: number } }> }>('/v1/models', { signal }).catch(() => undefined);
    const served = models?.data?.[0];
    this.info.model = this.options.model || served?.id || props.model_path?.split(/[\\/]/).pop() || 'llama-server';
    if (finite(served?.meta?.n_vocab)) this.info.vocabSize = served.meta.n_vocab;
    const bos = await this.tokenizeIds('', true, signal);
    if (bos.length === 1) {
      this.autoBos = true;
      this.info.startTokenId = bos[0] as number;
    } else {
      const endOfText = await this.tokenizeIds('<|endoftext|>', false, signal);
      if (endOfText.length === 1) this.info.startTokenId = endOfText[0] as number;
    }
    const plain = await this.tokenizeIds(' the', false, signal);
    this.plainId = plain.length === 1 ? plain[0] : undefined;
  }

  private async tokenizeIds(content: string, special: boolean, signal?: AbortSignal): Promise<number[]> {
    const answer = await this.client.post<{ tokens?: Array<number | { id: number }> }>('/tokenize', { content, add_special: special }, { signal, idempotent: true, endpointHint: "llama.cpp's llama-server" });
    return this.need(answer.tokens, 'tokens (/tokenize)').map((token) => (typeof token === 'number' ? token : token.id));
  }

  protected async tokenizeRaw(text: string, signal?: AbortSignal): Promise<TokenizedText> {
    const answer = await this.client.post<{ tokens?: Array<{ id: number; piece: string | number[] }> }>('/tokenize', { content: text, add_special: false, with_pieces: true }, { signal, idempotent: true });
    const tokens = this.need(answer.tokens, 'tokens (/tokenize)');
    const bytes = tokens.map((token) => (typeof token.piece === 'string' ? Buffer.from(token.piece, 'utf8') : Uint8Array.from(token.piece)));
    const texts = bytes.map(decodeBytes);
    tokens.forEach((token, i) => this.texts.set(token.id, texts[i] as string));
    return { ids: tokens.map((token) => token.id), texts, spans: spansFromPieces(text, bytes) };
  }

  protected async detokenizeOne(id: number, signal?: AbortSignal): Promise<string> {
    const answer = await this.client.post<{ content?: string }>('/detokenize', { tokens: [id] }, { signal, idempotent: true });
    return this.need(answer.content, 'content (/detokenize)');
  }

  private completion(body: Record<string, unknown>, signal: AbortSignal | undefined, idempotent = true, onEvent?: RequestOptions['onEvent']): Promise<LlamaCompletion> {
    return this.client.post<LlamaCompletion>('/completion', { cache_prompt: true, ...NEUTRAL, ...body }, { signal, idempotent, endpointHint: "llama.cpp's llama-server", onEvent });
  }

  /** One position's raw alternatives; forcing `force` (or a plain token) so the answer always carries them. */
  private async probe(ids: number[], nProbs: number, force: number | undefined, signal?: AbortSignal): Promise<ParsedPosition | undefined> {
    const bias = force ?? this.plainId;
    const answer = await this.completion({ prompt: ids, n_predict: 1, n_probs: Math.max(1, nProbs), temperature: 0, ...(bias === undefined ? {} : { logit_bias: [[bias, FORCE]] }) }, signal);
    return positionsOf(answer)[0];
  }

  protected async distribution(ids: number[], k: number, signal?: AbortSignal): Promise<TopEntry[]> {
    const position = this.need(await this.probe(ids, k, undefined, signal), 'completion_probabilities');
    return sortTop(position.top);
  }

  protected async samplingFallback(ids: number[], settings: SamplingSettings, rows: number, signal?: AbortSignal): Promise<BackendNextToken['sampling']> {
    const answer = await this.completion(
      { prompt: ids, n_predict: 1, n_probs: this.capped(rows), post_sampling_probs: true, samplers: HF_ORDER, temperature: settings.temperature ?? 1, top_k: settings.topK ?? 0, top_p: settings.topP ?? 1 },
      signal,
    );
    const position = positionsOf(answer)[0];
    if (!position) return null;
    const top = sortTop(position.top);
    const whole = top.length < this.capped(rows);
    return {
      entropy: whole ? entropy(Float64Array.from(top, (entry) => entry.logprob)) : null,
      keptTokens: whole ? top.length : null,
      top: top.slice(0, rows).map((entry) => ({ id: entry.id, text: entry.text, prob: Math.exp(entry.logprob) })),
    };
  }

  protected async scoreWindow(ids: number[], from: number, alternatives: number, signal?: AbortSignal): Promise<Array<Omit<BackendTokenScore, 'index'>>> {
    const scores: Array<Omit<BackendTokenScore, 'index'>> = [];
    // In order, so that each request finds the previous one's tokens in the server's cache.
    for (let position = from; position < ids.length; position++) {
      const id = ids[position] as number;
      const context = ids.slice(0, position);
      const forced = await this.probe(context, alternatives, id, signal);
      const forcedLogprob = forced && (forced.chosen.id === null ? await this.oldFormatLogprob(forced, id, signal) : forced.chosen.id === id ? forced.chosen.logprob : null);
      let answer: ParsedPosition;
      let logprob: number;
      if (forced && forcedLogprob !== null && forcedLogprob !== undefined) {
        answer = forced;
        logprob = forcedLogprob;
      } else {
        // The token ends inside a character, so the server sent nothing: read it from the whole distribution.
        answer = this.need(await this.probe(context, this.info.vocabSize ?? WHOLE_VOCABULARY, undefined, signal), 'completion_probabilities');
        logprob = this.need(answer.top.find((entry) => entry.id === id)?.logprob, `the probability of token ${id}`);
      }
      const rank = rankIn(answer.top, id);
      const score: Omit<BackendTokenScore, 'index'> = { id, logprob, prob: Math.exp(logprob), rank, entropy: null };
      if (alternatives > 0) score.alternatives = sortTop(answer.top).slice(0, alternatives).map((entry) => ({ id: entry.id, text: entry.text, prob: Math.exp(entry.logprob) }));
      scores.push(score);
    }
    return scores;
  }

  /** Old servers name tokens by text only: the forced token's probability is the entry with its text. */
  private async oldFormatLogprob(answer: ParsedPosition, id: number, signal?: AbortSignal): Promise<number | null> {
    const text = await this.texts.get(id, signal);
    return answer.chosen.logprob ?? answer.top.find((entry) => entry.text === text)?.logprob ?? null;
  }

  private generated(answer: LlamaCompletion, settings: SamplingSettings | undefined): BackendGeneratedToken[] {
    return positionsOf(answer).map((position) => {
      const logprob = this.need(position.chosen.logprob, "a generated token's probability");
      const sampledProb = settings ? sampledProbOf(position.top, position.chosen.id, position.chosen.text, settings) : 1;
      if (position.chosen.id !== null) this.texts.set(position.chosen.id, position.chosen.text);
      return { id: position.chosen.id, text: position.chosen.text, prob: Math.exp(logprob), sampledProb };
    });
  }

  /**
   * Streamed as the OpenAI backend's: a chunk per token, and once the stop rules end the
   * completion the connection closes, which makes llama-server stop generating. The last chunk
   * (`stop: true`) carries no token, only why it stopped.
   */
  protected async greedy(ids: number[], maxNewTokens: number, signal?: AbortSignal, stop?: (tokens: BackendGeneratedToken[]) => boolean): Promise<GreedyResult> {
    const tokens: BackendGeneratedToken[] = [];
    let reason: GreedyResult['reason'] = 'length';
    const onEvent = (event: unknown): boolean => {
      const chunk = event as LlamaCompletion & { stop?: boolean };
      if (chunk.stop === true) {
        reason = stopOf(chunk);
        return false;
      }
      tokens.push(...this.generated(chunk, undefined));
      return stop?.(tokens) === true;
    };
    const whole = await this.completion({ prompt: ids, n_predict: maxNewTokens, n_probs: 1, temperature: 0, stream: true }, signal, true, onEvent);
    return whole ? { tokens: this.generated(whole, undefined), reason: stopOf(whole) } : { tokens, reason };
  }

  protected async sampleRows(ids: number[], request: Required<Pick<SampleRequest, 'n' | 'maxNewTokens'>> & SampleRequest, settings: SamplingSettings): Promise<BackendSequence[]> {
    const base = request.seed ?? Math.floor(Math.random() * 2 ** 31);
    const topK = settings.topK ?? 0;
    // llama-server draws one sequence per request; the rows run on the server's slots at once.
    const rows = Array.from({ length: request.n }, async (_, row) => {
      const answer = await this.completion(
        { prompt: ids, n_predict: request.maxNewTokens, n_probs: this.capped(Math.max(1, topK)), samplers: HF_ORDER, temperature: settings.temperature, top_k: topK, top_p: settings.topP, seed: base + row },
        request.signal,
        request.seed !== undefined,
      );
      const tokens = this.generated(answer, settings);
      return sequenceOf(answer.content ?? tokens.map((token) => token.text).join(''), tokens, stopOf(answer));
    });
    return Promise.all(rows);
  }
}
