// Answers in the shapes the servers' own documentation shows, parsed exactly. The llama.cpp
// README (examples/server/README.md) gives /tokenize examples verbatim (including the byte
// pieces of "á"), the `completion_probabilities` schema (current: id/token/bytes/logprob/
// top_logprobs, post_sampling_probs: prob/top_probs; before Dec 2024: content + probs
// [{prob, tok_str}]) and its error object. vLLM's protocol (vllm/entrypoints/openai) gives
// CompletionLogProbs {text_offset, token_logprobs, tokens, top_logprobs}, prompt_logprobs
// {id: {logprob, rank, decoded_token}} and its two error shapes. Schema placeholders are
// filled with concrete values here.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LmLensError } from '../../src/core/errors';
import { serverMessage } from '../../src/core/remote/http';
import { LlamaCppBackend, parsePosition, positionsOf } from '../../src/core/remote/llamaCpp';
import { OpenAiBackend, parseTokenKey } from '../../src/core/remote/openai';
import { spansFromPieces } from '../../src/core/remote/tokens';

/** A server that answers each path with a fixed body. */
async function canned(routes: Record<string, { status?: number; body: unknown }>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const route = routes[(req.url ?? '').split('?')[0] as string];
      const text = JSON.stringify(route?.body ?? { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
      res.writeHead(route ? (route.status ?? 200) : 404, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('recorded server answers, parsed exactly', () => {
  describe('llama-server (examples/server/README.md)', () => {
    it('/tokenize with_pieces: the README’s "Hello world!" and the byte pieces of "á"', () => {
      const hello = [
        { id: 123, piece: 'Hello' },
        { id: 456, piece: ' world' },
        { id: 789, piece: '!' },
      ];
      assert.deepEqual(
        spansFromPieces(
          'Hello world!',
          hello.map((token) => Buffer.from(token.piece)),
        ),
        [
          { start: 0, end: 5 },
          { start: 5, end: 11 },
          { start: 11, end: 12 },
        ],
      );
      // {"id": 198, "piece": [195]}, {"id": 164, "piece": [161]}: C3 A1 split in two tokens share the character.
      assert.deepEqual(spansFromPieces('á', [Uint8Array.from([195]), Uint8Array.from([161])]), [
        { start: 0, end: 1 },
        { start: 0, end: 1 },
      ]);
      // A Qwen server reads accents typed as combining marks (NFD) in their NFC form: one piece "ééé" for six characters.
      assert.deepEqual(spansFromPieces('e\u0301e\u0301e\u0301!', [Buffer.from('\u00e9\u00e9\u00e9'), Buffer.from('!')]), [
        { start: 0, end: 6 },
        { start: 6, end: 7 },
      ]);
    });

    it('current completion_probabilities: id, token, bytes, logprob, top_logprobs', () => {
      const position = parsePosition({
        id: 257,
        logprob: -1.2,
        token: ' a',
        bytes: [32, 97],
        top_logprobs: [
          { id: 257, logprob: -1.2, token: ' a', bytes: [32, 97] },
          { id: 262, logprob: -2.5, token: ' the', bytes: [32, 116, 104, 101] },
          { id: 8582, logprob: -3.75, token: '', bytes: [240, 159] },
        ],
      });
      assert.deepEqual(position.chosen, { id: 257, text: ' a', logprob: -1.2 });
      assert.deepEqual(position.top, [
        { id: 257, text: ' a', logprob: -1.2 },
        { id: 262, text: ' the', logprob: -2.5 },
        // `token` is cut to valid UTF-8 (empty); the bytes say it is half a character.
        { id: 8582, text: '\uFFFD', logprob: -3.75 },
      ]);
    });

    it('post_sampling_probs: prob and top_probs instead of logprob and top_logprobs', () => {
      const position = parsePosition({ id: 257, prob: 0.75, token: ' a', bytes: [32, 97], top_probs: [{ id: 257, prob: 0.75, token: ' a', bytes: [32, 97] }, { id: 262, prob: 0.25, token: ' the', bytes: [32, 116, 104, 101] }] });
      assert.equal(position.chosen.logprob, Math.log(0.75));
      assert.deepEqual(
        position.top.map((entry) => [entry.id, entry.logprob]),
        [
          [257, Math.log(0.75)],
          [262, Math.log(0.25)],
        ],
      );
    });

    it('the format before December 2024: content and probs [{prob, tok_str}], without ids', () => {
      const [position] = positionsOf({
        content: ' a',
        completion_probabilities: [
          {
            content: ' a',
            probs: [
              { prob: 0.5, tok_str: ' a' },
              { prob: 0.25, tok_str: ' the' },
            ],
          },
        ],
      });
      assert.deepEqual(position, {
        chosen: { id: null, text: ' a', logprob: Math.log(0.5) },
        top: [
          { id: null, text: ' a', logprob: Math.log(0.5) },
          { id: null, text: ' the', logprob: Math.log(0.25) },
        ],
      });
    });

    it('a whole next-token request against a server speaking the old format', async () => {
      const server = await canned({
        '/health': { body: { status: 'ok' } },
        '/props': { body: { default_generation_settings: { n_ctx: 2048 }, model_path: '/models/gpt2.gguf' } },
        '/tokenize': { body: { tokens: [] } },
        '/completion': { body: { content: ' a', completion_probabilities: [{ content: ' a', probs: [{ prob: 0.5, tok_str: ' a' }, { prob: 0.25, tok_str: ' the' }] }] } },
      });
      try {
        const backend = new LlamaCppBackend({ url: server.url });
        const result = await backend.nextToken('', { top: 2 });
        assert.equal(backend.info.model, 'gpt2.gguf');
        assert.equal(backend.info.contextSize, 2048);
        assert.deepEqual(
          result.top.map((row) => [row.id, row.text, row.prob]),
          [
            [null, ' a', 0.5],
            [null, ' the', 0.25],
          ],
        );
      } finally {
        await server.close();
      }
    });

    it('the README’s error object: {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}', async () => {
      assert.equal(serverMessage('{"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}'), 'Invalid API Key');
      const server = await canned({ '/health': { status: 401, body: { error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } } } });
      try {
        await assert.rejects(new LlamaCppBackend({ url: server.url }).ready(), (error: unknown) => error instanceof LmLensError && error.code === 'server-auth' && /\(401: Invalid API Key\)/.test(error.message));
      } finally {
        await server.close();
      }
    });
  });

  describe('vLLM (vllm/entrypoints/openai)', () => {
    it('tokens as "token_id:N" (return_tokens_as_token_ids) or as text', () => {
      assert.deepEqual(parseTokenKey('token_id:50256'), { id: 50256, text: undefined });
      assert.deepEqual(parseTokenKey(' token_id'), { id: null, text: ' token_id' });
    });

    it('a next-token answer: CompletionLogProbs with the chosen token plus the top K', async () => {
      const server = await canned({
        '/v1/models': { body: { object: 'list', data: [{ id: 'gpt2', object: 'model', max_model_len: 1024 }] } },
        '/tokenize': { body: { count: 0, max_model_len: 1024, tokens: [] } },
        '/detokenize': { body: { prompt: ' the' } },
        '/v1/completions': {
          body: {
            id: 'cmpl-1',
            object: 'text_completion',
            model: 'gpt2',
            choices: [{ index: 0, text: ' the', finish_reason: 'length', stop_reason: null, logprobs: { text_offset: [0], token_logprobs: [-0.5], tokens: ['token_id:262'], top_logprobs: [{ 'token_id:262': -0.5, 'token_id:257': -1.5 }] } }],
          },
        },
      });
      try {
        const backend = new OpenAiBackend({ url: server.url });
        const result = await backend.nextToken('', { top: 2 });
        assert.equal(backend.info.model, 'gpt2');
        assert.deepEqual(
          result.top.map((row) => [row.id, row.logprob, row.prob]),
          [
            [262, -0.5, Math.exp(-0.5)],
            [257, -1.5, Math.exp(-1.5)],
          ],
        );
        assert.equal(result.entropy, null);
      } finally {
        await server.close();
      }
    });

    it('prompt_logprobs: per position (the first null), keyed by id with logprob, rank and decoded_token', async () => {
      const server = await canned({
        '/v1/models': { body: { object: 'list', data: [{ id: 'gpt2', max_model_len: 1024 }] } },
        '/tokenize': { body: { count: 0, tokens: [] } },
        '/v1/completions': {
          body: {
            choices: [
              {
                index: 0,
                text: '.',
                logprobs: null,
                prompt_logprobs: [
                  null,
                  { '318': { logprob: -2.25, rank: 3, decoded_token: ' is' }, '373': { logprob: -1.25, rank: 1, decoded_token: ' was' } },
                  { '257': { logprob: -0.75, rank: 1, decoded_token: ' a' } },
                ],
              },
            ],
          },
        },
      });
      try {
        const scores = await new OpenAiBackend({ url: server.url }).score([44484, 318, 257], { alternatives: 1 });
        assert.deepEqual(scores, [
          { index: 1, id: 318, logprob: -2.25, prob: Math.exp(-2.25), rank: 3, entropy: null, alternatives: [{ id: 373, text: ' was', prob: Math.exp(-1.25) }] },
          { index: 2, id: 257, logprob: -0.75, prob: Math.exp(-0.75), rank: 1, entropy: null, alternatives: [{ id: 257, text: ' a', prob: Math.exp(-0.75) }] },
        ]);
      } finally {
        await server.close();
      }
    });

    it('error bodies: the nested {"error": {...}} of current releases, the flat one of older releases, FastAPI’s detail', () => {
      assert.equal(
        serverMessage('{"error": {"message": "Requested sample logprobs of 25, which is greater than max allowed: 20", "type": "BadRequestError", "param": "logprobs", "code": 400}}'),
        'Requested sample logprobs of 25, which is greater than max allowed: 20',
      );
      assert.equal(serverMessage('{"object": "error", "message": "The model `gpt-5` does not exist.", "type": "NotFoundError", "param": null, "code": 404}'), 'The model `gpt-5` does not exist.');
      assert.equal(serverMessage('{"error": "Unauthorized"}'), 'Unauthorized');
      assert.equal(serverMessage('{"detail": "Not Found"}'), 'Not Found');
    });
  });
});
