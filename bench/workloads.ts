// W1–W5 and the decode-vs-bandwidth rows: the product's core (Engine and the functions the
// model process calls) in this process, each against a baseline measured in the same run.
import { completeGreedy } from '../src/core/completion';
import type { Engine } from '../src/core/engine';
import { sampleContinuations } from '../src/core/generation';
import { nextTokenDistribution, promptIds } from '../src/core/nextToken';
import { scoreIds } from '../src/core/scoring';
import { scoreSentences } from '../src/core/sentenceLoss';
import { rawDecodeChain, rawDecodeSamples, rawDecodeStep, rawPrefill, rawScoreWindows, tilePast } from './baselines';
import type { Past, RawModel } from './baselines';
import { LANGUAGE_ID, TYPED_WORDS, editLastSentence, keystrokes } from './prose';
import type { BenchTexts } from './prose';
import { ratioRow } from './report';
import type { Row } from './report';
import { median, pairedRatios, repeatEach, timed } from './stats';
import type { Bandwidth, RepeatOptions } from './stats';

export interface EngineBench {
  engine: Engine;
  raw: RawModel;
  texts: BenchTexts;
  runs: RepeatOptions;
  log: (line: string) => void;
}

/** Past length of the raw decode baseline for W1: the keystroke contexts hold ≈ 512 tokens. */
const KEYSTROKE_PAST = 512;
/** Decode steps per run for W5r: single steps are short enough for one load spike to decide a run's ratio. */
const RAW_BATCH_STEPS = 5;

/** Counts the tokens the engine computes (rather than reuses) while `fn` runs. */
async function computedDuring(engine: Engine, fn: () => Promise<unknown>): Promise<number> {
  const before = engine.cacheStats().computedTokens;
  await fn();
  return engine.cacheStats().computedTokens - before;
}

const flat = (runs: number[][]): number[] => runs.flat();

/** W1: next-token distribution per keystroke, each after the previous keystroke warmed the cache. */
export async function keystrokeRows(bench: EngineBench): Promise<Row[]> {
  const { engine, raw, texts, runs } = bench;
  const computed: number[] = [];
  const contexts: number[] = [];
  const wordOf = (run: number): string => TYPED_WORDS[run % TYPED_WORDS.length] as string;
  const past = await rawPrefill(raw, texts.longIds.slice(0, KEYSTROKE_PAST));
  const fullIds = texts.longIds.slice(0, KEYSTROKE_PAST + 1);
  const [product, decode, naive] = await repeatEach(runs, [
    async (run) => {
      // A fresh cache per run: the first keystroke of each word pays for the whole context, unmeasured.
      engine.cache.clear();
      const samples: number[] = [];
      for (const [i, text] of keystrokes(texts.typing, wordOf(run)).entries()) {
        const started = performance.now();
        const work = await computedDuring(engine, async () => contexts.push((await nextTokenDistribution(engine, text, { top: 10 })).contextTokens));
        if (i === 0) continue;
        samples.push(performance.now() - started);
        computed.push(work);
      }
      return samples;
    },
    // As many raw steps as measured keystrokes, right after them: both sides see the same load.
    async (run) => {
      const samples: number[] = [];
      for (let i = 1; i < wordOf(run).length; i++) samples.push(await rawDecodeStep(raw, past));
      return samples;
    },
    () => timed(() => engine.model.forward([fullIds], undefined)),
  ]);
  const details = { contextTokens: { min: Math.min(...contexts), max: Math.max(...contexts) }, computedTokensPerKeystroke: { median: median(computed), max: Math.max(...computed) } };
  const workload = 'keystroke at the end of a 512-token context → next-token distribution (warm prefix cache)';
  const samples = flat(product);
  const naiveRow = ratioRow(
    {
      id: 'W1b',
      workload,
      unit: 'ms',
      samples,
      baseline: { label: 'naive recompute: model.forward of 513 tokens, no past', value: median(flat(naive)), samples: flat(naive) },
      pairs: pairedRatios(product, naive),
      target: '≥ 10× faster',
      details,
    },
    { max: 0.1 },
  );
  return [
    ratioRow(
      {
        id: 'W1a',
        workload,
        unit: 'ms',
        samples,
        baseline: { label: 'raw ORT decode step, past 512', value: median(flat(decode)), samples: flat(decode) },
        pairs: pairedRatios(product, decode),
        target: '≤ 1.3×',
        details,
      },
      { max: 1.3 },
    ),
    { ...naiveRow, ratioText: `${(1 / (naiveRow.ratio ?? Number.NaN)).toFixed(1)}× faster` },
  ];
}

