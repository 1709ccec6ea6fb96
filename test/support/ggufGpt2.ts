// The test model's seeded weights as a GGUF file (architecture `gpt2`, GPT-2's tokenizer; the file
// machinery is shared with ggufLlama.ts), so
// llama.cpp (through node-llama-cpp) runs exactly the model LM Lens runs. Layout follows
// llama.cpp's own convert_hf_to_gguf.py for GPT-2: ggml's ne[0] is the innermost dimension, and
// HF's Conv1D weights ([in, out]) are transposed to [out, in] rows.
import { closeSync, openSync, writeSync } from 'node:fs';
import { transpose2d } from './onnxGpt2';
import { readGpt2Vocabulary } from './tokenizerFiles';
import { gpt2WeightSpecs } from './weights';
import type { Gpt2Dims, WeightSource, WeightSpec } from './weights';

export type GgufWeightType = 'f32' | 'q8_0';

const GGUF_MAGIC = 0x46554747;
const GGUF_VERSION = 3;
const ALIGNMENT = 32;
const enum ValueType {
  Uint32 = 4,
  Int32 = 5,
  Float32 = 6,
  String = 8,
  Array = 9,
}
const GGML_TYPE = { f32: 0, q8_0: 8 } as const;
/** llama_ftype: ALL_F32 = 0, MOSTLY_Q8_0 = 7. */
const FILE_TYPE = { f32: 0, q8_0: 7 } as const;
const Q8_BLOCK = 32;
const Q8_BLOCK_BYTES = 2 + Q8_BLOCK;
export const TOKEN_TYPE_NORMAL = 1;
export const TOKEN_TYPE_CONTROL = 3;

/** Little-endian byte sink for the header, key/values and tensor infos. */
class Bytes {
  private readonly chunks: Buffer[] = [];
  length = 0;

