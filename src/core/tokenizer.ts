import type { PreTrainedTokenizer } from '@huggingface/transformers';

export interface TokenSpan {
  /** UTF-16 offsets into the encoded text; a token that splits a character covers the whole character. */
  start: number;
  end: number;
}

/**
 * A byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM2) as the rest of LM Lens needs it: ids, display text per token, and
 * exact character offsets. transformers.js has no offset mapping, but byte-level BPE makes
 * one cheap to compute by hand: every character of a vocabulary entry stands for exactly
 * one UTF-8 byte of the input.
 */
export class GptTokenizer {
  readonly vocabSize: number;
  private readonly tokenStrings: string[] = [];
  private readonly specialIds = new Set<number>();
  private readonly textCache = new Map<number, string>();

  /**
   * Ids the tokenizer itself puts in front of every text (`tokenizer(text)`): Llama 3's
   * `<|begin_of_text|>`; none for GPT-2, Qwen and SmolLM2.
   */
  readonly startIds: number[];

  constructor(readonly inner: PreTrainedTokenizer) {
    const vocab = inner.get_vocab() as Map<string, number> | Record<string, number>;
    const entries = vocab instanceof Map ? [...vocab.entries()] : Object.entries(vocab);
    for (const [token, id] of entries) this.tokenStrings[id] = token;
    this.vocabSize = this.tokenStrings.length;
    for (const id of inner.all_special_ids) this.specialIds.add(Number(id));
    // Read off the post-processor's behaviour instead of trusting add_bos_token flags, which
    // tokenizer.json files (the only thing transformers.js applies) often contradict.
    const probe = 'a';
    const plain = this.encode(probe);
    const full = (inner.encode(probe, { add_special_tokens: true }) as number[]).map(Number);
    const prefixLength = full.length - plain.length;
    this.startIds = prefixLength > 0 && plain.every((id, i) => full[prefixLength + i] === id) ? full.slice(0, prefixLength) : [];
  }

  /** The ids `tokenizer(text)` gives: `startIds`, then the text's own. */
  encodeWithStart(text: string): number[] {
    return [...this.startIds, ...this.encode(text)];
  }

  /**
   * What a model reads for `text`: `tokenizer(text)`'s ids, after `startId` when `prepend` is
   * asked (or the text is empty) and the tokenizer put no start token there itself.
   */
  contextIds(text: string, startId: number, prepend: boolean): number[] {
    const ids = this.encodeWithStart(text);
    return (prepend || ids.length === 0) && this.startIds.length === 0 ? [startId, ...ids] : ids;
  }

  get eosTokenId(): number {
    return Number(this.inner.eos_token_id ?? this.vocabSize - 1);
  }

  encode(text: string): number[] {
    if (text === '') return [];
    return (this.inner.encode(text, { add_special_tokens: false }) as number[]).map(Number);
  }