/** W2: strided scoring of a 4,000-token document from a cold cache, in tokens per second. */
export async function scoringRows(bench: EngineBench): Promise<Row[]> {
  const { engine, raw, texts, runs } = bench;
  const ids = texts.longIds;
  const scored = ids.length - 1;
  const [product, baseline] = await repeatEach(runs, [
    async () => {
      engine.cache.clear();
      return timed(() => scoreIds(engine, ids));
    },
    () => timed(() => rawScoreWindows(raw, ids)),
  ]);
  const rate = (ms: number[][]): number[][] => ms.map((run) => run.map((value) => scored / (value / 1000)));
  return [
    ratioRow(
      {
        id: 'W2',
        workload: `score a ${ids.length}-token document (scoreIds, window ${engine.contextSize}, stride ${engine.contextSize / 2}, cold cache)`,
        unit: 'tok/s',
        samples: flat(rate(product)),
        baseline: { label: 'raw ORT prefill of the same windows, full logits, no per-token stats', value: median(flat(rate(baseline))), samples: flat(rate(baseline)) },
        pairs: pairedRatios(rate(product), rate(baseline)),
        target: '≥ 0.85×',
        details: { tokens: ids.length, productMs: flat(product), baselineMs: flat(baseline) },
      },
      { min: 0.85 },
    ),
  ];
}

/** W3: sentence-loss re-score after a one-letter edit in the last sentence, against a full re-score. */
export async function rescoreRows(bench: EngineBench): Promise<Row[]> {
  const { engine, texts, runs } = bench;
  const computedTokens = { incremental: [] as number[], full: [] as number[] };
  const rescore = (incremental: boolean) => async (run: number) => {
    engine.cache.clear();
    if (incremental) await scoreSentences(engine, texts.medium, { languageId: LANGUAGE_ID });
    const edit = editLastSentence(texts.medium, run, LANGUAGE_ID);
    const started = performance.now();
    const result = await scoreSentences(engine, edit.text, { languageId: LANGUAGE_ID, fromOffset: incremental ? edit.fromOffset : 0 });
    const ms = performance.now() - started;
    computedTokens[incremental ? 'incremental' : 'full'].push(result.computedTokens ?? Number.NaN);
    return ms;
  };
  const [incremental, full] = await repeatEach(runs, [rescore(true), rescore(false)]);
  const tokens = engine.model.tokenizer.encode(texts.medium).length;
  return [
    ratioRow(
      {
        id: 'W3',
        workload: `re-score after a 1-character edit in the last sentence of a ${tokens}-token document (scoreSentences, fromOffset)`,
        unit: 'ms',
        samples: flat(incremental),
        baseline: { label: 'full re-score, cache cleared', value: median(flat(full)), samples: flat(full) },
        pairs: pairedRatios(incremental, full),
        target: '≤ 10%',
        details: { tokens, computedTokens: { incremental: median(computedTokens.incremental), full: median(computedTokens.full) } },
      },
      { max: 0.1 },
    ),
  ];
}

