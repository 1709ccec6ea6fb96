// llama-server's native API as its README documents it: /health, /props, /v1/models,
// /tokenize (with_pieces: a string piece, or bytes when not valid UTF-8), /detokenize, and
// /completion with n_probs (raw softmax, untouched by samplers and logit_bias),
// post_sampling_probs (after the chain), logit_bias, seed; sampler defaults as llama-server's.
import type { Engine } from '../../src/core/engine';
import { endsInsideCharacter, generateSteps, isValidUtf8, rng, tokenBytes } from './fixtureModel';
import type { Alternative, FixtureStep } from './fixtureModel';
import { FixtureError, promptOf, requireNumber } from './serverFixture';
import type { ProtocolFixture } from './serverFixture';

export async function handleLlamaCpp(fixture: ProtocolFixture, method: string, path: string, body: Record<string, unknown>): Promise<unknown> {
  const engine = fixture.options.engine;
  const tokenizer = engine.model.tokenizer;
  if (method === 'GET' && path === '/health') return { status: 'ok' };
  if (method === 'GET' && path === '/props') {
    return { default_generation_settings: { id: 0, n_ctx: engine.contextSize, params: { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05 } }, total_slots: 1, model_path: `/models/${fixture.model}.gguf`, chat_template: '' };
  }
  if (method === 'GET' && path === '/v1/models') {
    return { object: 'list', data: [{ id: fixture.model, object: 'model', owned_by: 'llamacpp', meta: { n_vocab: engine.vocabSize, n_ctx_train: engine.contextSize } }] };
  }
  if (method !== 'POST') throw new FixtureError(404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
  if (path === '/tokenize') {
    // GPT-2 has no BOS to add; special tokens in the text are parsed (as llama-server does).
    const ids = tokenizer.encode(String(body.content ?? ''));
    if (body.with_pieces !== true) return { tokens: ids };
    return {
      tokens: ids.map((id) => {
        const bytes = tokenBytes(engine, id);
        return { id, piece: isValidUtf8(bytes) ? bytes.toString('utf8') : [...bytes] };
      }),
    };
  }
  if (path === '/detokenize') return { content: tokenizer.decode((body.tokens as number[]) ?? []) };
  if (path === '/completion') return completion(fixture, body);
  throw new FixtureError(404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
}

function logitBias(body: Record<string, unknown>): Map<number, number> {
  const bias = new Map<number, number>();
  const raw = body.logit_bias;
  if (Array.isArray(raw)) for (const pair of raw) if (Array.isArray(pair) && typeof pair[0] === 'number') bias.set(pair[0], pair[1] === false ? -Infinity : Number(pair[1]));
  return bias;
}

async function completion(fixture: ProtocolFixture, body: Record<string, unknown>): Promise<unknown> {
  const engine = fixture.options.engine;
  const tokenizer = engine.model.tokenizer;
  const prompt = promptOf(fixture, body.prompt);
  if (prompt.length >= engine.contextSize) {
    throw new FixtureError(400, { error: { code: 400, message: 'the request exceeds the available context size, try increasing it', type: 'exceed_context_size_error' } });
  }
  const nPredict = Math.min(requireNumber(body, 'n_predict', -1) < 0 ? 16 : requireNumber(body, 'n_predict', -1), engine.contextSize - prompt.length);
  const nProbs = Math.min(requireNumber(body, 'n_probs', 0), engine.vocabSize);
  const post = body.post_sampling_probs === true;
  const steps = await generateSteps(engine, prompt, {
    maxTokens: nPredict,
    alternatives: nProbs,
    // llama-server's own defaults when a request leaves them out.
    temperature: requireNumber(body, 'temperature', 0.8),
    topK: requireNumber(body, 'top_k', 40),
    topP: requireNumber(body, 'top_p', 0.95),
    bias: logitBias(body),
    random: rng(typeof body.seed === 'number' && body.seed >= 0 ? body.seed : undefined),
  });
  const ids = steps.map((step) => step.id);
  const eos = engine.model.info.eosTokenId;
  const content = tokenizer.decode(ids.filter((id) => id !== eos));
  const answer: Record<string | symbol, unknown> = {
    index: 0,
    content,
    tokens: body.return_tokens === true ? ids : [],
    id_slot: 0,
    stop: true,
    model: fixture.model,
    tokens_predicted: ids.length,
    tokens_evaluated: prompt.length,
    stop_type: ids.at(-1) === eos ? 'eos' : 'limit',
    stopping_word: '',
    tokens_cached: prompt.length + ids.length - 1,
    truncated: false,
  };
  // A last token that ends inside a character is held back with its probabilities (seen on real servers).
  const last = ids.at(-1);
  const heldBack = last !== undefined && endsInsideCharacter(Buffer.concat(ids.map((id) => tokenBytes(engine, id))));
  if (nProbs > 0 && !(heldBack && ids.length === 1)) answer.completion_probabilities = steps.map((step) => position(engine, step, post, fixture.options.llamaFormat ?? 'new'));
  if (body.stream === true) {
    // As llama-server streams /completion: a chunk per token (with its probabilities), then the
    // final fields with stop: true and no content; no [DONE], which only its OpenAI routes send.
    const { completion_probabilities: positions, ...final } = answer as { completion_probabilities?: unknown[] };
    const chunks = steps.slice(0, positions ? positions.length : steps.length).map((step, i) => ({
      index: 0,
      content: tokenizer.decode([step.id]),
      tokens: [step.id],
      stop: false,
      id_slot: 0,
      tokens_predicted: i + 1,
      tokens_evaluated: prompt.length,
      ...(positions ? { completion_probabilities: [positions[i]] } : {}),
    }));
    answer[STREAM_CHUNKS] = [...chunks, { ...final, content: '', tokens: [] }];
  }
  return answer;
}

/** Where a /completion answer asked with `stream: true` keeps its events (a symbol: JSON leaves it out). */
export const STREAM_CHUNKS = Symbol('llama-server stream chunks');

function position(engine: Engine, step: FixtureStep, post: boolean, format: 'new' | 'old'): unknown {
  const describe = (entry: Alternative, asProb: boolean): Record<string, unknown> => {
    const bytes = tokenBytes(engine, entry.id);
    // llama-server cuts `token` to its valid UTF-8 prefix; `bytes` has them all.
    const token = isValidUtf8(bytes) ? bytes.toString('utf8') : '';
    return { id: entry.id, token, bytes: [...bytes], ...(asProb ? { prob: Math.exp(entry.logprob) } : { logprob: entry.logprob }) };
  };
  if (format === 'old') {
    const list = post ? step.sampled : step.top;
    return { content: engine.model.tokenizer.tokenText(step.id), probs: list.map((entry) => ({ tok_str: engine.model.tokenizer.tokenText(entry.id), prob: Math.exp(entry.logprob) })) };
  }
  if (post) {
    const chosen = step.sampled.find((entry) => entry.id === step.id) ?? { id: step.id, logprob: -Infinity };
    return { ...describe(chosen, true), top_probs: step.sampled.map((entry) => describe(entry, true)) };
  }
  return { ...describe({ id: step.id, logprob: step.logprob }, false), top_logprobs: step.top.map((entry) => describe(entry, false)) };
}