  decode(ids: number[]): string {
    if (ids.length === 0) return '';
    return this.inner.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** The text one token decodes to on its own (may be U+FFFD for half a multi-byte character). */
  tokenText(id: number): string {
    let text = this.textCache.get(id);
    if (text === undefined) {
      text = this.decode([id]);
      this.textCache.set(id, text);
    }
    return text;
  }

  /** The raw vocabulary entry, e.g. `ĠAlice` for " Alice". */
  tokenString(id: number): string {
    return this.tokenStrings[id] ?? '';
  }

  private byteLength(id: number): number {
    const token = this.tokenStrings[id] ?? '';
    if (this.specialIds.has(id)) return Buffer.byteLength(token, 'utf8');
    return [...token].length;
  }

  /** Character span of each token of `encode(text)`. */
  spans(text: string, ids: number[]): TokenSpan[] {
    const lengths = ids.map((id) => this.byteLength(id));
    const total = lengths.reduce((sum, length) => sum + length, 0);
    // A tokenizer with a normalizer (Qwen's NFC) reads other bytes than the text's when the text
    // is not already normalised (e.g. accents typed as combining marks): map through that form.
    if (total !== Buffer.byteLength(text, 'utf8')) return spansThroughNormalization(text, lengths) ?? spansFromByteLengths(text, lengths);
    return spansFromByteLengths(text, lengths);
  }
}

/** Character spans of consecutive tokens given how many UTF-8 bytes of `text` each one holds. */
export function spansFromByteLengths(text: string, byteLengths: readonly number[]): TokenSpan[] {
  const byteToUnit = utf8ByteToUtf16(text);
  const totalBytes = byteToUnit.length - 1;
  const spans: TokenSpan[] = [];
  let byte = 0;
  for (const length of byteLengths) {
    const next = Math.min(totalBytes, byte + length);
    spans.push({ start: byteToUnit[byte] ?? text.length, end: ceilUnit(byteToUnit, next, text.length) });
    byte = next;
  }
  return spans;
}

/**
 * Spans over `text` of tokens whose bytes are those of `text.normalize(form)` (NFC, then NFKC is
 * tried, whichever has the tokens' byte total): spans are found in the normalised text, then each
 * end is widened to the whole base character + combining marks it came from, which normalise on
 * their own. Undefined when no form fits or the text does not normalise piecewise (Hangul jamo).
 */
export function spansThroughNormalization(text: string, byteLengths: readonly number[]): TokenSpan[] | undefined {
  const total = byteLengths.reduce((sum, length) => sum + length, 0);
  const clusters = text.match(/\P{M}\p{M}*|\p{M}+/gsu) ?? [];
  for (const form of ['NFC', 'NFKC'] as const) {
    const normalised = text.normalize(form);
    if (Buffer.byteLength(normalised, 'utf8') !== total) continue;
    // toStart/toEnd[k]: the original offset of the cluster holding normalised offset k, its start or its end.
    const toStart = new Int32Array(normalised.length + 1);
    const toEnd = new Int32Array(normalised.length + 1);
    let [original, at] = [0, 0];
    for (const cluster of clusters) {
      const piece = cluster.normalize(form);
      for (let k = 0; k < piece.length; k++) [toStart[at + k], toEnd[at + k + 1]] = [original, original + cluster.length];
      at += piece.length;
      original += cluster.length;
      toStart[at] = original;
    }
    if (at !== normalised.length || clusters.map((cluster) => cluster.normalize(form)).join('') !== normalised) return undefined;
    toEnd[0] = 0;
    return spansFromByteLengths(normalised, byteLengths).map(({ start, end }) => ({ start: toStart[start] as number, end: toEnd[end] as number }));
  }
  return undefined;
}

/**
 * For each UTF-8 byte offset (0..byteLength), the UTF-16 offset of the character containing it
 * (continuation bytes map to their character's start), so a span can snap to whole characters.
 */
function utf8ByteToUtf16(text: string): Int32Array {
  const map = new Int32Array(Buffer.byteLength(text, 'utf8') + 1);
  let byte = 0;
  for (let unit = 0; unit < text.length; ) {
    const codePoint = text.codePointAt(unit) ?? 0;
    const bytes = codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
    for (let k = 0; k < bytes; k++) map[byte + k] = unit;
    byte += bytes;
    unit += codePoint >= 0x10000 ? 2 : 1;
  }
  map[byte] = text.length;
  return map;
}

function ceilUnit(byteToUnit: Int32Array, byte: number, textLength: number): number {
  if (byte >= byteToUnit.length - 1) return textLength;
  const unit = byteToUnit[byte] ?? textLength;
  // Inside a character: the span must include all of it.
  if (byte > 0 && byteToUnit[byte - 1] === unit) {
    let next = byte;
    while (next < byteToUnit.length - 1 && byteToUnit[next] === unit) next++;
    return byteToUnit[next] ?? textLength;
  }
  return unit;
}
