import type { BackendGeneratedToken, BackendNextToken, BackendSequence, BackendTokenScore, SampleRequest, TokenizedText } from '../backend';
import type { SamplingSettings } from '../distribution';
import { LmLensError } from '../errors';
import { finite, rankIn, sampledProbOf, sequenceOf, sortTop } from './common';
import type { TopEntry } from './common';
import { RemoteBackend } from './remoteBackend';
import type { GreedyResult, RemoteOptions } from './remoteBackend';
import { alignByDecoding } from './tokens';
import type { RequestOptions } from './http';

/** vLLM's default `--max-logprobs`. */
export const VLLM_DEFAULT_MAX_LOGPROBS = 20;

type TopDict = Record<string, number> | null;

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs?: TopDict[] | null;
  text_offset?: number[];
}

/** vLLM's `prompt_logprobs`: per prompt position (the first is null), keyed by token id. */
export type PromptLogprobs = Array<Record<string, { logprob: number; rank?: number | null; decoded_token?: string | null }> | null>;

export interface CompletionChoice {
  index?: number;
  text: string;
  finish_reason?: string | null;
  stop_reason?: string | number | null;
  logprobs?: CompletionLogprobs | null;
  prompt_logprobs?: PromptLogprobs | null;
}

export interface CompletionResponse {
  model?: string;
  choices: CompletionChoice[];
}

const TOKEN_ID = /^token_id:(\d+)$/;

/** A token as vLLM writes it with `return_tokens_as_token_ids` ("token_id:318"), or as text (SGLang, older servers). */
export function parseTokenKey(key: string): { id: number | null; text: string | undefined } {
  const match = TOKEN_ID.exec(key);
  return match ? { id: Number(match[1]), text: undefined } : { id: null, text: key };
}

/**
 * vLLM and SGLang through the OpenAI-compatible completions API: `/v1/completions` with
 * `logprobs: K`, `max_tokens: 1` for the next token; vLLM's `prompt_logprobs` (or `echo`) for
 * scoring; `n` for samples; `/tokenize` and `/detokenize` for token boundaries. Prompts go as
 * token ids so the server sees exactly the tokens LM Lens shows.
 */
export class OpenAiBackend extends RemoteBackend {
  protected readonly scoresWindowAtOnce = true;
  /** Whether the server answers vLLM's `prompt_logprobs` (else scoring uses `echo`). */
  private promptLogprobs: boolean | undefined;

  constructor(options: RemoteOptions) {
    super('openai', options, {
      maxTopK: options.maxLogprobs ?? VLLM_DEFAULT_MAX_LOGPROBS,
      entropy: false,
      logits: false,
      exactRank: false,
      samplingView: false,
      seededSampling: true,
    });
  }

  protected async connect(signal?: AbortSignal): Promise<void> {
    const models = await this.client.get<{ data?: Array<{ id: string; max_model_len?: number }> }>('/v1/models', { signal, endpointHint: 'an OpenAI-compatible server (vLLM, SGLang)' });
    const served = this.need(models.data, 'a model list (/v1/models)');
    const wanted = this.options.model;
    const model = wanted ? served.find((entry) => entry.id === wanted) : served[0];
    if (!model) {
      const names = served.map((entry) => `"${entry.id}"`).join(', ') || 'none';
      throw new LmLensError('server-model', `The server at ${this.client.host} does not serve "${wanted ?? ''}" (it serves ${names}): set ${this.hints.model} to one of them.`);
    }
    this.info.model = model.id;
    if (finite(model.max_model_len)) this.info.contextSize = model.max_model_len;
    const withSpecial = await this.tokenizeIds('', true, signal);
    if (withSpecial.length === 1) {
      this.autoBos = true;
      this.info.startTokenId = withSpecial[0] as number;
    } else {
      const endOfText = await this.tokenizeIds('<|endoftext|>', false, signal);
      if (endOfText.length === 1) this.info.startTokenId = endOfText[0] as number;
    }
  }

  private async tokenizeIds(text: string, special: boolean, signal?: AbortSignal): Promise<number[]> {
    const answer = await this.client.post<{ tokens?: number[] }>('/tokenize', { model: this.info.model, prompt: text, add_special_tokens: special }, { signal, idempotent: true, endpointHint: 'vLLM or SGLang (they serve /tokenize)' });
    return this.need(answer.tokens, 'tokens (/tokenize)');
  }

  protected async tokenizeRaw(text: string, signal?: AbortSignal): Promise<TokenizedText> {
    const ids = await this.tokenizeIds(text, false, signal);
    const texts = await this.texts.getMany(ids, signal);
    return { ids, texts, spans: await alignByDecoding(text, ids, texts, (run) => this.detokenize(run, signal)) };
  }

