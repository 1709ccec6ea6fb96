import type { PreTrainedTokenizer } from '@huggingface/transformers';

/**
 * Frees the one table a loaded byte-level BPE tokenizer keeps but never reads again: the merge
 * list as split pairs (`model.merges`). The BPE builds its rank map (`bpe_ranks`) from it in its
 * constructor and encodes with that map alone, so the list is dead weight: ≈ 28 MB of heap for
 * Llama 3's 280,147 merges, ≈ 15 MB for Qwen's 151,387 (measured, bench/README.md "Memory of the
 * Llama family"). The raw tokenizer.json the tokenizer also keeps costs nothing measurable (its
 * strings are shared with the live maps), so it is left alone.
 *
 * This reaches into @huggingface/tokenizers' BPE model, which has no public way to do it: the
 * list is dropped only when the model has exactly the shape described (a rank map beside it),
 * so another tokenizer type or a changed library keeps everything and works as before.
 * Returns the number of merges released (0 when nothing was).
 */
export function releaseUnusedTokenizerTables(tokenizer: PreTrainedTokenizer): number {
  const model = (tokenizer as unknown as { _tokenizer?: { model?: { merges?: unknown; bpe_ranks?: unknown } } })._tokenizer?.model;
  if (!model || !Array.isArray(model.merges) || !(model.bpe_ranks instanceof Map) || model.bpe_ranks.size === 0) return 0;
  const released = model.merges.length;
  model.merges = undefined;
  return released;
}