/** W4 and W5: generation from a prompt whose KV state is already cached (the user paused typing). */
export async function generationRows(bench: EngineBench): Promise<Row[]> {
  const { engine, raw, texts, runs } = bench;
  const prompt = promptIds(engine, texts.typing.trimEnd());
  const warm = (): Promise<unknown> => engine.run(prompt);
  const rawPast = await rawPrefill(raw, prompt);
  const greedyLengths: number[] = [];
  const [greedy, rawSteps] = await repeatEach(runs, [
    async () => {
      await warm();
      const started = performance.now();
      const completion = await completeGreedy(engine, prompt, { maxNewTokens: 16, stopAtNewline: false, stopAtSentenceEnd: false });
      greedyLengths.push(completion.tokens.length);
      return performance.now() - started;
    },
    () => timed(() => rawDecodeChain(raw, rawPast, 16)),
  ]);
  const longest: number[] = [];
  const sample = (n: number) => async (run: number) => {
    await warm();
    const started = performance.now();
    const sequences = await sampleContinuations(engine, prompt, { n, maxNewTokens: 10, seed: run + 1 });
    if (n > 1) longest.push(Math.max(...sequences.map((sequence) => sequence.tokens.length)));
    return performance.now() - started;
  };
  const [three, one] = await repeatEach(runs, [sample(3), sample(1)]);
  // What ORT alone pays for a batch of 3 at this past: a floor under W5's ratio that LM Lens cannot go below.
  const rawPast3 = tilePast(rawPast, 3);
  const steps = async (past: Past): Promise<number[]> => {
    const samples: number[] = [];
    for (let step = 0; step < RAW_BATCH_STEPS; step++) samples.push(await rawDecodeStep(raw, past));
    return samples;
  };
  const [rawThree, rawOne] = await repeatEach(runs, [() => steps(rawPast3), () => steps(rawPast)]);
  return [
    ratioRow(
      {
        id: 'W4',
        workload: `16-token greedy continuation of a ${prompt.length}-token prompt with a warm prefix (completeGreedy)`,
        unit: 'ms',
        samples: flat(greedy),
        baseline: { label: '16 chained raw ORT decode steps', value: median(flat(rawSteps)), samples: flat(rawSteps) },
        pairs: pairedRatios(greedy, rawSteps),
        target: '≤ 1.2×',
        // 16 tokens take 15 forward passes when the prompt's last logits are cached; fewer if a row ends at <|endoftext|>.
        details: { tokensShown: greedyLengths },
      },
      { max: 1.2 },
    ),
    ratioRow(
      {
        id: 'W5',
        workload: `3 samples × 10 new tokens, ${prompt.length}-token prompt, warm prefix (sampleContinuations, one batch)`,
        unit: 'ms',
        samples: flat(three),
        baseline: { label: '1 sample × 10', value: median(flat(one)), samples: flat(one) },
        pairs: pairedRatios(three, one),
        target: '≤ 1.4×',
        details: { longestSequence: longest },
      },
      { max: 1.4 },
    ),
    ratioRow({
      id: 'W5r',
      workload: `raw ORT decode step, batch 3, past ${prompt.length} (what W5's batch costs ORT alone)`,
      unit: 'ms',
      samples: flat(rawThree),
      baseline: { label: 'raw ORT decode step, batch 1', value: median(flat(rawOne)), samples: flat(rawOne) },
      pairs: pairedRatios(rawThree, rawOne),
      target: 'informational',
    }),
  ];
}

/**
 * One raw decode step at contexts 64 and 512 against the memory-bandwidth floor: a decode step
 * reads every weight once, so it cannot beat weight bytes ÷ read bandwidth.
 */
export async function decodeFloorRows(raw: RawModel, label: string, weightBytes: number, bandwidth: Bandwidth, ids: number[], runs: RepeatOptions): Promise<Row[]> {
  const floorMs = (weightBytes / bandwidth.bytesPerSecond) * 1000;
  const rows: Row[] = [];
  for (const context of [64, 512]) {
    const samples = await rawDecodeSamples(raw, await rawPrefill(raw, ids.slice(0, context)), runs);
    rows.push(
      ratioRow({
        id: `D-${label}-${context}`,
        workload: `raw ORT ${label} decode step, past ${context}`,
        unit: 'ms',
        samples,
        baseline: { label: `floor: ${(weightBytes / 1e6).toFixed(0)} MB ÷ ${(bandwidth.bytesPerSecond / 1e9).toFixed(1)} GB/s`, value: floorMs, samples: [] },
        target: 'informational',
      }),
    );
  }
  return rows;
}