  protected detokenizeOne(id: number, signal?: AbortSignal): Promise<string> {
    return this.detokenize([id], signal);
  }

  private async detokenize(ids: number[], signal?: AbortSignal): Promise<string> {
    const answer = await this.client.post<{ prompt?: string }>('/detokenize', { model: this.info.model, tokens: ids }, { signal, idempotent: true });
    return this.need(answer.prompt, 'prompt (/detokenize)');
  }

  private completions(body: Record<string, unknown>, signal: AbortSignal | undefined, idempotent: boolean, onEvent?: RequestOptions['onEvent']): Promise<CompletionResponse> {
    // return_tokens_as_token_ids is vLLM's: tokens come back as "token_id:N", so ids are exact even when texts collide.
    return this.client.post<CompletionResponse>('/v1/completions', { model: this.info.model, return_tokens_as_token_ids: true, ...body }, { signal, idempotent, onEvent });
  }

  private choice(response: CompletionResponse, index = 0): CompletionChoice {
    return this.need(response.choices?.[index], 'choices');
  }

  /** A top-log-probabilities dictionary as entries with ids (when the server gives them) and texts. */
  private async entries(dict: TopDict | undefined, signal?: AbortSignal): Promise<TopEntry[]> {
    const parsed = Object.entries(dict ?? {}).map(([key, logprob]) => ({ ...parseTokenKey(key), logprob }));
    return Promise.all(parsed.map(async (entry) => ({ id: entry.id, logprob: entry.logprob, text: entry.text ?? (await this.texts.get(entry.id as number, signal)) })));
  }

  protected async distribution(ids: number[], k: number, signal?: AbortSignal): Promise<TopEntry[]> {
    const response = await this.completions({ prompt: ids, max_tokens: 1, temperature: 0, logprobs: Math.max(1, k) }, signal, true);
    const logprobs = this.need(this.choice(response).logprobs, 'logprobs');
    return sortTop(await this.entries(logprobs.top_logprobs?.[0], signal)).slice(0, Math.max(1, k));
  }

  protected async samplingFallback(): Promise<BackendNextToken['sampling']> {
    // The completions API gives raw log-probabilities only (vLLM's --logprobs-mode is server-wide).
    return null;
  }

  protected async scoreWindow(ids: number[], from: number, alternatives: number, signal?: AbortSignal): Promise<Array<Omit<BackendTokenScore, 'index'>>> {
    if (this.promptLogprobs !== false) {
      const response = await this.completions({ prompt: ids, max_tokens: 1, temperature: 0, prompt_logprobs: alternatives }, signal, true);
      const rows = this.choice(response).prompt_logprobs;
      this.promptLogprobs = Array.isArray(rows);
      if (Array.isArray(rows)) return ids.slice(from).map((id, offset) => this.promptScore(rows[from + offset], id, alternatives));
    }
    return this.echoScores(ids, from, alternatives, signal);
  }

  private promptScore(row: PromptLogprobs[number] | undefined, id: number, alternatives: number): Omit<BackendTokenScore, 'index'> {
    const target = this.need(row?.[String(id)], `the prompt token's log-probability (prompt_logprobs for ${id})`);
    const score: Omit<BackendTokenScore, 'index'> = { id, logprob: target.logprob, prob: Math.exp(target.logprob), rank: finite(target.rank) ? target.rank : null, entropy: null };
    if (alternatives > 0) {
      const others = sortTop(Object.entries(row ?? {}).map(([key, value]) => ({ id: Number(key), text: value.decoded_token ?? undefined, logprob: value.logprob })));
      score.alternatives = others.slice(0, alternatives).map((entry) => ({ id: entry.id, text: entry.text, prob: Math.exp(entry.logprob) }));
    }
    return score;
  }

