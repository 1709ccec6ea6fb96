/**
 * Ghost-text reuse while the user types through a suggestion (llama.vscode, Tabby): recent
 * answers are kept by the prompt they were computed for, and a keystroke that matches the start
 * of a shown suggestion is answered with its rest, without asking the model. Plain strings only,
 * so it is unit-tested in Node.
 */

/** Characters before the cursor sent as the prompt; the model process then cuts at a token boundary to fit its window. */
export const PROMPT_CHARS = 6000;

/** How far past its nominal start a window may begin, to land on a word boundary. */
const BOUNDARY_SEARCH = 256;

/** The window's start moves in steps of `maxChars / WINDOW_STEPS`, not one character per keystroke. */
const WINDOW_STEPS = 8;

const isSpace = (char: string | undefined): boolean => char !== undefined && /\s/u.test(char);

/**
 * The prompt for the text before the cursor: all of it up to `maxChars`, else its last
 * `maxChars` characters at most. `origin` is the document offset of `prefix[0]` (callers may
 * pass only a tail of a long document).
 *
 * The start sits on a multiple of a fixed step in document offsets, so while the user types
 * at the end every request begins with the same text: the model process then reuses the KV
 * state of that shared prefix instead of recomputing a window that slid by a few characters.
 * It is then moved onto the whitespace before a word: GPT-2's pre-tokenizer glues that space to
 * the word, so the window tokenizes like the same stretch of the full text.
 */
export function promptWindow(prefix: string, maxChars: number = PROMPT_CHARS, origin = 0): string {
  const end = origin + prefix.length;
  if (end <= maxChars) return prefix;
  const step = Math.max(1, Math.floor(maxChars / WINDOW_STEPS));
  let start = Math.max(0, Math.ceil((end - maxChars) / step) * step - origin);
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
  /** Whether the entry holds every item asked for, not just the first (see `set`). */
  complete: boolean;
}

export interface LookupOptions {
  /** Document offset of `prefix[0]` (default 0: the prefix starts the document). */
  origin?: number;
  /** Only consider complete entries. */
  complete?: boolean;
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
  private readonly entries = new Map<string, { items: T[]; complete: boolean }>();
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

  /** The prompt sent for the text before the cursor; `origin` is the document offset of `prefix[0]`. */
  promptFor(prefix: string, origin = 0): string {
    return promptWindow(prefix, this.promptChars, origin);
  }

  /**
   * Remembers the items for `prompt`. `complete` false marks an answer that holds only the first
   * item (typing asks for the quick greedy completion alone; cycling needs the alternatives too).
   */
  set(prompt: string, items: T[], complete = true): void {
    this.entries.delete(prompt);
    if (items.length === 0) return;
    this.entries.set(prompt, { items, complete });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /**
   * `prefix`: the text before the cursor, from the start of the document or at least
   * `lookbehind` characters of it, starting at document offset `options.origin` (the window
   * must come out as it did when the answer was asked for).
   */
  lookup(prefix: string, options: LookupOptions = {}): CacheHit<T> | undefined {
    this.stats.lookups++;
    for (const [prompt, entry] of [...this.entries].reverse()) {
      if (options.complete && !entry.complete) continue;
      const hit = this.match(prefix, options.origin ?? 0, prompt, entry.items);
      if (hit) {
        this.stats.hits++;
        // Touch: the entry the user is typing through must outlive older ones.
        this.entries.delete(prompt);
        this.entries.set(prompt, entry);
        return { ...hit, complete: entry.complete };
      }
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  private match(prefix: string, origin: number, prompt: string, items: T[]): Omit<CacheHit<T>, 'complete'> | undefined {
    const longest = Math.max(...items.map((item) => item.text.length));
    for (let typedLength = 0; typedLength < longest && typedLength <= prefix.length - prompt.length; typedLength++) {
      const end = prefix.length - typedLength;
      // Cheapest checks first: the typed tail against the short items, the prompt's end, then all of it.
      const typed = prefix.slice(end);
      const ahead = items.filter((item) => item.text.length > typedLength && item.text.startsWith(typed));
      if (ahead.length === 0 || !prefix.endsWith(prompt.slice(-64), end) || !prefix.startsWith(prompt, end - prompt.length)) continue;
      // The same characters are not enough: the prompt must be the whole window at that point.
      if (this.promptFor(prefix.slice(0, end), origin) !== prompt) continue;
      return { prompt, typed, items: ahead.map((item) => ({ ...item, text: item.text.slice(typedLength) })) };
    }
    return undefined;
  }
}
