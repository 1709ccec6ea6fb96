// vLLM's OpenAI-compatible server as documented: /v1/models, /tokenize, /detokenize and
// /v1/completions with logprobs (K + the chosen token, keyed by text or "token_id:N"), echo,
// prompt_logprobs ({id: {logprob, rank, decoded_token}}), n, seed, top_k; --max-logprobs refusals.
import { scoreIds } from '../../src/core/scoring';
import { generateSteps, rng } from './fixtureModel';
import type { Alternative } from './fixtureModel';
import { FixtureError, promptOf, requireNumber } from './serverFixture';
import type { ProtocolFixture } from './serverFixture';

const badRequest = (message: string, param: string | null = null): FixtureError => new FixtureError(400, { error: { message, type: 'BadRequestError', param, code: 400 } });

export async function handleOpenAi(fixture: ProtocolFixture, method: string, path: string, body: Record<string, unknown>): Promise<unknown> {
  const engine = fixture.options.engine;
  const tokenizer = engine.model.tokenizer;
  if (method === 'GET' && path === '/v1/models') {
    return { object: 'list', data: [{ id: fixture.model, object: 'model', created: 0, owned_by: 'vllm', root: fixture.model, max_model_len: engine.contextSize }] };
  }
  if (method !== 'POST') throw new FixtureError(404, { detail: 'Not Found' });
  checkModel(fixture, body.model);
  if (path === '/tokenize') {
    const tokens = tokenizer.encode(String(body.prompt ?? ''));
    return { count: tokens.length, max_model_len: engine.contextSize, tokens };
  }
  if (path === '/detokenize') return { prompt: tokenizer.decode((body.tokens as number[]) ?? []) };
  if (path === '/v1/completions') return completions(fixture, body);
  throw new FixtureError(404, { detail: 'Not Found' });
}

/** A completions answer as vLLM streams it (`stream: true`): one chunk per generated token, then one with the finish reason. */
export function completionChunks(fixture: ProtocolFixture, answer: unknown): unknown[] {
  const { choices, ...head } = answer as { choices: Array<{ index: number; finish_reason: string; stop_reason: unknown; logprobs: { tokens: string[]; token_logprobs: number[]; top_logprobs: unknown[]; text_offset: number[] } | null }> };
  const tokenizer = fixture.options.engine.model.tokenizer;
  const text = (key: string): string => (/^token_id:\d+$/.test(key) ? tokenizer.tokenText(Number(key.slice('token_id:'.length))) : key);
  return choices.flatMap((choice) => [
    ...(choice.logprobs?.tokens ?? []).map((token, i) => ({
      ...head,
      choices: [{ index: choice.index, text: text(token), logprobs: { tokens: [token], token_logprobs: [choice.logprobs?.token_logprobs[i]], top_logprobs: [choice.logprobs?.top_logprobs[i]], text_offset: [choice.logprobs?.text_offset[i]] }, finish_reason: null, stop_reason: null }],
    })),
    { ...head, choices: [{ index: choice.index, text: '', logprobs: null, finish_reason: choice.finish_reason, stop_reason: choice.stop_reason }] },
  ]);
}

function checkModel(fixture: ProtocolFixture, model: unknown): void {
  if (model !== undefined && model !== null && model !== fixture.model) {
    throw new FixtureError(404, { error: { message: `The model \`${String(model)}\` does not exist.`, type: 'NotFoundError', param: 'model', code: 404 } });
  }
}

