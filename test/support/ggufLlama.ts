// A Llama-family test model's seeded weights as a GGUF file (architectures llama, qwen2, qwen3)
// for llama.cpp, laid out as llama.cpp's convert_hf_to_gguf.py writes them: matrices as [out, in]
// rows; for `llama`, whose RoPE llama.cpp applies to interleaved pairs, q/k rows permuted from
// rotate_half's halves; llama3 scaling as the `rope_freqs.weight` factors; the tokenizer from
// the model folder's tokenizer.json (ids without a token padded as unused, as the converter does).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKEN_TYPE_CONTROL, TOKEN_TYPE_NORMAL, generalMetadata, writeGgufFile } from './ggufGpt2';
import type { GgufTensor, GgufWeightType, KvValue } from './ggufGpt2';
import { hasQkNorm, hasQkvBias, llamaWeightSpecs, specialIds } from './llamaModel';
import type { LlamaDims } from './llamaModel';
import { ropeInverseFrequencies } from './onnxLlama';
import type { WeightSource, WeightSpec } from './weights';

const TOKEN_TYPE_UNUSED = 5;
const PRE_TOKENIZER: Record<LlamaDims['family'], string> = { llama: 'llama-bpe', qwen2: 'qwen2', qwen3: 'qwen2' };

function tokenizerMetadata(folder: string, dims: LlamaDims): Array<[string, KvValue]> {
  const file = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number>; merges: Array<string | [string, string]> };
    added_tokens: Array<{ id: number; content: string; special: boolean }>;
  };
  const tokens = Array.from({ length: dims.vocabSize }, (_, id) => `[PAD${id}]`);
  const types = new Array<number>(dims.vocabSize).fill(TOKEN_TYPE_UNUSED);
  for (const [token, id] of Object.entries(file.model.vocab)) [tokens[id], types[id]] = [token, TOKEN_TYPE_NORMAL];
  for (const added of file.added_tokens) [tokens[added.id], types[added.id]] = [added.content, added.special ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_NORMAL];
  const { bos, eos } = specialIds(dims.family);
  return [
    ['tokenizer.ggml.model', { str: 'gpt2' }],
    ['tokenizer.ggml.pre', { str: PRE_TOKENIZER[dims.family] }],
    ['tokenizer.ggml.tokens', { strings: tokens }],
    ['tokenizer.ggml.token_type', { i32s: types }],
    ['tokenizer.ggml.merges', { strings: file.model.merges.map((merge) => (typeof merge === 'string' ? merge : merge.join(' '))) }],
    ['tokenizer.ggml.bos_token_id', { u32: bos }],
    ['tokenizer.ggml.eos_token_id', { u32: eos }],
  ];
}

