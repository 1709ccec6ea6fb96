import type { Backend, BackendCapabilities, BackendInfo, BackendNextToken, BackendSequence, BackendTokenScore, NextTokenRequest, SampleRequest, ScoreRequest, TokenizedText } from '../backend';
import { completeGreedy } from '../completion';
import type { Completion, CompletionOptions } from '../completion';
import type { Engine } from '../engine';
import { sampleContinuations } from '../generation';
import { nextTokenDistribution, promptIds } from '../nextToken';
import { scoreIds } from '../scoring';
import type { TokenScore } from '../scoring';

/** The in-process engine behind the Backend interface: the core's functions, unchanged. */
export class LocalBackend implements Backend {
  readonly info: BackendInfo;
  readonly capabilities: BackendCapabilities;

  constructor(readonly engine: Engine) {
    const model = engine.model.info;
    this.info = { kind: 'local', model: model.id, host: 'local', vocabSize: model.vocabSize, contextSize: model.contextSize, startTokenId: model.startTokenId };
    this.capabilities = { kind: 'local', maxTopK: model.vocabSize, entropy: true, logits: true, exactRank: true, samplingView: true, seededSampling: true };
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

  nextToken(text: string, request: NextTokenRequest = {}): Promise<BackendNextToken> {
    return nextTokenDistribution(this.engine, text, request);
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

  computedTokens(): number {
    return this.engine.cacheStats().computedTokens;
  }

  dispose(): Promise<void> {
    return this.engine.dispose();
  }
}