async function completions(fixture: ProtocolFixture, body: Record<string, unknown>): Promise<unknown> {
  const engine = fixture.options.engine;
  const tokenizer = engine.model.tokenizer;
  const cap = fixture.options.maxLogprobs ?? 20;
  const prompt = promptOf(fixture, body.prompt);
  const maxTokens = requireNumber(body, 'max_tokens', 16);
  const logprobs = body.logprobs === undefined || body.logprobs === null ? undefined : requireNumber(body, 'logprobs', 0);
  const echo = body.echo === true;
  let promptLogprobs = body.prompt_logprobs === undefined || body.prompt_logprobs === null ? undefined : requireNumber(body, 'prompt_logprobs', 0);
  if (logprobs !== undefined && logprobs > cap) throw badRequest(`Requested sample logprobs of ${logprobs}, which is greater than max allowed: ${cap}`, 'logprobs');
  if (promptLogprobs !== undefined && promptLogprobs > cap) throw badRequest(`Requested prompt logprobs of ${promptLogprobs}, which is greater than max allowed: ${cap}`, 'prompt_logprobs');
  if (prompt.length + maxTokens > engine.contextSize) {
    throw badRequest(`This model's maximum context length is ${engine.contextSize} tokens. However, you requested ${prompt.length + maxTokens} tokens (${prompt.length} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`);
  }
  if (fixture.options.promptLogprobs === false) promptLogprobs = undefined;
  const asIds = body.return_tokens_as_token_ids === true;
  const key = (id: number): string => (asIds ? `token_id:${id}` : tokenizer.tokenText(id));
  const dict = (chosen: number, top: Alternative[], chosenLogprob: number): Record<string, number> => {
    const out: Record<string, number> = { [key(chosen)]: chosenLogprob };
    for (const entry of top) out[key(entry.id)] = entry.logprob;
    return out;
  };

  // The prompt's own log-probabilities, for prompt_logprobs and echo.
  const promptK = promptLogprobs ?? (echo ? (logprobs ?? 0) : undefined);
  const promptRows =
    promptK === undefined
      ? undefined
      : [null, ...(await scoreIds(engine, prompt, { alternatives: Math.max(1, promptK) })).map((score) => ({ score, top: (score.alternatives ?? []).slice(0, promptK).map((alt) => ({ id: alt.id, logprob: Math.log(alt.prob) })) }))];

  const n = requireNumber(body, 'n', 1);
  const random = rng(typeof body.seed === 'number' ? body.seed : undefined);
  const topK = requireNumber(body, 'top_k', -1);
  const choices = [];
  for (let index = 0; index < n; index++) {
    const steps =
      maxTokens > 0
        ? await generateSteps(engine, prompt, {
            maxTokens,
            alternatives: logprobs ?? 0,
            temperature: requireNumber(body, 'temperature', 1),
            topK: topK > 0 ? topK : 0,
            topP: requireNumber(body, 'top_p', 1),
            random,
          })
        : [];
    const ids = steps.map((step) => step.id);
    const ended = ids.at(-1) === engine.model.info.eosTokenId;
    const generatedText = tokenizer.decode(ids.filter((id) => id !== engine.model.info.eosTokenId));
    const choice: Record<string, unknown> = {
      index,
      text: (echo ? tokenizer.decode(prompt) : '') + generatedText,
      finish_reason: ended ? 'stop' : 'length',
      stop_reason: null,
      logprobs: null,
    };
    if (logprobs !== undefined) {
      const promptPart = echo
        ? prompt.map((id, i) => {
            const row = promptRows?.[i];
            return { token: key(id), logprob: row ? row.score.logprob : null, top: row ? dict(id, row.top, row.score.logprob) : null };
          })
        : [];
      const generatedPart = steps.map((step) => ({ token: key(step.id), logprob: step.logprob, top: dict(step.id, step.top, step.logprob) }));
      const all = [...promptPart, ...generatedPart];
      const offsets: number[] = [];
      all.reduce((offset, entry) => (offsets.push(offset), offset + entry.token.length), 0);
      choice.logprobs = { text_offset: offsets, token_logprobs: all.map((entry) => entry.logprob), tokens: all.map((entry) => entry.token), top_logprobs: all.map((entry) => entry.top) };
    }
    if (promptLogprobs !== undefined && promptRows) {
      choice.prompt_logprobs = promptRows.map((row, i) => {
        if (!row) return null;
        const id = prompt[i] as number;
        const entries: Record<string, { logprob: number; rank: number; decoded_token: string }> = {
          [String(id)]: { logprob: row.score.logprob, rank: row.score.rank, decoded_token: tokenizer.tokenText(id) },
        };
        row.top.forEach((alt, rank) => (entries[String(alt.id)] = { logprob: alt.logprob, rank: rank + 1, decoded_token: tokenizer.tokenText(alt.id) }));
        return entries;
      });
    }
    choices.push(choice);
  }
  return { id: 'cmpl-fixture', object: 'text_completion', created: 0, model: fixture.model, choices, usage: { prompt_tokens: prompt.length, total_tokens: prompt.length + maxTokens * n, completion_tokens: maxTokens * n } };
}