function tensorList(dims: LlamaDims, type: GgufWeightType): GgufTensor[] {
  const specs = new Map(llamaWeightSpecs(dims).map((spec) => [spec.name, spec]));
  const spec = (name: string): WeightSpec => specs.get(name) ?? { name, shape: [], mean: 0, std: 0 };
  // [in, out] projections become [out, in] rows (ne = [in, out]); vectors stay f32, as llama-quantize leaves them.
  const matrix = (name: string, hf: string, rowOrder?: (row: number) => number): GgufTensor => {
    const [rows, cols] = spec(hf).shape as [number, number];
    return { name, ne: [rows, cols], type, spec: spec(hf), transpose: true, rowOrder };
  };
  const table = (name: string, hf: string): GgufTensor => ({ name, ne: [dims.hidden, dims.vocabSize], type, spec: spec(hf), transpose: false });
  const vector = (name: string, hf: string): GgufTensor => ({ name, ne: spec(hf).shape, type: 'f32', spec: spec(hf), transpose: false });
  // Within each head, file row 2i + j is rotate_half's row j·dim/2 + i (convert_hf_to_gguf's permute).
  const half = dims.headDim / 2;
  const interleave = dims.family === 'llama' ? (row: number): number => Math.floor(row / dims.headDim) * dims.headDim + (row % 2) * half + Math.floor((row % dims.headDim) / 2) : undefined;
  const tensors: GgufTensor[] = [table('token_embd.weight', 'model.embed_tokens.weight'), vector('output_norm.weight', 'model.norm.weight')];
  tensors.push(table('output.weight', dims.tied ? 'model.embed_tokens.weight' : 'lm_head.weight'));
  for (let layer = 0; layer < dims.layers; layer++) {
    const p = `model.layers.${layer}`;
    const b = `blk.${layer}`;
    tensors.push(
      vector(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`),
      matrix(`${b}.attn_q.weight`, `${p}.self_attn.q_proj.weight`, interleave),
      matrix(`${b}.attn_k.weight`, `${p}.self_attn.k_proj.weight`, interleave),
      matrix(`${b}.attn_v.weight`, `${p}.self_attn.v_proj.weight`),
    );
    if (hasQkvBias(dims)) {
      tensors.push(vector(`${b}.attn_q.bias`, `${p}.self_attn.q_proj.bias`), vector(`${b}.attn_k.bias`, `${p}.self_attn.k_proj.bias`), vector(`${b}.attn_v.bias`, `${p}.self_attn.v_proj.bias`));
    }
    if (hasQkNorm(dims)) tensors.push(vector(`${b}.attn_q_norm.weight`, `${p}.self_attn.q_norm.weight`), vector(`${b}.attn_k_norm.weight`, `${p}.self_attn.k_norm.weight`));
    tensors.push(
      matrix(`${b}.attn_output.weight`, `${p}.self_attn.o_proj.weight`),
      vector(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`),
      matrix(`${b}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight`),
      matrix(`${b}.ffn_up.weight`, `${p}.mlp.up_proj.weight`),
      matrix(`${b}.ffn_down.weight`, `${p}.mlp.down_proj.weight`),
    );
  }
  if (dims.ropeScaling) {
    // llama.cpp divides each base frequency by its factor: base / scaled, from the same rule the graph uses.
    const scaled = ropeInverseFrequencies(dims);
    const factors = Float32Array.from(scaled, (value, i) => 1 / dims.ropeTheta ** ((2 * i) / dims.headDim) / value);
    tensors.push({ name: 'rope_freqs.weight', ne: [half], type: 'f32', spec: { name: 'rope_freqs', shape: [half], mean: 0, std: 0 }, transpose: false, values: factors });
  }
  return tensors;
}

/** Writes the model of `folder` (its dims and seeded `weights`) as a GGUF v3 file for llama.cpp. */
export function writeLlamaGguf(path: string, folder: string, dims: LlamaDims, weights: WeightSource, type: GgufWeightType): void {
  const arch = dims.family;
  const kvs: Array<[string, KvValue]> = [
    ...generalMetadata(arch, type),
    [`${arch}.context_length`, { u32: dims.contextSize }],
    [`${arch}.embedding_length`, { u32: dims.hidden }],
    [`${arch}.feed_forward_length`, { u32: dims.intermediate }],
    [`${arch}.block_count`, { u32: dims.layers }],
    [`${arch}.attention.head_count`, { u32: dims.heads }],
    [`${arch}.attention.head_count_kv`, { u32: dims.kvHeads }],
    [`${arch}.attention.key_length`, { u32: dims.headDim }],
    [`${arch}.attention.value_length`, { u32: dims.headDim }],
    [`${arch}.rope.dimension_count`, { u32: dims.headDim }],
    [`${arch}.rope.freq_base`, { f32: dims.ropeTheta }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { f32: dims.rmsEpsilon }],
    [`${arch}.vocab_size`, { u32: dims.vocabSize }],
    ...tokenizerMetadata(folder, dims),
  ];
  writeGgufFile(path, kvs, tensorList(dims, type), weights);
}
