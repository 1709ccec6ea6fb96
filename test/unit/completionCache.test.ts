// The typed-through cache answers keystrokes without the model, so a wrong hit shows a
// suggestion the model would not have made: every hit is checked against the exact rest.
import assert from 'node:assert/strict';
import { CompletionCache, PROMPT_CHARS, joinCompletion, promptWindow } from '../../src/core/completionCache';

interface Item {
  text: string;
  meanProb: number;
}

const items = (...texts: string[]): Item[] => texts.map((text, i) => ({ text, meanProb: i / 10 }));
const texts = (hit: { items: Array<{ text: string }> } | undefined): string[] | undefined => hit?.items.map((item) => item.text);

describe('joinCompletion', () => {
  it('drops one leading space after text that ends in whitespace', () => {
    assert.equal(joinCompletion('Alice was very ', ' tired'), 'tired');
    assert.equal(joinCompletion('Alice was very\n', ' tired'), 'tired');
    assert.equal(joinCompletion('Alice was very\t', ' tired'), 'tired');
    assert.equal(joinCompletion('Alice was very ', '  tired'), ' tired');
  });

  it('leaves the completion alone otherwise', () => {
    assert.equal(joinCompletion('Alice was very', ' tired'), ' tired');
    assert.equal(joinCompletion('Alice was very ', 'tired'), 'tired');
    assert.equal(joinCompletion('Alice was ver', 'y tired'), 'y tired');
    assert.equal(joinCompletion('', ' Alice'), ' Alice');
  });
});

describe('promptWindow', () => {
  it('keeps short text whole', () => {
    assert.equal(promptWindow('Alice was'), 'Alice was');
    assert.equal(promptWindow('x'.repeat(PROMPT_CHARS)).length, PROMPT_CHARS);
  });

  it('starts a long window on the space before a word', () => {
    const text = 'one two three four five six seven';
    const window = promptWindow(text, 12);
    assert.ok(text.endsWith(window));
    assert.ok(window.length <= 12, window);
    assert.equal(window, ' six seven');
  });

  it('moves its start in steps, so typing at the end keeps the same start', () => {
    const text = 'word '.repeat(400);
    const window = promptWindow(`${text}a`, 400);
    assert.ok(window.length <= 400 && window.length >= 300, `${window.length} characters`);
    assert.equal(promptWindow(`${text}abc`, 400), `${window}bc`);
    assert.equal(promptWindow(`${text}abc def`, 400), `${window}bc def`);
    const later = `${text}${'x'.repeat(80)}`;
    const start = text.length + 1 - window.length;
    assert.ok(later.length - promptWindow(later, 400).length > start, 'the start moved on after a step');
  });

  it('comes out the same for the whole text or a tail of it with its document offset', () => {
    const text = 'The rabbit is late. '.repeat(200);
    assert.equal(promptWindow(text.slice(1000), 400, 1000), promptWindow(text, 400));
    assert.equal(promptWindow(text.slice(2000), 400, 2000), promptWindow(text, 400));
  });

  it('never splits a surrogate pair when there is no word boundary', () => {
    const text = '🙂'.repeat(400);
    const window = promptWindow(text, 101);
    assert.ok(!/^[\udc00-\udfff]/u.test(window.charAt(0)) && window.codePointAt(0) === 0x1f642, 'starts inside a pair');
    assert.ok(text.endsWith(window));
  });
});

