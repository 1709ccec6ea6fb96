// llama.cpp as the peer: node-llama-cpp 3.21.1's CPU prebuilt binary running GGUF files of the
// same seeded weights as the test model (test/support/ggufGpt2.ts). It must never download or
// compile anything: `build: 'never'` fails instead of building, and the env switches below keep
// its postinstall-style fallbacks (downloads of llama.cpp releases) off in CI as well.
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';

export interface Peer {
  readonly label: string;
  /** Threads llama.cpp evaluates with (the context's current thread count). */
  readonly threads: number;
  /** Milliseconds of one decode step (one token, logits for it) after `past` tokens of `ids`. */
  decodeStep(ids: number[], past: number): Promise<number>;
  /** Milliseconds to evaluate `ids` from an empty sequence (prompt processing). */
  prefill(ids: number[]): Promise<number>;
  dispose(): Promise<void>;
}

/** node-llama-cpp brands token ids with a nominal type; ours are plain GPT-2 ids of the same vocabulary. */
const tokens = (ids: number[]): Token[] => ids as Token[];

let llamaPromise: Promise<Llama> | undefined;

async function llamaRuntime(threads: number): Promise<Llama> {
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
  // ESM-only package: a dynamic import keeps the bench (CJS under tsx) loading it lazily.
  llamaPromise ??= import('node-llama-cpp').then(({ getLlama, LlamaLogLevel }) =>
    getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, progressLogs: false, logLevel: LlamaLogLevel.error, maxThreads: threads }),
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
    const context = await model.createContext({ contextSize, batchSize: contextSize, sequences: 1, threads: { ideal: threads, min: threads } });
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
  async decodeStep(ids: number[], past: number): Promise<number> {
    await this.align(ids.slice(0, past));
    const [token] = tokens([ids[past] ?? 262]);
    const started = performance.now();
    await this.sequence.controlledEvaluate([[token as Token, { generateNext: { token: true } }]]);
    const ms = performance.now() - started;
    // Back to `past` tokens so every sample decodes at the same context length.
    await this.sequence.eraseContextTokenRanges([{ start: past, end: past + 1 }]);
    return ms;
  }

  async prefill(ids: number[]): Promise<number> {
    await this.sequence.clearHistory();
    const last = ids.length - 1;
    const started = performance.now();
    await this.sequence.controlledEvaluate(tokens(ids).map((id, i) => (i === last ? [id, { generateNext: { token: true } }] : id)));
    return performance.now() - started;
  }

  private async align(ids: number[]): Promise<void> {
    const current = this.sequence.contextTokens;
    const same = current.length === ids.length && current.every((id, i) => id === ids[i]);
    if (same) return;
    await this.sequence.clearHistory();
    await this.sequence.evaluateWithoutGeneratingNewTokens(tokens(ids));
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

export function loadPeer(label: string, file: string, contextSize: number, threads: number): Promise<Peer> {
  return LlamaPeer.load(label, file, contextSize, threads);
}
