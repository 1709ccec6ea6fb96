// llama.cpp as the peer: node-llama-cpp 3.21.1's CPU prebuilt binary running GGUF files of the
// same seeded weights as the test model (test/support/ggufGpt2.ts). It must never download or
// compile anything: `build: 'never'` fails instead of building, and the env switches below keep
// its postinstall-style fallbacks (downloads of llama.cpp releases) off in CI as well.
//
// Each call is timed twice: end to end around node-llama-cpp's JavaScript call (what the bench
// compared with before), and by llama.cpp's own performance counters (llama_perf_context, the
// time inside llama_decode: graph build, compute, logits copy), which is native llama.cpp
// without node-llama-cpp's per-step JavaScript. The counters reach JavaScript only as the lines
// llama_perf_context_print logs (LlamaContext.printTimings, which also resets them).
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { nativeMsOf } from './perfCounters';

export interface PeerTiming {
  /** Wall-clock milliseconds around node-llama-cpp's call. */
  endToEndMs: number;
  /** llama.cpp's own time for the same work (prompt eval + eval counters), NaN if it logged none. */
  nativeMs: number;
}

export interface Peer {
  readonly label: string;
  /** Threads llama.cpp evaluates with (the context's current thread count). */
  readonly threads: number;
  /** One decode step (one token, logits for it) after `past` tokens of `ids`. */
  decodeStep(ids: number[], past: number): Promise<PeerTiming>;
  /** Evaluating `ids` from an empty sequence (prompt processing). */
  prefill(ids: number[]): Promise<PeerTiming>;
  dispose(): Promise<void>;
}

/** node-llama-cpp brands token ids with a nominal type; ours are plain GPT-2 ids of the same vocabulary. */
const tokens = (ids: number[]): Token[] => ids as Token[];

let llamaPromise: Promise<Llama> | undefined;
/** Lines llama_perf_context_print logged since the last `readCounters` (info level). */
const perfLines: string[] = [];

async function llamaRuntime(threads: number): Promise<Llama> {
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
  // ESM-only package: a dynamic import keeps the bench (CJS under tsx) loading it lazily.
  llamaPromise ??= import('node-llama-cpp').then(({ getLlama, LlamaLogLevel }) =>
    getLlama({
      gpu: false,
      build: 'never',
      usePrebuiltBinaries: true,
      progressLogs: false,
      // Info level, for the performance counters' lines; the rest of llama.cpp's chatter is dropped, errors still shown.
      logLevel: LlamaLogLevel.info,
      logger: (level, message) => {
        if (message.includes('llama_perf_context_print')) perfLines.push(message);
        else if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(`[llama.cpp] ${message}\n`);
      },
      maxThreads: threads,
    }),
  );
  return llamaPromise;
}

class LlamaPeer implements Peer {
  private constructor(
    readonly label: string,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
  ) {}

  static async load(label: string, file: string, contextSize: number, threads: number): Promise<LlamaPeer> {
    const llama = await llamaRuntime(threads);
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    const context = await model.createContext({ contextSize, batchSize: contextSize, sequences: 1, threads: { ideal: threads, min: threads }, performanceTracking: true });
    return new LlamaPeer(label, model, context, context.getSequence());
  }

  get threads(): number {
    return this.context.currentThreads;
  }

  /**
   * The leanest path that still computes the new token's logits: one controlledEvaluate item
   * with greedy `token` generation (no probability map over the vocabulary, no token predictor,
   * no chat wrapper). Evaluating without `generateNext` would skip the output projection and
   * flatter the peer.
   */
  async decodeStep(ids: number[], past: number): Promise<PeerTiming> {
    await this.align(ids.slice(0, past));
    const [token] = tokens([ids[past] ?? 262]);
    const timing = await this.measured(() => this.sequence.controlledEvaluate([[token as Token, { generateNext: { token: true } }]]));
    // Back to `past` tokens so every sample decodes at the same context length.
    await this.sequence.eraseContextTokenRanges([{ start: past, end: past + 1 }]);
    return timing;
  }

  async prefill(ids: number[]): Promise<PeerTiming> {
    await this.sequence.clearHistory();
    const last = ids.length - 1;
    return this.measured(() => this.sequence.controlledEvaluate(tokens(ids).map((id, i) => (i === last ? [id, { generateNext: { token: true } }] : id))));
  }

  /** `work` timed end to end and by llama.cpp's counters, reset right before it. */
  private async measured(work: () => Promise<unknown>): Promise<PeerTiming> {
    await this.readCounters();
    const started = performance.now();
    await work();
    const endToEndMs = performance.now() - started;
    return { endToEndMs, nativeMs: nativeMsOf(await this.readCounters()) };
  }

  /** The counters since the last call (printTimings logs, then resets them). */
  private async readCounters(): Promise<string[]> {
    perfLines.length = 0;
    await this.context.printTimings();
    // The lines come through node-llama-cpp's log queue: wait briefly for the last one.
    for (let wait = 0; wait < 20 && !perfLines.some((line) => line.includes('total time')); wait++) await new Promise((resolve) => setTimeout(resolve, 5));
    return perfLines.splice(0);
  }

  /** Brings the sequence to exactly `ids`, evaluating only what it lacks (steps at growing pasts extend it). */
  private async align(ids: number[]): Promise<void> {
    const current = this.sequence.contextTokens;
    let common = 0;
    while (common < current.length && common < ids.length && current[common] === ids[common]) common++;
    if (common < current.length) await this.sequence.eraseContextTokenRanges([{ start: common, end: current.length }]);
    if (common < ids.length) await this.sequence.evaluateWithoutGeneratingNewTokens(tokens(ids.slice(common)));
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

export function loadPeer(label: string, file: string, contextSize: number, threads: number): Promise<Peer> {
  return LlamaPeer.load(label, file, contextSize, threads);
}
