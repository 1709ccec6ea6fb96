import type { TokenSpan } from '../tokenizer';
import { spansFromByteLengths, spansThroughNormalization } from '../tokenizer';

const REPLACEMENT = '\uFFFD';

/**
 * Character spans of tokens known only by their decoded text (a server's pieces). A token that
 * decodes cleanly and continues the text takes its own characters; a run of tokens that hold
 * parts of characters (they decode to U+FFFD on their own) shares the characters up to where the
 * next clean token continues the text, as the local tokenizer's spans do.
 */
export function alignTexts(text: string, pieces: readonly string[]): TokenSpan[] {
  const spans: TokenSpan[] = [];
  let position = 0;
  for (let i = 0; i < pieces.length; ) {
    const piece = pieces[i] as string;
    if (!piece.includes(REPLACEMENT) && text.startsWith(piece, position)) {
      spans.push({ start: position, end: position + piece.length });
      position += piece.length;
      i++;
      continue;
    }
    const { next, end } = runEnd(text, pieces, i, position);
    for (let j = i; j < next; j++) spans.push({ start: position, end });
    position = end;
    i = next;
  }
  return spans;
}

function runEnd(text: string, pieces: readonly string[], from: number, position: number): { next: number; end: number } {
  for (let j = from + 1; j < pieces.length; j++) {
    const piece = pieces[j] as string;
    if (piece === '' || piece.includes(REPLACEMENT)) continue;
    // Each token of the run holds at most one character's worth of bytes (4) plus what follows it.
    const limit = Math.min(text.length, position + 2 * (j - from) + 2);
    for (let q = position + 1; q <= limit; q++) {
      if (isLowSurrogate(text.charCodeAt(q))) continue;
      if (text.startsWith(piece, q)) return { next: j, end: q };
    }
  }
  return { next: pieces.length, end: text.length };
}

const isLowSurrogate = (unit: number): boolean => unit >= 0xdc00 && unit <= 0xdfff;

/**
 * Exact spans when a server gives token texts but not bytes: inside a run of tokens that split
 * characters, decoding each growing prefix of the run tells how many characters are complete,
 * so each token gets the characters its bytes touch (the local tokenizer's rule). Falls back
 * to `alignTexts` when the server's decoding does not continue the text.
 */
export async function alignByDecoding(text: string, ids: readonly number[], texts: readonly string[], decode: (ids: number[]) => Promise<string>): Promise<TokenSpan[]> {
  const spans: TokenSpan[] = [];
  const continues = (j: number, at: number): boolean => j < ids.length && !(texts[j] as string).includes(REPLACEMENT) && text.startsWith(texts[j] as string, at);
  let position = 0;
  for (let i = 0; i < ids.length; ) {
    if (continues(i, position)) {
      spans.push({ start: position, end: position + (texts[i] as string).length });
      position += (texts[i] as string).length;
      i++;
      continue;
    }
    let complete = 0;
    let j = i;
    while (j < ids.length) {
      const decoded = await decode(ids.slice(i, j + 1) as number[]);
      const clean = decoded.replace(/\uFFFD+$/u, '');
      if (!text.startsWith(clean, position)) return alignTexts(text, texts);
      const partial = clean.length < decoded.length;
      const partialLength = partial ? (text.codePointAt(position + clean.length) ?? 0) > 0xffff ? 2 : 1 : 0;
      spans.push({ start: position + complete, end: Math.min(text.length, position + clean.length + partialLength) });
      complete = clean.length;
      j++;
      if (!partial && (j >= ids.length || continues(j, position + complete))) break;
    }
    position += complete;
    i = j;
  }
  return spans;
}

/**
 * Spans from pieces given as bytes when they add up to the text (or to its NFC form: a Qwen
 * server normalises an accent typed as a combining mark), else by their decoded text.
 */
export function spansFromPieces(text: string, pieces: ReadonlyArray<Uint8Array>): TokenSpan[] {
  const lengths = pieces.map((bytes) => bytes.length);
  const total = lengths.reduce((sum, length) => sum + length, 0);
  if (total === Buffer.byteLength(text, 'utf8')) return spansFromByteLengths(text, lengths);
  return spansThroughNormalization(text, lengths) ?? alignTexts(text, pieces.map(decodeBytes));
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/** A token's bytes as text, U+FFFD where they hold part of a character (as the local tokenizer shows it). */
export function decodeBytes(bytes: Uint8Array | readonly number[]): string {
  return decoder.decode(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
}

/**
 * Each token id's text, asked from the server once per id (vocabularies are bounded, so no
 * eviction is needed); concurrent requests for the same id share one call.
 */
export class TokenTextCache {
  private readonly texts = new Map<number, string | Promise<string>>();

  constructor(private readonly fetchOne: (id: number, signal?: AbortSignal) => Promise<string>) {}

  set(id: number, text: string): void {
    this.texts.set(id, text);
  }

  peek(id: number): string | undefined {
    const value = this.texts.get(id);
    return typeof value === 'string' ? value : undefined;
  }

  async get(id: number, signal?: AbortSignal): Promise<string> {
    const known = this.texts.get(id);
    if (known !== undefined) return known;
    const pending = this.fetchOne(id, signal).then(
      (text) => {
        this.texts.set(id, text);
        return text;
      },
      (error: unknown) => {
        this.texts.delete(id);
        throw error;
      },
    );
    this.texts.set(id, pending);
    return pending;
  }

  /** Texts of many ids, at most `concurrency` requests at a time. */
  async getMany(ids: readonly number[], signal?: AbortSignal, concurrency = 8): Promise<string[]> {
    const unique = [...new Set(ids)].filter((id) => this.peek(id) === undefined);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < unique.length) await this.get(unique[next++] as number, signal);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, unique.length) }, worker));
    return Promise.all(ids.map((id) => this.get(id, signal)));
  }
}
