// Branching from an alternative token, as pure functions (no vscode import): what a hover or
// panel link carries, whether the document still holds what was scored, and the one edit
// (with its inverse, which is what VS Code's undo restores) that replaces the token.

/** What a *replace* link carries: where the token was when it was scored, and what to write instead. */
export interface BranchArgs {
  uri: string;
  /** The document version the token's offsets belong to. */
  version: number;
  /** UTF-16 offsets of the token in that version. */
  start: number;
  end: number;
  /** The token's text there (the check that nothing moved). */
  original: string;
  /** The alternative that replaces it. */
  replacement: string;
}

/** The document as it is now; undefined when it is closed. */
export interface DocumentNow {
  version: number;
  length: number;
  textAt(start: number, end: number): string;
}

export type BranchCheck = { ok: true } | { ok: false; message: string };

export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/**
 * Whether an alternative can stand in for a token in the document: the model's vocabulary has
 * byte pieces (U+FFFD alone), control tokens such as `<|endoftext|>` and tokens equal to the
 * original, none of which is a replacement a writer means.
 */
export function isReplaceable(original: string, alternative: string): boolean {
  return alternative !== original && alternative !== '' && !alternative.includes('\uFFFD') && !/^<\|[^|]*\|>$/u.test(alternative);
}

/** Args from a command link (which anyone could write): the fields, with their types, or undefined. */
export function parseBranchArgs(raw: unknown): BranchArgs | undefined {
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value || typeof value !== 'object') return undefined;
  const { uri, version, start, end, original, replacement } = value as Record<string, unknown>;
  const integer = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (typeof uri !== 'string' || !integer(version) || !integer(start) || !integer(end) || end < start) return undefined;
  if (typeof original !== 'string' || typeof replacement !== 'string' || original.length !== end - start) return undefined;
  return { uri, version, start, end, original, replacement };
}

/**
 * Writes only where the user asked: the document must be the version that was scored and still
 * hold the token there. Otherwise one line says why nothing was written.
 */
export function checkBranch(args: BranchArgs, now: DocumentNow | undefined): BranchCheck {
  if (!now) return { ok: false, message: 'the document is closed; nothing was replaced.' };
  if (now.version !== args.version || args.end > now.length || now.textAt(args.start, args.end) !== args.original) {
    return { ok: false, message: 'the text changed since it was scored; nothing was replaced. Hover the token again.' };
  }
  if (!isReplaceable(args.original, args.replacement)) return { ok: false, message: 'that alternative cannot replace the token (a byte piece or a control token).' };
  return { ok: true };
}

/** The replacing edit, and the offset after the new token: where a continuation starts. */
export function branchEdit(args: BranchArgs): { edit: TextEdit; cursor: number } {
  return { edit: { start: args.start, end: args.end, text: args.replacement }, cursor: args.start + args.replacement.length };
}

/** The edit that undoes `branchEdit` on the text it produced (what one undo restores). */
export function inverseEdit(args: BranchArgs): TextEdit {
  return { start: args.start, end: args.start + args.replacement.length, text: args.original };
}

export function applyEdit(text: string, edit: TextEdit): string {
  return text.slice(0, edit.start) + edit.text + text.slice(edit.end);
}

// GPT-2's pre-tokenizer: no token crosses the boundaries of these pieces.
const PRE_TOKEN = /'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+/uy;

/**
 * Length of the word right after the cursor (`lineRest`: the rest of its line), as GPT-2 splits
 * words: the first token after the cursor lies inside it, so the panel's *replace* puts a
 * predicted token in place of the word that token begins. 0 where no word follows on the line.
 */
export function nextWordLength(lineRest: string): number {
  PRE_TOKEN.lastIndex = 0;
  return PRE_TOKEN.exec(lineRest)?.[0].length ?? 0;
}