describe('CompletionCache', () => {
  it('serves the rest of a suggestion while the user types through it', () => {
    const cache = new CompletionCache<Item>();
    cache.set('Alice was', items(' very tired', ' so sleepy'));
    assert.deepEqual(texts(cache.lookup('Alice was')), [' very tired', ' so sleepy']);
    assert.deepEqual(texts(cache.lookup('Alice was ')), ['very tired', 'so sleepy']);
    assert.deepEqual(texts(cache.lookup('Alice was v')), ['ery tired']);
    assert.deepEqual(texts(cache.lookup('Alice was very tire')), ['d']);
    const hit = cache.lookup('Alice was ver');
    assert.equal(hit?.prompt, 'Alice was');
    assert.equal(hit?.typed, ' ver');
    assert.equal(hit?.items[0]?.meanProb, 0, 'the other fields travel unchanged');
    assert.deepEqual(cache.stats, { lookups: 5, hits: 5 });
  });

  it('follows an alternative when the typing diverges from the first item', () => {
    const cache = new CompletionCache<Item>();
    cache.set('Alice was', items(' very tired', ' so sleepy'));
    assert.deepEqual(texts(cache.lookup('Alice was so')), [' sleepy']);
  });

  it('misses once the typing diverges from every item', () => {
    const cache = new CompletionCache<Item>();
    cache.set('Alice was', items(' very tired', ' so sleepy'));
    assert.equal(cache.lookup('Alice was x'), undefined);
    assert.equal(cache.lookup('Alice was very tiredness'), undefined);
    assert.equal(cache.lookup('Alice wa'), undefined, 'deleting back past the prompt');
    assert.deepEqual(cache.stats, { lookups: 3, hits: 0 });
  });

  it('misses when a suggestion is fully typed, so the model says what follows', () => {
    const cache = new CompletionCache<Item>();
    cache.set('Alice was', items(' very tired'));
    assert.equal(cache.lookup('Alice was very tired'), undefined);
  });

  it('requires the cached prompt to be the whole window, not just a matching tail', () => {
    const cache = new CompletionCache<Item>();
    cache.set('Alice was', items(' very tired'));
    assert.equal(cache.lookup('Then Alice was v'), undefined);
  });

  it('matches windows of long documents, given the text from the start or enough of its tail', () => {
    const cache = new CompletionCache<Item>({ promptChars: 40 });
    const document = 'Alice sat on the bank with her sister, who was reading a book without pictures, and '.repeat(30);
    const prompt = cache.promptFor(document);
    assert.ok(prompt.length <= 40 && document.endsWith(prompt));
    cache.set(prompt, items('wondered why'));
    const typed = `${document}wond`;
    assert.deepEqual(texts(cache.lookup(typed)), ['ered why']);
    const origin = typed.length - cache.lookbehind;
    assert.ok(origin > 0);
    assert.deepEqual(texts(cache.lookup(typed.slice(origin), { origin })), ['ered why']);
    // A document that is just the window sends the same prompt; one a little longer sends itself whole.
    assert.deepEqual(texts(cache.lookup(`${prompt}wond`)), ['ered why']);
    assert.ok(`So${prompt}`.length <= 40);
    assert.equal(cache.lookup(`So${prompt}wond`), undefined);
  });

  it('prefers the newest entry when several match', () => {
    const cache = new CompletionCache<Item>();
    cache.set('Alice was', items(' very tired'));
    cache.set('Alice was ', items('very sleepy'));
    assert.deepEqual(texts(cache.lookup('Alice was very ')), ['sleepy']);
  });

  it('evicts the least recently used prompt; a hit counts as a use', () => {
    const cache = new CompletionCache<Item>({ capacity: 2 });
    cache.set('a', items(' one'));
    cache.set('b', items(' two'));
    assert.ok(cache.lookup('a o'), 'touch a');
    cache.set('c', items(' three'));
    assert.equal(cache.size, 2);
    assert.equal(cache.lookup('b t'), undefined, 'b was evicted');
    assert.ok(cache.lookup('a o'));
    assert.ok(cache.lookup('c t'));
  });

  it('skips entries holding only the first item when a complete answer is needed', () => {
    const cache = new CompletionCache<Item>();
    cache.set('Alice was', items(' very tired', ' so sleepy'));
    cache.set('Alice was ', items('very tired'), false);
    const quick = cache.lookup('Alice was very');
    assert.deepEqual([texts(quick), quick?.complete], [[' tired'], false]);
    const all = cache.lookup('Alice was very', { complete: true });
    assert.deepEqual([texts(all), all?.complete, all?.prompt], [[' tired'], true, 'Alice was']);
    assert.equal(cache.lookup('Alice was ', { complete: true })?.prompt, 'Alice was');
  });

  it('replaces an entry, forgets it when set to nothing, and clears', () => {
    const cache = new CompletionCache<Item>();
    cache.set('a', items(' one'));
    cache.set('a', items(' uno'));
    assert.deepEqual(texts(cache.lookup('a u')), ['no']);
    cache.set('a', []);
    assert.equal(cache.size, 0);
    cache.set('b', items(' two'));
    cache.clear();
    assert.equal(cache.lookup('b'), undefined);
  });
});
