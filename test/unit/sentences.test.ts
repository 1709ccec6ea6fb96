// Sentence spans must index the document exactly (the extension decorates them by offset), so
// every test checks offsets against the input, not just the sentence texts.
import assert from 'node:assert/strict';
import { excludedRanges, splitSentences } from '../../src/core/sentences';
import type { SentenceSpan, SplitOptions, TextRange } from '../../src/core/sentences';
import { seededRandom } from '../../src/core/distribution';

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** Exactness, order, trimming, bounded length, whole code points; returns the spans. */
function checked(text: string, options: SplitOptions = {}): SentenceSpan[] {
  const spans = splitSentences(text, options);
  const max = options.maxSentenceChars ?? 2000;
  let previousEnd = 0;
  for (const span of spans) {
    assert.equal(text.slice(span.start, span.end), span.text, `span ${span.start}-${span.end} text`);
    assert.ok(span.start >= previousEnd, `span at ${span.start} overlaps or is out of order`);
    assert.ok(span.end > span.start, 'empty span');
    assert.ok(!/^\s|\s$/.test(span.text), `untrimmed span ${JSON.stringify(span.text)}`);
    // A single code point may exceed a limit of 1: pairs are never split.
    assert.ok(span.text.length <= max || [...span.text].length === 1, `span of ${span.text.length} chars exceeds ${max}`);
    for (const edge of [span.start, span.end]) {
      assert.ok(!(isHigh(text.charCodeAt(edge - 1)) && isLow(text.charCodeAt(edge))), `cut inside a surrogate pair at ${edge}`);
    }
    previousEnd = span.end;
  }
  return spans;
}

const texts = (text: string, options: SplitOptions = {}): string[] => checked(text, options).map((s) => s.text);

/** Every non-whitespace character is in exactly one span or in an excluded range. */
function assertCoverage(text: string, spans: SentenceSpan[], excluded: TextRange[]): void {
  const owner = new Uint8Array(text.length);
  for (const s of spans) for (let i = s.start; i < s.end; i++) owner[i] += 1;
  for (const r of excluded) for (let i = r.start; i < r.end; i++) owner[i] += 2;
  for (let i = 0; i < text.length; i++) {
    assert.ok(owner[i] !== 3, `offset ${i} is both excluded and in a sentence`);
    if (!/\s/.test(text[i])) assert.ok(owner[i] !== 0, `offset ${i} (${JSON.stringify(text[i])}) was dropped`);
  }
}

const rng = seededRandom;

/** CPU milliseconds. Used only as a guard against quadratic blow-ups (1 MB took 76 s before windowing), never as a speed target: those live in npm run bench. */
function cpuMs(run: () => void): number {
  const started = process.cpuUsage();
  run();
  const { user, system } = process.cpuUsage(started);
  return (user + system) / 1000;
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)];

