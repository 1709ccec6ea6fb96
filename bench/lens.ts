// L1: the logit lens at the cursor (issue 23) against a next-token request at the same keystrokes,
// in the same run: both type one word at the end of the ≈ 512-token keystroke context, the cache
// warm from the previous keystroke, so each request runs about one new position.
import type { Engine } from '../src/core/engine';
import { lensAt } from '../src/core/lens';
import { nextTokenDistribution } from '../src/core/nextToken';
import { TYPED_WORDS, keystrokes } from './prose';
import { ratioRow } from './report';
import type { Row } from './report';
import { median, pairedRatios, repeatEach, timed } from './stats';
import type { EngineBench } from './workloads';

/** Per-keystroke milliseconds of `request` over one typed word, from a fresh cache; the first keystroke (a whole context) unmeasured. */
async function typeWord(engine: Engine, context: string, word: string, request: (text: string) => Promise<unknown>): Promise<number[]> {
  engine.cache.clear();
  const samples: number[] = [];
  for (const [i, text] of keystrokes(context, word).entries()) {
    const ms = await timed(() => request(text));
    if (i > 0) samples.push(ms);
  }
  return samples;
}

export async function lensRows(bench: EngineBench): Promise<Row[]> {
  const { engine, texts, runs } = bench;
  // The lens graph and its session are built on the first request: measured apart, once.
  const openMs = await timed(() => lensAt(engine, texts.typing));
  const wordOf = (run: number): string => TYPED_WORDS[run % TYPED_WORDS.length] as string;
  const [lens, next] = await repeatEach(runs, [
    (run) => typeWord(engine, texts.typing, wordOf(run), (text) => lensAt(engine, text, { top: 10 })),
    (run) => typeWord(engine, texts.typing, wordOf(run), (text) => nextTokenDistribution(engine, text, { top: 10 })),
  ]);
  const contextTokens = engine.model.tokenizer.encode(texts.typing).length;
  return [
    ratioRow(
      {
        id: 'L1',
        workload: `logit lens at the cursor (${engine.model.info.layers + 1} layer rows, top 10, attention of every head), keystrokes at the end of a ${contextTokens}-token context (warm prefix cache)`,
        unit: 'ms',
        samples: lens.flat(),
        baseline: { label: 'next-token request (top 10) at the same keystrokes, same run', value: median(next.flat()), samples: next.flat() },
        pairs: pairedRatios(lens, next),
        target: '≤ 1.5×',
        details: { firstLensRequestMs: openMs },
      },
      { max: 1.5 },
    ),
  ];
}
