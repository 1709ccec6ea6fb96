import type { PreTrainedTokenizer } from '@huggingface/transformers';

/**
 * Frees the one table a loaded byte-level BPE tokenizer keeps but never reads again: the merge
 * list (`model.merges`, and tokenizer.json's own list where the file writes merges as pairs and
 * the BPE kept that very array). The BPE builds its rank map (`bpe_ranks`) from it in its
 * constructor and encodes with that map alone, so the list is dead weight (bench/README.md,
 * "Memory of the Llama family"). The rest of the raw tokenizer.json the tokenizer keeps costs
 * nothing measurable (its strings are shared with the live maps), so it is left alone.
 *
 * This reaches into @huggingface/tokenizers' BPE model, which has no public way to do it: the
 * list is dropped only when the model has exactly the shape described (a rank map beside it),
 * so another tokenizer type or a changed library keeps everything and works as before.
 * Returns the number of merges released (0 when nothing was).
 */
export function releaseUnusedTokenizerTables(tokenizer: PreTrainedTokenizer): number {
  const model = (tokenizer as unknown as { _tokenizer?: { model?: { merges?: unknown; bpe_ranks?: unknown; config?: { merges?: unknown } } } })._tokenizer?.model;
  if (!model || !Array.isArray(model.merges) || !(model.bpe_ranks instanceof Map) || model.bpe_ranks.size === 0) return 0;
  const released = model.merges.length;
  model.merges = undefined;
  // tokenizer.json's `model` section, kept as the BPE's config: with merges written as pairs
  // (Qwen's file) it is the very same list, which would otherwise stay alive through it.
  if (model.config && Array.isArray(model.config.merges)) model.config.merges = undefined;
  return released;
}
