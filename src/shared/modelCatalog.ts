// The hub models *Select model* offers beside GPT-2 and DistilGPT-2, with what each download
// costs. Sizes are those of the hub's onnx/model{suffix}.onnx files (decimal MB, 2026-12).

export interface CatalogModel {
  id: string;
  label: string;
  /** config.json's model_type. */
  family: 'llama' | 'qwen2' | 'qwen3';
  parameters: string;
  /** Download size in MB of each precision the hub has as one file LM Lens can load. */
  sizesMb: Partial<Record<'fp32' | 'fp16' | 'q8' | 'q4', number>>;
}

/** Files from this size on get "large" in the picker. */
export const LARGE_DOWNLOAD_MB = 1000;

export const FAMILY_LABELS: Record<string, string> = { gpt2: 'GPT-2', llama: 'Llama', qwen2: 'Qwen2', qwen3: 'Qwen3' };

export const CATALOG_MODELS: readonly CatalogModel[] = [
  { id: 'HuggingFaceTB/SmolLM2-135M-Instruct', label: 'SmolLM2-135M-Instruct', family: 'llama', parameters: '135M', sizesMb: { fp32: 654, fp16: 327, q4: 200 } },
  { id: 'HuggingFaceTB/SmolLM2-360M-Instruct', label: 'SmolLM2-360M-Instruct', family: 'llama', parameters: '360M', sizesMb: { fp32: 1640, fp16: 819, q4: 417 } },
  { id: 'onnx-community/Qwen2.5-0.5B-Instruct', label: 'Qwen2.5-0.5B-Instruct', family: 'qwen2', parameters: '494M', sizesMb: { fp32: 1990, fp16: 997, q8: 512, q4: 786 } },
  // fp32 comes as model.onnx + model.onnx_data, which the downloader does not fetch.
  { id: 'onnx-community/Qwen3-0.6B-ONNX', label: 'Qwen3-0.6B', family: 'qwen3', parameters: '596M', sizesMb: { q4: 919 } },
];

/** "fp32 654 MB · fp16 327 MB · q4 200 MB", with the large ones marked. */
export function describeSizes(model: CatalogModel): string {
  return Object.entries(model.sizesMb)
    .map(([dtype, mb]) => `${dtype} ${mb >= LARGE_DOWNLOAD_MB ? `${(mb / 1000).toFixed(1)} GB (large)` : `${mb} MB`}`)
    .join(' · ');
}