  /** SGLang and other OpenAI-compatible servers: the prompt echoed with its log-probabilities. */
  private async echoScores(ids: number[], from: number, alternatives: number, signal?: AbortSignal): Promise<Array<Omit<BackendTokenScore, 'index'>>> {
    const response = await this.completions({ prompt: ids, max_tokens: 1, temperature: 0, echo: true, logprobs: Math.max(1, alternatives) }, signal, true);
    const logprobs = this.need(this.choice(response).logprobs, 'logprobs (echo)');
    const scores: Array<Omit<BackendTokenScore, 'index'>> = [];
    for (let position = from; position < ids.length; position++) {
      const id = ids[position] as number;
      const logprob = this.need(logprobs.token_logprobs[position], `the log-probability of prompt token ${position}`);
      const entries = await this.entries(logprobs.top_logprobs?.[position], signal);
      const key = parseTokenKey(logprobs.tokens[position] ?? '');
      const found = key.id !== null ? rankIn(entries, id) : rankByText(entries, key.text ?? '');
      // The dictionary holds the top K plus the prompt's own token: beyond K its place says nothing.
      const rank = found !== null && found <= Math.max(1, alternatives) ? found : null;
      const score: Omit<BackendTokenScore, 'index'> = { id, logprob, prob: Math.exp(logprob), rank, entropy: null };
      if (alternatives > 0) score.alternatives = sortTop(entries).slice(0, alternatives).map((entry) => ({ id: entry.id, text: entry.text, prob: Math.exp(entry.logprob) }));
      scores.push(score);
    }
    return scores;
  }

  private async generated(choice: CompletionChoice, settings: SamplingSettings | undefined, signal?: AbortSignal): Promise<BackendGeneratedToken[]> {
    const logprobs = this.need(choice.logprobs, 'logprobs of the generated tokens');
    const tokens: BackendGeneratedToken[] = [];
    for (let i = 0; i < logprobs.tokens.length; i++) {
      const key = parseTokenKey(logprobs.tokens[i] as string);
      const text = key.text ?? (await this.texts.get(key.id as number, signal));
      const logprob = this.need(logprobs.token_logprobs[i], `the log-probability of generated token ${i}`);
      const sampledProb = settings ? sampledProbOf(await this.entries(logprobs.top_logprobs?.[i], signal), key.id, text, settings) : 1;
      tokens.push({ id: key.id, text, prob: Math.exp(logprob), sampledProb });
    }
    return tokens;
  }

  /**
   * Streamed: tokens arrive as they are generated, and once the stop rules end the completion the
   * connection closes, so the server stops there as the local engine does (a server that does not
   * stream answers whole, cut afterwards).
   */
  protected async greedy(ids: number[], maxNewTokens: number, signal?: AbortSignal, stop?: (tokens: BackendGeneratedToken[]) => boolean): Promise<GreedyResult> {
    const tokens: BackendGeneratedToken[] = [];
    let reason: GreedyResult['reason'] = 'length';
    const onEvent = async (event: unknown): Promise<boolean> => {
      const choice = (event as Partial<CompletionResponse>).choices?.[0];
      if (!choice) return false;
      if (choice.finish_reason) reason = finishReason(choice);
      // The last chunk may carry only the finish reason.
      if (choice.text === '' && !choice.logprobs?.tokens.length) return false;
      tokens.push(...(await this.generated(choice, undefined, signal)));
      return stop?.(tokens) === true;
    };
    const whole: CompletionResponse | undefined = await this.completions({ prompt: ids, max_tokens: maxNewTokens, temperature: 0, logprobs: 1, stream: true }, signal, true, onEvent);
    if (!whole) return { tokens, reason };
    const choice = this.choice(whole);
    return { tokens: await this.generated(choice, undefined, signal), reason: finishReason(choice) };
  }

  protected async sampleRows(ids: number[], request: Required<Pick<SampleRequest, 'n' | 'maxNewTokens'>> & SampleRequest, settings: SamplingSettings): Promise<BackendSequence[]> {
    const topK = settings.topK ?? 0;
    const body = {
      prompt: ids,
      n: request.n,
      max_tokens: request.maxNewTokens,
      temperature: settings.temperature,
      top_p: settings.topP,
      // vLLM and SGLang take top_k as an extra field; -1 turns it off.
      top_k: topK > 0 ? topK : -1,
      logprobs: this.capped(Math.max(1, topK)),
      ...(request.seed === undefined ? {} : { seed: request.seed }),
    };
    // Without a seed a second try would draw other samples: only seeded sampling is retried.
    const response = await this.completions(body, request.signal, request.seed !== undefined);
    const choices = this.need(response.choices, 'choices');
    return Promise.all(choices.map(async (choice) => sequenceOf(choice.text, await this.generated(choice, settings, request.signal), finishReason(choice))));
  }
}

function rankByText(entries: readonly TopEntry[], text: string): number | null {
  const at = sortTop([...entries]).findIndex((entry) => entry.text === text);
  return at < 0 ? null : at + 1;
}

/** OpenAI's finish_reason: "length" at max_tokens, "stop" at EOS or a stop string (vLLM names the string in stop_reason). */
function finishReason(choice: CompletionChoice): 'length' | 'eos' | 'stop' {
  if (choice.finish_reason === 'length') return 'length';
  return choice.stop_reason === null || choice.stop_reason === undefined ? 'eos' : 'stop';
}