  private push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.push(b);
  }

  i32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    this.push(b);
  }

  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.push(b);
  }

  f32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    this.push(b);
  }

  string(value: string): void {
    const b = Buffer.from(value, 'utf8');
    this.u64(b.length);
    this.push(b);
  }

  padTo(alignment: number): void {
    const extra = (alignment - (this.length % alignment)) % alignment;
    if (extra > 0) this.push(Buffer.alloc(extra));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export type KvValue = { u32: number } | { f32: number } | { str: string } | { strings: string[] } | { i32s: number[] };

function writeKv(out: Bytes, key: string, value: KvValue): void {
  out.string(key);
  if ('u32' in value) {
    out.u32(ValueType.Uint32);
    out.u32(value.u32);
  } else if ('f32' in value) {
    out.u32(ValueType.Float32);
    out.f32(value.f32);
  } else if ('str' in value) {
    out.u32(ValueType.String);
    out.string(value.str);
  } else if ('strings' in value) {
    out.u32(ValueType.Array);
    out.u32(ValueType.String);
    out.u64(value.strings.length);
    for (const s of value.strings) out.string(s);
  } else {
    out.u32(ValueType.Array);
    out.u32(ValueType.Int32);
    out.u64(value.i32s.length);
    for (const v of value.i32s) out.i32(v);
  }
}

/** IEEE half from a float, round to nearest even (ggml stores Q8_0 scales as f16). */
export function toHalf(value: number): number {
  const f = new Float32Array([value]);
  const bits = new Uint32Array(f.buffer)[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is what IEEE rounding wants.
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function fromHalf(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 (stored as f16), q = round(x / d). */
export function quantizeQ8_0(values: Float32Array): Buffer {
  if (values.length % Q8_BLOCK !== 0) throw new Error(`Q8_0 needs a multiple of ${Q8_BLOCK} values, got ${values.length}`);
  const blocks = values.length / Q8_BLOCK;
  const out = Buffer.alloc(blocks * Q8_BLOCK_BYTES);
  for (let block = 0; block < blocks; block++) {
    const base = block * Q8_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q8_BLOCK; i++) {
      const magnitude = Math.abs(values[base + i] as number);
      if (magnitude > amax) amax = magnitude;
    }
    const d = amax / 127;
    const inverse = d ? 1 / d : 0;
    const at = block * Q8_BLOCK_BYTES;
    out.writeUInt16LE(toHalf(d), at);
    for (let i = 0; i < Q8_BLOCK; i++) out.writeInt8(Math.round((values[base + i] as number) * inverse), at + 2 + i);
  }
  return out;
}

export interface GgufTensor {
  name: string;
  /** ggml order: ne[0] innermost. */
  ne: number[];
  type: GgufWeightType;
  /** HF parameter and whether its [in, out] layout is transposed to [out, in]. */
  spec: WeightSpec;
  transpose: boolean;
  /** Reorders the rows of the (transposed) matrix: row r of the file is row rowOrder(r) of the weight. */
  rowOrder?: (row: number) => number;
  /** A tensor computed by the writer rather than drawn from the seed (llama3's rope_freqs). */
  values?: Float32Array;
}

function tensorList(dims: Gpt2Dims, type: GgufWeightType): GgufTensor[] {
  const specs = new Map(gpt2WeightSpecs(dims).map((spec) => [spec.name, spec]));
  const spec = (name: string): WeightSpec => {
    const found = specs.get(name);
    if (!found) throw new Error(`unknown weight ${name}`);
    return found;
  };
  // Position embeddings and 1-D tensors stay f32, as llama-quantize leaves them.
  const matrix = (name: string, hf: string, transpose: boolean): GgufTensor => {
    const [rows, cols] = spec(hf).shape as [number, number];
    return { name, ne: transpose ? [rows, cols] : [cols, rows], type, spec: spec(hf), transpose };
  };
  const vector = (name: string, hf: string): GgufTensor => ({ name, ne: spec(hf).shape, type: 'f32', spec: spec(hf), transpose: false });
  const [contextSize, dim] = spec('transformer.wpe.weight').shape as [number, number];
  const tensors: GgufTensor[] = [
    matrix('token_embd.weight', 'transformer.wte.weight', false),
    { name: 'position_embd.weight', ne: [dim, contextSize], type: 'f32', spec: spec('transformer.wpe.weight'), transpose: false },
    vector('output_norm.weight', 'transformer.ln_f.weight'),
    vector('output_norm.bias', 'transformer.ln_f.bias'),
    // Written out although tied: llama.cpp's converter does, and it keeps the peer's reads honest.
    matrix('output.weight', 'transformer.wte.weight', false),
  ];
  for (let layer = 0; layer < dims.layers; layer++) {
    const p = `transformer.h.${layer}`;
    const b = `blk.${layer}`;
    tensors.push(
      vector(`${b}.attn_norm.weight`, `${p}.ln_1.weight`),
      vector(`${b}.attn_norm.bias`, `${p}.ln_1.bias`),
      matrix(`${b}.attn_qkv.weight`, `${p}.attn.c_attn.weight`, true),
      vector(`${b}.attn_qkv.bias`, `${p}.attn.c_attn.bias`),
      matrix(`${b}.attn_output.weight`, `${p}.attn.c_proj.weight`, true),
      vector(`${b}.attn_output.bias`, `${p}.attn.c_proj.bias`),
      vector(`${b}.ffn_norm.weight`, `${p}.ln_2.weight`),
      vector(`${b}.ffn_norm.bias`, `${p}.ln_2.bias`),
      matrix(`${b}.ffn_up.weight`, `${p}.mlp.c_fc.weight`, true),
      vector(`${b}.ffn_up.bias`, `${p}.mlp.c_fc.bias`),
      matrix(`${b}.ffn_down.weight`, `${p}.mlp.c_proj.weight`, true),
      vector(`${b}.ffn_down.bias`, `${p}.mlp.c_proj.bias`),
    );
  }
  return tensors;
}

function tensorBytes(tensor: GgufTensor): number {
  const count = tensor.ne.reduce((a, b) => a * b, 1);
  return tensor.type === 'f32' ? count * 4 : (count / Q8_BLOCK) * Q8_BLOCK_BYTES;
}

function gpt2Metadata(dims: Gpt2Dims, type: GgufWeightType): Array<[string, KvValue]> {
  const { vocab, merges } = readGpt2Vocabulary();
  const tokens = new Array<string>(dims.vocabSize).fill('');
  for (const [token, id] of Object.entries(vocab)) tokens[id] = token;
  const eos = vocab['<|endoftext|>'] as number;
  const tokenTypes = tokens.map((_, id) => (id === eos ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_NORMAL));
  return [
    ...generalMetadata('gpt2', type),
    ['gpt2.context_length', { u32: dims.contextSize }],
    ['gpt2.embedding_length', { u32: dims.dim }],
    ['gpt2.feed_forward_length', { u32: 4 * dims.dim }],
    ['gpt2.block_count', { u32: dims.layers }],
    ['gpt2.attention.head_count', { u32: dims.heads }],
    ['gpt2.attention.layer_norm_epsilon', { f32: 1e-5 }],
    ['tokenizer.ggml.model', { str: 'gpt2' }],
    ['tokenizer.ggml.pre', { str: 'gpt-2' }],
    ['tokenizer.ggml.tokens', { strings: tokens }],
    ['tokenizer.ggml.token_type', { i32s: tokenTypes }],
    ['tokenizer.ggml.merges', { strings: merges }],
    ['tokenizer.ggml.bos_token_id', { u32: eos }],
    ['tokenizer.ggml.eos_token_id', { u32: eos }],
  ];
}

/** The general.* keys every file starts with. */
export function generalMetadata(architecture: string, type: GgufWeightType): Array<[string, KvValue]> {
  return [
    ['general.architecture', { str: architecture }],
    ['general.name', { str: 'lm-lens-test-model' }],
    ['general.file_type', { u32: FILE_TYPE[type] }],
    ['general.alignment', { u32: ALIGNMENT }],
  ];
}

function header(kvs: Array<[string, KvValue]>, tensors: GgufTensor[]): Buffer {
  const out = new Bytes();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(kvs.length);
  for (const [key, value] of kvs) writeKv(out, key, value);
  let offset = 0;
  for (const tensor of tensors) {
    out.string(tensor.name);
    out.u32(tensor.ne.length);
    for (const n of tensor.ne) out.u64(n);
    out.u32(GGML_TYPE[tensor.type]);
    out.u64(offset);
    offset += Math.ceil(tensorBytes(tensor) / ALIGNMENT) * ALIGNMENT;
  }
  out.padTo(ALIGNMENT);
  return out.toBuffer();
}

/** Writes a GGUF v3 file: `kvs`, then `tensors` drawn from `weights` one by one (never the whole model in memory). */
export function writeGgufFile(path: string, kvs: Array<[string, KvValue]>, tensors: GgufTensor[], weights: WeightSource): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header(kvs, tensors));
    let last: { name: string; values: Float32Array } | undefined;
    for (const tensor of tensors) {
      // A tied embedding is used twice in a row (token_embd, output): draw it once.
      if (last?.name !== tensor.spec.name) last = { name: tensor.spec.name, values: tensor.values ?? weights(tensor.spec) };
      const [rows, cols] = tensor.spec.shape as [number, number];
      let values = tensor.transpose ? transpose2d(last.values, rows, cols) : last.values;
      if (tensor.rowOrder) values = reorderRows(values, tensor.ne[0] as number, tensor.rowOrder);
      const data = tensor.type === 'f32' ? Buffer.from(values.buffer, values.byteOffset, values.byteLength) : quantizeQ8_0(values);
      writeSync(fd, data);
      const pad = (ALIGNMENT - (data.length % ALIGNMENT)) % ALIGNMENT;
      if (pad > 0) writeSync(fd, Buffer.alloc(pad));
    }
  } finally {
    closeSync(fd);
  }
}

function reorderRows(values: Float32Array, width: number, rowOrder: (row: number) => number): Float32Array {
  const out = new Float32Array(values.length);
  for (let row = 0; row < values.length / width; row++) out.set(values.subarray(rowOrder(row) * width, (rowOrder(row) + 1) * width), row * width);
  return out;
}

/** Writes the GPT-2 weights from `weights` as a GGUF v3 file. */
export function writeGpt2Gguf(path: string, dims: Gpt2Dims, weights: WeightSource, type: GgufWeightType): void {
  writeGgufFile(path, gpt2Metadata(dims, type), tensorList(dims, type), weights);
}
