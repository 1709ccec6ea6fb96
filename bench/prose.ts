// Plain English prose for the workloads. The model's weights are random, so the words do not
// change the arithmetic, but tokenization, sentence splitting and response sizes do: realistic
// text keeps tokens-per-character, sentence lengths and token spans like a user's document.
import { splitSentences } from '../src/core/sentences';
import type { SentenceSpan } from '../src/core/sentences';
import type { GptTokenizer } from '../src/core/tokenizer';

const PARAGRAPHS = [
  'The village stood at the edge of a long valley, where the river turned west and slowed among the reeds. In the spring the water rose over the lower meadows, and the children of the farms would wade out to look for the nests of the herons. Nobody could remember when the first houses had been built, but the oldest of them still had walls of grey stone as thick as a man is tall.',
  'Every morning the baker opened his shutters before the sun had cleared the hills. He was a patient man who spoke little and laughed often, and he believed that bread should be made slowly or not at all. His daughter kept the accounts in a narrow book with a green cover, writing each sale in a careful hand that her teachers had once praised in front of the whole school.',
  'It was in the autumn of that year that the stranger arrived. He came on foot along the old road from the coast, carrying a leather case and a walking stick cut from a hazel tree. He asked at the inn for a room facing the river, paid a week in advance, and spent the first three days walking the fields with a notebook, stopping now and then to measure something with a length of knotted string.',
  'The people of the valley watched him with the polite suspicion that small places reserve for visitors. Some said he was a surveyor sent by the railway company, others that he was a painter, and one old shepherd insisted that he was looking for gold. When the schoolmaster finally asked him over a glass of cider, the stranger only smiled and said that he was counting the birds.',
  'Winter came early and hard. Snow closed the pass for six weeks, and the river froze so deeply that the boys could walk across it to the mill on the far bank. The stranger stayed on. He helped the miller mend a broken wheel, taught the baker\'s daughter to keep her figures in columns, and in the evenings read aloud at the inn from a book of travels that nobody else had ever heard of.',
  'By the time the thaw arrived, he had become part of the place. The children followed him to the marshes to watch the first geese return, and he showed them how to tell one kind of duck from another by the shape of its wings against the light. He kept a list of every bird they saw, with the date and the weather, and he said that in a hundred years someone would be glad of it.',
  'Many years later, when the railway did come and the valley filled with new houses, the list was found in a drawer at the inn. It ran to forty pages and recorded more than two hundred kinds of birds, some of which had not been seen in the district since. The museum in the city asked to borrow it, and it was returned, after some argument, with a letter of thanks and a small brass plate.',
  'The baker\'s daughter, by then an old woman herself, was the last person who could remember the stranger\'s face. When the reporters came to ask about him, she told them that he had been kind, that he had been curious about everything, and that he had never once said where he came from. Then she showed them her accounts, still kept in columns, and asked whether they would like to buy some bread.',
];

/** VS Code language id of the benchmark's documents (sentence splitting depends on it). */
export const LANGUAGE_ID = 'plaintext';

/** Words typed character by character in the keystroke workloads; a different one per run. */
export const TYPED_WORDS = ['considerable', 'remembering', 'afterwards', 'particularly', 'lighthouse', 'wandering', 'hesitation', 'travellers', 'embroidered', 'gathering', 'mountainside', 'disappeared'];

/** Deterministic shuffle (mulberry32), so every run of the benchmark sees the same text. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Whole paragraphs, each pass over them in a new order, as long as the text stays within `maxTokens`; then whole sentences. */
export function proseDocument(tokenizer: GptTokenizer, maxTokens: number, seed = 1): { text: string; tokens: number } {
  let text = '';
  let tokens = 0;
  for (let pass = 0; ; pass++) {
    for (const paragraph of shuffled(PARAGRAPHS, seed + pass)) {
      const separator = text === '' ? '' : '\n\n';
      const withParagraph = `${text}${separator}${paragraph}`;
      const count = tokenizer.encode(withParagraph).length;
      if (count <= maxTokens) {
        text = withParagraph;
        tokens = count;
        continue;
      }
      // The paragraph does not fit: add its sentences one by one while they do.
      for (const [i, sentence] of paragraph.split(/(?<=\.)\s+/u).entries()) {
        const candidate = `${text}${i === 0 ? separator : ' '}${sentence}`;
        const candidateCount = tokenizer.encode(candidate).length;
        if (candidateCount > maxTokens) return { text, tokens };
        text = candidate;
        tokens = candidateCount;
      }
      return { text, tokens };
    }
  }
}

/**
 * The first `tokenCount` tokens of the prose, cut mid-sentence the way text looks while its
 * author is still writing; ends with a space so the next keystroke starts a new word.
 */
export function typingContext(tokenizer: GptTokenizer, tokenCount: number): string {
  const { text } = proseDocument(tokenizer, tokenCount + 64);
  const ids = tokenizer.encode(text).slice(0, tokenCount);
  return `${tokenizer.decode(ids).trimEnd()} `;
}

/** A Markdown document of at least `chars` characters: numbered sections of the prose above (no tokenizing, so it is quick at 1 MB). */
export function markdownDocument(chars: number): string {
  const parts: string[] = [];
  let length = 0;
  for (let section = 0; length < chars; section++) {
    const part = `## Part ${section + 1}\n\n${shuffled(PARAGRAPHS, section).join('\n\n')}\n\n`;
    parts.push(part);
    length += part.length;
  }
  return parts.join('');
}

/** The texts a user produces typing `word` after `context`: one per keystroke. */
export function keystrokes(context: string, word: string): string[] {
  return Array.from({ length: word.length }, (_, i) => `${context}${word.slice(0, i + 1)}`);
}

/** The document behind a numbered heading: nearly the same length, but no token prefix shared with other variants (so no cache reuse). */
export function documentVariant(text: string, variant: number): string {
  return `Chapter ${variant + 1}. ${text}`;
}

/**
 * `text` with one letter in the middle of its last sentence replaced (a different letter per
 * run), and the offset where that sentence starts: what the sentence-loss decorations re-score
 * after a keystroke.
 */
export function editLastSentence(text: string, run: number, languageId: string): { text: string; fromOffset: number } {
  const last = splitSentences(text, { languageId }).at(-1);
  if (!last) throw new Error('the document has no sentence');
  let at = last.start + Math.floor((last.end - last.start) / 2);
  while (at < last.end && !/[a-z]/u.test(text[at] as string)) at++;
  const letters = 'xqzjkv';
  let letter = letters[run % letters.length] as string;
  if (letter === text[at]) letter = 'w';
  const edited = `${text.slice(0, at)}${letter}${text.slice(at + 1)}`;
  const sentence = splitSentences(edited, { languageId }).at(-1) as SentenceSpan;
  return { text: edited, fromOffset: sentence.start };
}

export interface BenchTexts {
  /** ≈ 511 tokens ending in a space: the document a user is typing at the end of. */
  typing: string;
  /** The document scored by W2 and W7 (4,000 tokens; fewer in the smoke run). */
  long: string;
  longIds: number[];
  /** ≈ 1,000 tokens: the document edited by W3. */
  medium: string;
}

/** `longTokens` > one context window, so the strided windows are exercised even when it is made smaller. */
export function buildTexts(tokenizer: GptTokenizer, longTokens = 4000): BenchTexts {
  const long = proseDocument(tokenizer, longTokens).text;
  return { typing: typingContext(tokenizer, 511), long, longIds: tokenizer.encode(long), medium: proseDocument(tokenizer, 1000, 7).text };
}
