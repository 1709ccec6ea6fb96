import { endTokenOf } from './backend';
import type { Backend, BackendCompletion } from './backend';
import { finishCompletion, stopRule } from './completion';
import { samplingStops } from './stopRules';
import type { StopOptions } from './stopRules';

export interface GhostTextRequest {
  maxNewTokens: number;
  /** Sampled alternatives to ask for besides the greedy completion (0 = none). */
  alternatives: number;
  seed?: number;
  temperature?: number;
  /** The stop rules' settings (lmLens.inline.stopAt, minTokenProb). */
  stop?: StopOptions;
  signal?: AbortSignal;
}

/** Top-k of the sampled alternatives: the notebook's `generate(do_sample=True)` default. */
const ALTERNATIVES_TOP_K = 50;
const ALTERNATIVES_TEMPERATURE = 0.8;

/**
 * Ghost text on any backend: the greedy completion, then sampled alternatives cut by the same
 * stop rules, with empty ones and duplicates (of each other or of the greedy text) removed.
 * The rules live here once; backends only generate.
 */
export async function completeWithAlternatives(backend: Backend, prompt: number[], request: GhostTextRequest): Promise<{ greedy: BackendCompletion; alternatives: BackendCompletion[] }> {
  const { maxNewTokens, signal } = request;
  const greedy = await backend.complete(prompt, { maxNewTokens, signal, ...request.stop });
  if (request.alternatives <= 0) return { greedy, alternatives: [] };
  // Sampled alternatives are unlikely draws by design: the low-confidence rule is for the greedy text only.
  const rules = { maxNewTokens, ...samplingStops(request.stop ?? {}) };
  const sequences = await backend.sample(prompt, {
    n: request.alternatives,
    maxNewTokens,
    seed: request.seed,
    temperature: request.temperature ?? ALTERNATIVES_TEMPERATURE,
    topK: ALTERNATIVES_TOP_K,
    signal,
    stopAfter: stopRule(rules),
  });
  const eos = endTokenOf(backend.info);
  const seen = new Set([greedy.text]);
  const alternatives: BackendCompletion[] = [];
  for (const sequence of sequences) {
    const completion = finishCompletion(sequence.tokens, eos, sequence.stopReason, rules);
    if (completion.text.trim() === '' || seen.has(completion.text)) continue;
    seen.add(completion.text);
    alternatives.push(completion);
  }
  return { greedy, alternatives };
}
