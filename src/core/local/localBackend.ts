import type {
  Backend,
  BackendCapabilities,
  BackendContextToken,
  BackendInfo,
  BackendNextToken,
  BackendSequence,
  BackendTokenScore,
  NextTokenRequest,
  SampleRequest,
  ScoreRequest,
  TokenizedText,
} from '../backend';
import { NEEDS_LOGITS } from '../backend';
import { compareText } from '../compare';
import type { ComparedTextToken } from '../compare';
import { completeGreedy } from '../completion';
import type { Completion, CompletionOptions } from '../completion';
import { logSoftmax } from '../distribution';
import type { Engine } from '../engine';
import { LmLensError } from '../errors';
import { sampleContinuations } from '../generation';
import { lensAt } from '../lens';
import type { LensOptions, LensResult } from '../lens';
import { LruMap } from '../lruMap';
import type { PrefixCacheStats } from '../prefixCache';
import { describeDistribution, fitContext, promptIds } from '../nextToken';
import { scoreIds } from '../scoring';
import type { TokenScore } from '../scoring';

/** The in-process engine behind the Backend interface: the core's functions, unchanged. */
export class LocalBackend implements Backend {
  readonly info: BackendInfo;
  readonly capabilities: BackendCapabilities;
  /** Recent next-token distributions (logits) keyed by a hash of their context, for the panel's chips. */
  private readonly distributions = new LruMap<string, Float32Array>(64);

  constructor(readonly engine: Engine) {
    const model = engine.model.info;
    this.info = { kind: 'local', model: model.id, host: 'local', vocabSize: model.vocabSize, contextSize: model.contextSize, startTokenId: model.startTokenId, endTokenId: model.eosTokenId, dtype: model.dtype };
    this.capabilities = { kind: 'local', maxTopK: model.vocabSize, entropy: true, logits: true, exactRank: true, samplingView: true, seededSampling: true, lens: true };
  }

  async ready(): Promise<BackendInfo> {
    return this.info;
  }

  async tokenize(text: string): Promise<TokenizedText> {
    // tokenizer(text)'s ids, as Hugging Face gives them: a start token the tokenizer adds covers no text.
    const tokenizer = this.engine.model.tokenizer;
    const textIds = tokenizer.encode(text);
    const added = tokenizer.startIds;
    const ids = [...added, ...textIds];
    const spans = [...added.map(() => ({ start: 0, end: 0 })), ...tokenizer.spans(text, textIds)];
    return { ids, texts: ids.map((id) => tokenizer.tokenText(id)), spans, added: added.length };
  }

  async promptIds(text: string, bos = false): Promise<number[]> {
    return promptIds(this.engine, text, bos);
  }

  async tokenText(id: number): Promise<string> {
    return this.engine.model.tokenizer.tokenText(id);
  }

  /**
   * The distribution after `text`; with `tailTokens`, the last tokens' own probabilities too. A
   * chip's probability needs the distribution one position earlier; typing usually asked for it
   * already, so the run computes logits only from the first position not remembered.
   */
  async nextToken(text: string, request: NextTokenRequest = {}): Promise<BackendNextToken> {
    const engine = this.engine;
    const { ids, truncated } = fitContext(promptIds(engine, text, request.bos), engine.contextSize);
    const tailFrom = request.tailTokens === undefined ? ids.length : Math.max(0, ids.length - request.tailTokens);
    const prefixKeys = prefixHashes(ids);
    const missing = ids.findIndex((_id, i) => i >= Math.max(1, tailFrom) && !this.distributions.has(prefixKeys[i - 1] as string));
    const vocab = engine.vocabSize;
    const run = await engine.run(ids, {
      signal: request.signal,
      logitsFrom: missing > 0 ? missing - 1 : ids.length - 1,
      onLogits: (first, rows, count) => {
        for (let row = 0; row < count; row++) this.distributions.set(prefixKeys[first + row] as string, rows.slice(row * vocab, (row + 1) * vocab));
      },
    });
    const result = describeDistribution(engine, run.lastLogits, ids, truncated, request);
    if (request.tailTokens === undefined) return result;
    const tail: BackendContextToken[] = ids.slice(tailFrom).map((id, offset) => {
      const position = tailFrom + offset;
      const logits = position > 0 ? this.distributions.get(prefixKeys[position - 1] as string) : undefined;
      return { id, text: engine.model.tokenizer.tokenText(id), prob: logits ? Math.exp(logSoftmax(logits)[id] as number) : undefined };
    });
    return { ...result, tail };
  }

  async score(ids: number[], request: ScoreRequest = {}): Promise<BackendTokenScore[]> {
    const tokenizer = this.engine.model.tokenizer;
    const named = (score: TokenScore): BackendTokenScore => (score.alternatives ? { ...score, alternatives: score.alternatives.map((alt) => ({ ...alt, text: tokenizer.tokenText(alt.id) })) } : score);
    // Each window's scores are named once, as they come; together they are the result.
    const scores: BackendTokenScore[] = [];
    await scoreIds(this.engine, ids, {
      ...request,
      onScores: (batch) => {
        const added = batch.map(named);
        scores.push(...added);
        request.onScores?.(added);
      },
    });
    return scores;
  }

  complete(prompt: number[], options: CompletionOptions = {}): Promise<Completion> {
    return completeGreedy(this.engine, prompt, options);
  }

  sample(prompt: number[], request: SampleRequest = {}): Promise<BackendSequence[]> {
    return sampleContinuations(this.engine, prompt, request);
  }

  lens(text: string, request: LensOptions = {}): Promise<LensResult> {
    return lensAt(this.engine, text, request);
  }

  async compareText(other: Backend, text: string, signal?: AbortSignal): Promise<ComparedTextToken[]> {
    if (!(other instanceof LocalBackend)) throw new LmLensError('text-invalid', NEEDS_LOGITS);
    return compareText(this.engine, other.engine, text, { signal });
  }

  computedTokens(): number {
    return this.engine.cacheStats().computedTokens;
  }

  workStats(): { cache: PrefixCacheStats; steps: number } {
    return { cache: this.engine.cacheStats(), steps: this.engine.scheduler.stats().steps };
  }

  dispose(): Promise<void> {
    this.distributions.clear();
    return this.engine.dispose();
  }
}

/** Key of every prefix `ids[0..i]`, cheap to compare (FNV-1a over the ids, plus the length). */
function prefixHashes(ids: number[]): string[] {
  const keys: string[] = [];
  let hash = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) {
    hash = Math.imul(hash ^ (ids[i] as number), 0x01000193) >>> 0;
    hash = Math.imul(hash ^ ((ids[i] as number) >>> 16), 0x01000193) >>> 0;
    keys.push(`${i}:${hash.toString(36)}`);
  }
  return keys;
}