describe('splitSentences', () => {
  it('returns nothing for empty or whitespace-only text', () => {
    assert.deepEqual(splitSentences(''), []);
    assert.deepEqual(splitSentences(' \r\n\t\u00a0\u3000\n'), []);
  });

  it('splits prose with exact offsets', () => {
    const text = '  Hello world. How are you?  Fine!\n';
    assert.deepEqual(checked(text), [
      { start: 2, end: 14, text: 'Hello world.' },
      { start: 15, end: 27, text: 'How are you?' },
      { start: 29, end: 34, text: 'Fine!' },
    ]);
  });

  it('keeps hard-wrapped sentences whole but splits at blank lines', () => {
    // ICU on its own ends a sentence at every line break.
    assert.deepEqual(texts('This sentence\nwraps here. Next one\nalso wraps.'), ['This sentence\nwraps here.', 'Next one\nalso wraps.']);
    assert.deepEqual(texts('A heading without a stop\n\nThe paragraph starts here.'), ['A heading without a stop', 'The paragraph starts here.']);
    assert.deepEqual(texts('One\n \t \nTwo\r\n\r\nThree\r\rFour'), ['One', 'Two', 'Three', 'Four']);
  });

  it('is exact on CRLF and lone CR line breaks', () => {
    const text = 'First line\r\ncontinues. Second!\r\n\r\nThird one?\rStill third.\r\n';
    assert.deepEqual(texts(text), ['First line\r\ncontinues.', 'Second!', 'Third one?', 'Still third.']);
  });

  it('is exact around emoji, ZWJ sequences and flags', () => {
    const text = 'The family 👩‍👩‍👧 went out. 🎉🎉 Party! Flags 🇫🇷🇯🇵 fly? 😀';
    assert.deepEqual(texts(text), ['The family 👩‍👩‍👧 went out.', '🎉🎉 Party!', 'Flags 🇫🇷🇯🇵 fly?', '😀']);
  });

  it('splits CJK at 。！？ without spaces', () => {
    assert.deepEqual(texts('今天天气很好。我们去公园吧！你觉得呢？好的'), ['今天天气很好。', '我们去公园吧！', '你觉得呢？', '好的']);
    assert.deepEqual(texts('吾輩は猫である。名前はまだ無い。', { locale: 'ja' }), ['吾輩は猫である。', '名前はまだ無い。']);
  });

  it('keeps combining characters with their base', () => {
    const text = 'Cafe\u0301 is open. Noe\u0308l came too. Z\u0351\u0337a\u0300lgo!';
    assert.deepEqual(texts(text), ['Cafe\u0301 is open.', 'Noe\u0308l came too.', 'Z\u0351\u0337a\u0300lgo!']);
  });

  it('is exact on right-to-left text', () => {
    assert.deepEqual(texts('مرحبا بالعالم. كيف حالك؟ أنا بخير!'), ['مرحبا بالعالم.', 'كيف حالك؟', 'أنا بخير!']);
    assert.deepEqual(texts('שלום עולם. מה שלומך? \u200fטוב!'), ['שלום עולם.', 'מה שלומך?', '\u200fטוב!']);
  });

  it('does not end English sentences at common abbreviations', () => {
    assert.deepEqual(texts('Mr. Smith met Dr. Jones, e.g. Tuesday. They talked etc. Then left.'), [
      'Mr. Smith met Dr. Jones, e.g. Tuesday.',
      'They talked etc.',
      'Then left.',
    ]);
    assert.deepEqual(texts('Mr. Smith left.', { locale: 'de' }), ['Mr.', 'Smith left.']);
  });

  it('falls back to English for a malformed locale', () => {
    assert.deepEqual(texts('One. Two.', { locale: '!!not a locale' }), ['One.', 'Two.']);
  });

  it('treats markdown headings and list items as boundaries', () => {
    const text = '# Title\nIntro text. More intro\n## Sub\n- first item\n  continues\n* second\n+ third\n1. fourth\n10) fifth';
    assert.deepEqual(texts(text, { languageId: 'markdown' }), [
      '# Title',
      'Intro text.',
      'More intro',
      '## Sub',
      '- first item\n  continues',
      '* second',
      '+ third',
      '1. fourth',
      '10) fifth',
    ]);
    assert.deepEqual(texts('#hashtag is not a heading\n*emphasis* is not a list', { languageId: 'markdown' }), [
      '#hashtag is not a heading\n*emphasis* is not a list',
    ]);
  });

  it('treats text as prose in plaintext, whatever it looks like', () => {
    const text = '# Not special\n```\ncode here.\n```';
    assert.deepEqual(texts(text), ['# Not special\n```\ncode here.', '```']);
    assert.deepEqual(excludedRanges(text, 'plaintext'), []);
  });

  it('skips markdown fenced code blocks', () => {
    const text = [
      'Before code.',
      '```ts title="x"',
      'const a = 1; // Not a sentence.',
      '```',
      'Between.',
      '~~~~',
      'tilde code.',
      '~~~ not a close',
      '~~~~~',
      '  ```',
      '  indented fence.',
      '  ```',
      'Inline ```code``` stays prose.',
      '````',
      'unterminated runs to the end.',
      '```',
      'still code.',
    ].join('\r\n');
    const spans = checked(text, { languageId: 'markdown' });
    assert.deepEqual(
      spans.map((s) => s.text),
      ['Before code.', 'Between.', 'Inline ```code``` stays prose.'],
    );
    const excluded = excludedRanges(text, 'markdown');
    assert.equal(excluded.length, 4);
    assert.equal(excluded[3].end, text.length);
    assertCoverage(text, spans, excluded);
  });

  it('skips YAML front matter only at the start of the document', () => {
    const text = '---\r\ntitle: Hello. World.\r\ntags: [a]\r\n---\r\nBody text.';
    assert.deepEqual(texts(text, { languageId: 'markdown' }), ['Body text.']);
    assert.deepEqual(excludedRanges(text, 'markdown'), [{ start: 0, end: text.indexOf('\r\nBody') }]);
    assert.deepEqual(texts('---\ntitle: x\n...\nBody.', { languageId: 'markdown' }), ['Body.']);
    // Unclosed, or not at offset 0: a thematic break and ordinary prose.
    assert.deepEqual(texts('---\ntitle: x\nBody.', { languageId: 'markdown' }), ['title: x\nBody.']);
    assert.deepEqual(texts('Intro.\n---\ntitle: x\n---\nBody.', { languageId: 'markdown' }), ['Intro.', 'title: x', 'Body.']);
  });

  it('skips HTML comments, thematic breaks and setext underlines in markdown', () => {
    const text = 'Visible <!-- hidden. --> text.\n<!--\nmulti\nline.\n-->After. Code `<!--` is prose.\n\nTitle\n=====\n***\n<!-- open';
    const spans = checked(text, { languageId: 'markdown' });
    assert.deepEqual(
      spans.map((s) => s.text),
      ['Visible', 'text.', 'After.', 'Code `<!--` is prose.', 'Title'],
    );
    assertCoverage(text, spans, excludedRanges(text, 'markdown'));
  });

  it('skips LaTeX comments and display math', () => {
    const text = [
      '\\section{Introduction}',
      'We measure 5\\% of cases. % TODO: rewrite this.',
      'Next sentence here.',
      '\\begin{equation}',
      '  E = mc^2. % physics',
      '\\end{equation}',
      'After the equation. $$a = b.$$ Then more. \\[ x. \\] Done.',
      'A line break\\\\[2pt] is not math. Inline $x$ math stays.',
      '\\begin{itemize}',
      '\\item First point.',
      '\\end{itemize}',
      '\\begin{align*}',
      'unterminated math.',
    ].join('\n');
    const spans = checked(text, { languageId: 'latex' });
    assert.deepEqual(
      spans.map((s) => s.text),
      [
        '\\section{Introduction}',
        'We measure 5\\% of cases.',
        'Next sentence here.',
        'After the equation.',
        'Then more.',
        'Done.',
        'A line break\\\\[2pt] is not math.',
        'Inline $x$ math stays.',
        '\\begin{itemize}',
        '\\item First point.',
        '\\end{itemize}',
      ],
    );
    assertCoverage(text, spans, excludedRanges(text, 'latex'));
    assert.deepEqual(excludedRanges(text, 'tex'), excludedRanges(text, 'latex'));
  });

  it('cuts a 50,000-character line without punctuation at whitespace', () => {
    const random = rng(7);
    const words: string[] = [];
    let length = 0;
    while (length < 50_000) {
      const word = 'abcdefghij'.slice(0, 1 + Math.floor(random() * 10));
      words.push(word);
      length += word.length + 1;
    }
    const text = words.join(' ');
    for (const maxSentenceChars of [undefined, 100]) {
      const spans = checked(text, { maxSentenceChars });
      const max = maxSentenceChars ?? 2000;
      assert.ok(spans.length >= Math.ceil(text.length / max));
      assert.ok(spans.slice(0, -1).every((s) => s.text.length > max - 11), 'pieces use the room they have');
      assert.deepEqual(spans.map((s) => s.text).join(' ').split(' '), words);
    }
  });

  it('hard-cuts text without whitespace at code-point boundaries', () => {
    const plain = 'x'.repeat(50_000);
    assert.deepEqual(
      checked(plain).map((s) => s.text.length),
      Array<number>(25).fill(2000),
    );
    const emoji = '😀'.repeat(5_000) + 'a' + '👩‍👩‍👧'.repeat(1_000);
    for (const maxSentenceChars of [1, 2, 101, 2000]) {
      const spans = checked(emoji, { maxSentenceChars });
      assert.equal(spans.map((s) => s.text).join(''), emoji);
    }
  });

  it('agrees with unwindowed ICU on long text', () => {
    // splitSentences feeds ICU bounded windows; their seams must not move any boundary.
    const random = rng(42);
    const words = ['alpha', 'beta', 'Gamma', 'delta', '42', '3.14', '"quoted"', '(aside)', 'U.S.', 'über', 'naïve', 'x'];
    const plainWords = ['alpha', 'beta', 'delta', '42', 'über', 'naïve', 'x'];
    const ends = ['.', '!', '?', '...', '."', '?)', '!?', '. 123 lowercase continues', '. (see', ';'];
    let text = '';
    let count = 0;
    while (text.length < 60_000) {
      // Every 40th sentence runs to 2,300-12,000 chars: longer than maxSentenceChars and, at
      // times, than ICU's largest window.
      const long = ++count % 40 === 7;
      const n = long ? 450 + Math.floor(random() * 1800) : 1 + Math.floor(random() * 20);
      for (let i = 0; i < n; i++) text += (i === 0 ? '' : ' ') + pick(random, long ? plainWords : words);
      text += pick(random, ends) + ' '.repeat(1 + Math.floor(random() * 2));
    }
    const icu = [...new Intl.Segmenter('fr', { granularity: 'sentence' }).segment(text)].map((s) => s.segment.trim());
    assert.ok(icu.filter((s) => s.length > 8192).length >= 2, 'too few sentences longer than a window');
    assert.deepEqual(texts(text, { locale: 'fr', maxSentenceChars: Infinity }), icu);
    // Mirror the max-length rule: cut at the last space within 2000 chars.
    const expected: string[] = [];
    for (let rest of icu) {
      while (rest.length > 2000) {
        const cut = rest.lastIndexOf(' ', 2000);
        expected.push(rest.slice(0, cut).trimEnd());
        rest = rest.slice(cut).trimStart();
      }
      expected.push(rest);
    }
    assert.deepEqual(texts(text, { locale: 'fr' }), expected);
  });

  it('stays linear with an unbounded maxSentenceChars', () => {
    // A long boundary-free run must not leave ICU with a huge window over the dense text after it.
    const text = 'word '.repeat(100_000) + 'Short one. '.repeat(50_000);
    let spans: SentenceSpan[] = [];
    const elapsed = cpuMs(() => (spans = splitSentences(text, { maxSentenceChars: Infinity })));
    assert.equal(spans.length, 50_000);
    assert.equal(spans[0].text, 'word '.repeat(99_999) + 'word Short one.');
    assert.ok(elapsed < 20_000, `took ${elapsed.toFixed(0)} ms of CPU`);
  });

  it('splits 1 MB of prose well under a second', () => {
    const random = rng(1);
    const sentences = [
      'The quick brown fox jumps over the lazy dog.',
      'Mr. Smith went to Washington by train!',
      'Did he?',
      'Yes, and the committee, which met on Tuesday, agreed with him in every detail.',
    ];
    const parts: string[] = [];
    let length = 0;
    while (length < 1_000_000) {
      const part = pick(random, sentences) + (random() < 0.1 ? '\n\n' : random() < 0.2 ? '\n' : ' ');
      parts.push(part);
      length += part.length;
    }
    const text = parts.join('');
    splitSentences(text.slice(0, 10_000)); // warm up the JIT and ICU
    let spans: SentenceSpan[] = [];
    const elapsed = cpuMs(() => (spans = splitSentences(text)));
    assert.ok(spans.length > 10_000);
    assert.ok(elapsed < 20_000, `took ${elapsed.toFixed(0)} ms of CPU`);
  });

  it('stays linear on 1 MB of CJK and of dense markdown', () => {
    // A generous bound: the quadratic failure mode takes minutes, not seconds.
    const cjk = '今天天气很好。我们去公园吧！你觉得呢？'.repeat(55_000);
    const markdown = '# H\n\nSome text here. More `code` <!-- c --> text.\n\n```\ncode\n```\n- item\n'.repeat(14_000);
    for (const [text, languageId] of [
      [cjk, 'plaintext'],
      [markdown, 'markdown'],
    ]) {
      let spans: SentenceSpan[] = [];
      const elapsed = cpuMs(() => (spans = splitSentences(text, { languageId })));
      assert.ok(spans.length > 50_000);
      assert.ok(elapsed < 20_000, `${languageId} took ${elapsed.toFixed(0)} ms of CPU`);
    }
  });

  it('keeps every invariant on random mixed text', () => {
    const random = rng(2024);
    const pieces = [
      'word', 'Word', ' ', ' ', '. ', '! ', '? ', '.', '\n', '\r\n', '\r', '\n\n', '\t', '\u00a0', '\u2028', '#', '# ', '- ', '1. ',
      '```', '~~~', '`', '<!--', '-->', '---', '***', '%', '\\%', '$$', '\\[', '\\]', '\\\\', '\\begin{equation}', '\\end{equation}',
      '\\section{S}', '😀', '👩‍👩‍👧', '🇫🇷', 'e\u0301', '你好', '。', '！', 'שלום', 'مرحبا', '؟', 'Mr. ', 'etc. ', '\ud83d',
    ];
    for (let round = 0; round < 300; round++) {
      let text = '';
      const n = Math.floor(random() * 120);
      for (let i = 0; i < n; i++) text += pick(random, pieces);
      const languageId = pick(random, ['plaintext', 'markdown', 'latex']);
      const maxSentenceChars = pick(random, [undefined, 1, 5, 17]);
      const spans = checked(text, { languageId, maxSentenceChars });
      const excluded = excludedRanges(text, languageId);
      for (let i = 1; i < excluded.length; i++) assert.ok(excluded[i].start > excluded[i - 1].end);
      assertCoverage(text, spans, excluded);
    }
  });
});
