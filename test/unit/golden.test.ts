// The notebook's printed numbers for real GPT-2. GPT-2's weights cannot be downloaded on
// machines without the hub, so this suite runs only where Xenova/gpt2 is cached (or the hub
// answers) and is reported as pending, with the reason, everywhere else.
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { nextTokenDistribution } from '../../src/core/nextToken';
import { scoreText } from '../../src/core/scoring';
import { sampleContinuations } from '../../src/core/generation';

const cacheDir = process.env.LM_LENS_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'lm-lens');

async function hubReachable(): Promise<boolean> {
  try {
    const response = await fetch('https://huggingface.co/api/models/Xenova/gpt2', { method: 'HEAD', signal: AbortSignal.timeout(3000) });
    return response.ok;
  } catch {
    return false;
  }
}

describe('real GPT-2 (Xenova/gpt2) reproduces the notebook', function () {
  this.timeout(15 * 60_000);
  let engine: Engine | undefined;

  before(async function () {
    try {
      engine = await loadEngine({ model: 'Xenova/gpt2', cacheDir, allowDownloads: false });
    } catch (offlineError) {
      if (!(await hubReachable())) {
        console.log(`      skipped: Xenova/gpt2 is not cached in ${cacheDir} and the hub is unreachable (${(offlineError as Error).message})`);
        this.skip();
      }
      engine = await loadEngine({ model: 'Xenova/gpt2', cacheDir, allowDownloads: true });
    }
  });
  after(async () => engine?.dispose());

  it('vocabulary 50257 and encode("Alice") = [44484]', () => {
    assert.equal(engine?.vocabSize, 50257);
    assert.deepEqual(engine?.model.tokenizer.encode('Alice'), [44484]);
  });

  it('loss of "Alice is a" with labels=input_ids is 3.2805', async () => {
    const result = await scoreText(engine as Engine, 'Alice is a');
    assert.ok(Math.abs(result.loss - 3.280515432357788) < 1e-4, String(result.loss));
  });

  it('top-10 after "Alice" matches the notebook', async () => {
    const result = await nextTokenDistribution(engine as Engine, 'Alice', { top: 10 });
    const expected: Array<[string, number]> = [
      [',', 0.0643], ['.', 0.0447], [' and', 0.0286], ['\n', 0.0277], ["'s", 0.0254],
      [' to', 0.0176], ['-', 0.0164], [' is', 0.0158], [' in', 0.0128], [' of', 0.0119],
    ];
    result.top.forEach((token, i) => {
      assert.equal(token.text, expected[i]?.[0]);
      assert.ok(Math.abs(token.prob - (expected[i]?.[1] ?? 0)) < 5e-5 + 1e-4, `${token.text}: ${token.prob}`);
    });
  });

  it('samples 3 × 10 tokens with per-token probabilities and shares summing to 1', async () => {
    const sequences = await sampleContinuations(engine as Engine, [44484], { n: 3, maxNewTokens: 10, seed: 1 });
    assert.equal(sequences.length, 3);
    assert.ok(Math.abs(sequences.reduce((sum, s) => sum + s.share, 0) - 1) < 1e-9);
  });
});
