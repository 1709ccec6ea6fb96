import type { Backend } from '../core/backend';
import { degradations, isSamplingActive } from '../core/backend';
import { finishCompletion } from '../core/completion';
import { samplingStops } from '../core/stopRules';
import { scoreSentences } from '../core/sentenceLoss';
import { scoreTextOn } from '../core/textScore';
import type {
  CompleteParams,
  CompleteResponse,
  ContextToken,
  NextTokenParams,
  NextTokenResponse,
  SampleParams,
  SampleResponse,
  ScoreSentencesParams,
  ScoreSentencesResponse,
  ScoreTextParams,
  ScoreTextResponse,
} from '../shared/hostProtocol';

/**
 * The model process's requests answered by a server instead of the in-process engine: the same
 * responses, with null where the server cannot give a number and `notes` saying so.
 */
export class RemoteService {
  constructor(readonly backend: Backend) {}

  get label(): string {
    return `${this.backend.info.model} @ ${this.backend.info.host}`;
  }

  async nextToken(params: NextTokenParams, text: string, signal: AbortSignal): Promise<NextTokenResponse> {
    const started = performance.now();
    const settings = { temperature: params.temperature, topK: params.topK, topP: params.topP };
    const { contextIds, ...result } = await this.backend.nextToken(text, { top: params.top, ...settings, signal });
    const tailFrom = Math.max(0, contextIds.length - (params.tailTokens ?? 8));
    const tail = await this.tail(contextIds, tailFrom, signal);
    const notes = degradations(this.backend.capabilities, { rows: params.top, entropy: true, sampling: isSamplingActive(settings) && !result.sampling });
    return { ...result, tail, notes, engine: this.label, elapsedMs: performance.now() - started };
  }

  /** The chips' probabilities: one scoring request on servers that score a window at once; none where each token costs a request. */
  private async tail(ids: number[], from: number, signal: AbortSignal): Promise<ContextToken[]> {
    const texts = await Promise.all(ids.slice(from).map((id) => this.backend.tokenText(id, signal)));
    const oneRequest = this.backend.capabilities.kind === 'openai';
    const scores = oneRequest && ids.length > 1 ? await this.backend.score(ids, { fromToken: Math.max(1, from), signal }) : [];
    const byIndex = new Map(scores.map((score) => [score.index, score.prob]));
    return ids.slice(from).map((id, offset) => ({ id, text: texts[offset] ?? '', prob: byIndex.get(from + offset) }));
  }

  async sample(params: SampleParams, text: string, signal: AbortSignal): Promise<SampleResponse> {
    const started = performance.now();
    const sequences = await this.backend.sample(await this.backend.promptIds(text, false, signal), { ...params, signal });
    return { sequences, elapsedMs: performance.now() - started };
  }

  async complete(params: CompleteParams, text: string, signal: AbortSignal): Promise<CompleteResponse> {
    const started = performance.now();
    const prompt = await this.backend.promptIds(text, false, signal);
    const greedy = await this.backend.complete(prompt, { maxNewTokens: params.maxNewTokens, signal, ...params.stop });
    const alternatives = [];
    if (params.alternatives > 0) {
      const eos = this.backend.info.startTokenId ?? -1;
      const sequences = await this.backend.sample(prompt, { n: params.alternatives, maxNewTokens: params.maxNewTokens, seed: params.seed, temperature: params.temperature ?? 0.8, topK: 50, signal });
      const seen = new Set([greedy.text]);
      for (const sequence of sequences) {
        const completion = finishCompletion(sequence.tokens, eos, sequence.stopReason, samplingStops(params.stop ?? {}));
        if (completion.text.trim() === '' || seen.has(completion.text)) continue;
        seen.add(completion.text);
        alternatives.push(completion);
      }
    }
    return { greedy, alternatives, elapsedMs: performance.now() - started };
  }

  async scoreSentences(params: ScoreSentencesParams, text: string, signal: AbortSignal): Promise<ScoreSentencesResponse> {
    const started = performance.now();
    const result = await scoreSentences(this.backend, text, { languageId: params.languageId, fromOffset: params.fromOffset, signal });
    return { ...result, elapsedMs: performance.now() - started };
  }

  async scoreText(params: ScoreTextParams, text: string, signal: AbortSignal): Promise<ScoreTextResponse> {
    const started = performance.now();
    const result = await scoreTextOn(this.backend, text, { bos: params.bos, signal });
    return { loss: result.loss, perplexity: result.perplexity, predicted: result.tokens.length, tokenCount: result.ids.length, elapsedMs: performance.now() - started };
  }
}
