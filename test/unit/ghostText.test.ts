// Ghost text's alternatives leave out the model's end-of-text token, which for the Llama family
// is not the start token (Llama 3: <|begin_of_text|> starts, <|end_of_text|> ends).
import * as assert from 'node:assert/strict';
import type { Backend, BackendSequence } from '../../src/core/backend';
import { completeWithAlternatives } from '../../src/core/ghostText';

const START = 1;
const END = 2;

function sequence(tokens: Array<[id: number, text: string]>): BackendSequence {
  return {
    text: tokens.map(([, text]) => text).join(''),
    tokens: tokens.map(([id, text]) => ({ id, text, prob: 0.5, sampledProb: 0.5, normedProb: null })),
    prob: 0.1,
    sampledProb: 0.1,
    logprob: -1,
    share: null,
    normedProd: null,
    stopReason: 'eos',
  };
}

describe('ghost text alternatives', () => {
  it('leave out the end token, not the start token, when the two differ', async () => {
    const backend = {
      info: { kind: 'local', model: 'llama', host: 'local', vocabSize: 10, contextSize: 64, startTokenId: START, endTokenId: END, dtype: 'fp32' },
      complete: async () => ({ text: ' greedy', tokens: [], stopReason: 'length', meanProb: 1, jointProb: 1 }),
      sample: async () => [sequence([[5, ' a'], [6, ' cat'], [END, '<|end_of_text|>']])],
    } as unknown as Backend;
    const { alternatives } = await completeWithAlternatives(backend, [START], { maxNewTokens: 8, alternatives: 1 });
    assert.deepEqual(alternatives.map((alternative) => alternative.text), [' a cat']);
  });
});
