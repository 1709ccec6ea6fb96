/**
 * Ghost-text reuse while the user types through a suggestion (llama.vscode, Tabby): recent
 * answers are kept by the prompt they were computed for, and a keystroke that matches the start
 * of a shown suggestion is answered with its rest, without asking the model. Plain strings only,
 * so it is unit-tested in Node.
 */

/** Characters before the cursor sent as the prompt; the model process then cuts at a token boundary to fit its window. */
export const PROMPT_CHARS = 6000;

/** How far past `maxChars` a window start may move to land on a word boundary. */
const BOUNDARY_SEARCH = 256;

const isSpace = (char: string | undefined): boolean => char !== undefined && /\s/u.test(char);

/**
 * The last `maxChars` characters of `prefix`, started on the whitespace before a word: GPT-2's
 * pre-tokenizer glues that space to the word, so the window tokenizes exactly like the same
 * stretch of the full text and the answer does not depend on where the window was cut.
 * Depends only on the last `maxChars` characters of `prefix`.
 */
export function promptWindow(prefix: string, maxChars: number = PROMPT_CHARS): string {
  if (prefix.length <= maxChars) return prefix;
  let start = prefix.length - maxChars;
  const limit = Math.min(prefix.length - 1, start + BOUNDARY_SEARCH);
  for (let i = start; i < limit; i++) {
    if (isSpace(prefix[i]) && !isSpace(prefix[i + 1])) return prefix.slice(i);
  }
  // No boundary nearby (one enormous word): at least keep surrogate pairs whole.
  const code = prefix.charCodeAt(start);
  if (code >= 0xdc00 && code <= 0xdfff) start++;
  return prefix.slice(start);
}

/**
 * What to insert after `prompt` for a model continuation. GPT-2 tokens carry their leading
 * space, so after text that already ends in whitespace one space is dropped: "very " + " big"
 * must read "very big", not "very  big".
 */
export function joinCompletion(prompt: string, completion: string): string {
  return isSpace(prompt.at(-1)) && completion.startsWith(' ') ? completion.slice(1) : completion;
}

/** Anything with the text to insert after its prompt; the cache keeps the rest of it untouched. */
export interface CachedText {
  text: string;
}

export interface CacheHit<T extends CachedText> {
  /** The prompt the answer was computed for. */
  prompt: string;
  /** What was typed since, a prefix of every returned item's original text. */
  typed: string;
  /** The items still ahead of the cursor, their text cut by `typed`, original order kept. */
  items: T[];
}

export interface CompletionCacheOptions {
  /** Prompts kept (default 32). */
  capacity?: number;
  /** Window size of the prompts (default PROMPT_CHARS). */
  promptChars?: number;
}

export interface CompletionCacheStats {
  lookups: number;
  hits: number;
}

/**
 * An LRU of recent answers keyed by prompt. A lookup succeeds when the text before the cursor
 * is `X + P + typed`, where `P` is a cached prompt equal to the window that text minus `typed`
 * would produce, and `typed` is a strict prefix of at least one of its items. Fully typed
 * suggestions miss on purpose: the user has reached their end, the model must say what follows.
 */
export class CompletionCache<T extends CachedText> {
  // A Map in insertion order rather than LruMap: lookups scan every entry, newest first.
  private readonly entries = new Map<string, T[]>();
  private readonly capacity: number;
  private readonly promptChars: number;
  readonly stats: CompletionCacheStats = { lookups: 0, hits: 0 };

  constructor(options: CompletionCacheOptions = {}) {
    this.capacity = Math.max(1, options.capacity ?? 32);
    this.promptChars = options.promptChars ?? PROMPT_CHARS;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * How much text before the cursor `lookup` needs at least (when the document has more): the
   * window plus room for typed-through text.
   */
  get lookbehind(): number {
    return this.promptChars + BOUNDARY_SEARCH + 1024;
  }

  /** The prompt sent for the text before the cursor. */
  promptFor(prefix: string): string {
    return promptWindow(prefix, this.promptChars);
  }

  set(prompt: string, items: T[]): void {
    this.entries.delete(prompt);
    if (items.length === 0) return;
    this.entries.set(prompt, items);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /**
   * `prefix`: the text before the cursor, from the start of the document or at least
   * `lookbehind` characters of it (the window must come out as it did when the answer was asked for).
   */
  lookup(prefix: string): CacheHit<T> | undefined {
    this.stats.lookups++;
    for (const [prompt, items] of [...this.entries].reverse()) {
      const hit = this.match(prefix, prompt, items);
      if (hit) {
        this.stats.hits++;
        // Touch: the entry the user is typing through must outlive older ones.
        this.entries.delete(prompt);
        this.entries.set(prompt, items);
        return hit;
      }
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  private match(prefix: string, prompt: string, items: T[]): CacheHit<T> | undefined {
    const longest = Math.max(...items.map((item) => item.text.length));
    for (let typedLength = 0; typedLength < longest && typedLength <= prefix.length - prompt.length; typedLength++) {
      const end = prefix.length - typedLength;
      // Cheapest checks first: the typed tail against the short items, then the prompt in place.
      const typed = prefix.slice(end);
      const ahead = items.filter((item) => item.text.length > typedLength && item.text.startsWith(typed));
      if (ahead.length === 0 || !prefix.startsWith(prompt, end - prompt.length)) continue;
      // The same characters are not enough: the prompt must be the whole window at that point.
      if (this.promptFor(prefix.slice(0, end)) !== prompt) continue;
      return { prompt, typed, items: ahead.map((item) => ({ ...item, text: item.text.slice(typedLength) })) };
    }
    return undefined;
  }
}
