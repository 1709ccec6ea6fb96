// Branching from an alternative: the hover's links carry what the edit needs, the edit happens
// only on the text that was scored, and its inverse (one undo) restores the original.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { scoreSentences } from '../../src/core/sentenceLoss';
import type { SentenceScore } from '../../src/core/sentenceLoss';
import { applyEdit, branchEdit, checkBranch, inverseEdit, isReplaceable, nextWordLength, parseBranchArgs } from '../../src/extension/branchEdit';
import type { BranchArgs, DocumentNow } from '../../src/extension/branchEdit';
import { buildSentenceHover } from '../../src/extension/lossHover';
import { COMMANDS } from '../../src/shared/commands';
import { ensureTestModel } from '../support/testModel';

const TEXT = 'Alice was beginning to get very tired of sitting by her sister on the bank. She had nothing to do.';
const URI = 'untitled:Untitled-1';

function documentNow(text: string, version: number): DocumentNow {
  return { version, length: text.length, textAt: (start, end) => text.slice(start, end) };
}

/** Every (command, args) the hover's Markdown links to, decoded as VS Code decodes a command URI. */
function links(markdown: string): Array<{ command: string; args: unknown }> {
  return [...markdown.matchAll(/\]\(command:([\w.]+)\?([^ )]+) "/g)].map((match) => ({ command: match[1] as string, args: JSON.parse(decodeURIComponent(match[2] as string)) as unknown }));
}

describe('branching from an alternative', () => {
  let engine: Engine;
  let sentences: SentenceScore[];

  before(async () => {
    engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
    sentences = (await scoreSentences(engine, TEXT, {})).sentences;
  });
  after(async () => engine?.dispose());

  it('the hover links every replaceable alternative to replace and to replace-and-continue, with the scored version', () => {
    const sentence = sentences[0] as SentenceScore;
    const content = buildSentenceHover({ sentence, band: 2, thresholds: [3, 4.5, 6, 7.5], mode: 'sentence', uri: URI, version: 7 });
    assert.ok(content.enabledCommands.includes(COMMANDS.replaceToken) && content.enabledCommands.includes(COMMANDS.replaceTokenAndContinue));
    const replaceLinks = links(content.markdown).filter((link) => link.command === COMMANDS.replaceToken);
    const continueLinks = links(content.markdown).filter((link) => link.command === COMMANDS.replaceTokenAndContinue);
    const expected = sentence.leastLikely.flatMap((token) => token.alternatives.filter((alt) => isReplaceable(token.text, alt.text)).map((alt) => ({ token, alt })));
    assert.ok(expected.length > 0, 'the test model offers no alternative');
    assert.equal(replaceLinks.length, expected.length);
    assert.deepEqual(continueLinks.map((link) => link.args), replaceLinks.map((link) => link.args));
    replaceLinks.forEach((link, i) => {
      const { token, alt } = expected[i] as (typeof expected)[number];
      assert.deepEqual(parseBranchArgs(link.args), { uri: URI, version: 7, start: token.start, end: token.end, original: token.text, replacement: alt.text });
      // The offsets are the document's: the token's text is exactly there.
      assert.equal(TEXT.slice(token.start, token.end), token.text);
    });
    // Without a version (nothing to check against) there are no edit links.
    const plain = buildSentenceHover({ sentence, band: 2, thresholds: [3, 4.5, 6, 7.5], mode: 'sentence', uri: URI });
    assert.equal(links(plain.markdown).filter((link) => link.command === COMMANDS.replaceToken).length, 0);
  });

  it('replace writes the alternative in place of the token, the cursor after it; the inverse edit (undo) restores the text', () => {
    const token = sentences[0]?.leastLikely[0];
    assert.ok(token);
    const alt = token.alternatives.find((candidate) => isReplaceable(token.text, candidate.text));
    assert.ok(alt);
    const args: BranchArgs = { uri: URI, version: 3, start: token.start, end: token.end, original: token.text, replacement: alt.text };
    assert.deepEqual(checkBranch(args, documentNow(TEXT, 3)), { ok: true });
    const { edit, cursor } = branchEdit(args);
    const replaced = applyEdit(TEXT, edit);
    assert.equal(replaced, TEXT.slice(0, token.start) + alt.text + TEXT.slice(token.end));
    // Replace and continue asks for ghost text right after the new token: the prompt is everything up to it.
    assert.equal(replaced.slice(0, cursor), TEXT.slice(0, token.start) + alt.text);
    assert.equal(applyEdit(replaced, inverseEdit(args)), TEXT);
  });

  it('refuses a stale replace: another version, moved text, a closed document, a byte piece', () => {
    const args: BranchArgs = { uri: URI, version: 3, start: 5, end: 9, original: ' was', replacement: ' is' };
    assert.deepEqual(checkBranch(args, documentNow(TEXT, 3)), { ok: true });
    assert.equal(checkBranch(args, documentNow(TEXT, 4)).ok, false, 'a later version, even with the same text there');
    assert.equal(checkBranch(args, documentNow(`X${TEXT}`, 3)).ok, false, 'the token is no longer at its offsets');
    assert.equal(checkBranch({ ...args, end: TEXT.length + 4, start: TEXT.length }, documentNow(TEXT, 3)).ok, false, 'past the end');
    assert.match(checkBranch(args, undefined).ok ? '' : (checkBranch(args, undefined) as { message: string }).message, /closed/);
    assert.equal(checkBranch({ ...args, replacement: '\uFFFD' }, documentNow(TEXT, 3)).ok, false);
    assert.equal(checkBranch({ ...args, replacement: '<|endoftext|>' }, documentNow(TEXT, 3)).ok, false);
    const stale = checkBranch(args, documentNow(TEXT, 9));
    assert.ok(!stale.ok && !stale.message.includes('\n'), 'one line');
  });

  it('reads link arguments defensively: wrong types, a length that does not match the original, no args', () => {
    const good = { uri: URI, version: 1, start: 5, end: 9, original: ' was', replacement: ' is' };
    assert.deepEqual(parseBranchArgs([good]), good);
    assert.equal(parseBranchArgs(undefined), undefined);
    assert.equal(parseBranchArgs([{ ...good, version: '1' }]), undefined);
    assert.equal(parseBranchArgs([{ ...good, start: -1 }]), undefined);
    assert.equal(parseBranchArgs([{ ...good, end: 12 }]), undefined);
    assert.equal(parseBranchArgs([{ ...good, replacement: 4 }]), undefined);
  });

  it('the panel replaces the word after the cursor, as GPT-2 splits words (no token crosses them), or inserts where none follows', () => {
    assert.equal(nextWordLength(' rabbit ran'), ' rabbit'.length);
    assert.equal(nextWordLength('bit ran'), 'bit'.length);
    assert.equal(nextWordLength("'s hat"), 2);
    assert.equal(nextWordLength(' 1865 was'), ' 1865'.length);
    assert.equal(nextWordLength('!? Yes'), '!?'.length);
    assert.equal(nextWordLength('  two spaces'), 0, 'GPT-2 gives the first space a token of its own');
    assert.equal(nextWordLength(''), 0);
    // Inserting is replacing nothing: the same checked edit, and its inverse removes the token again.
    const args: BranchArgs = { uri: URI, version: 2, start: 5, end: 5, original: '', replacement: ' still' };
    assert.deepEqual(checkBranch(args, documentNow(TEXT, 2)), { ok: true });
    const inserted = applyEdit(TEXT, branchEdit(args).edit);
    assert.equal(inserted, `Alice still${TEXT.slice(5)}`);
    assert.equal(applyEdit(inserted, inverseEdit(args)), TEXT);
  });

  it('keeps a link intact whatever the token texts hold (parentheses, quotes, backticks)', () => {
    const token = { start: 0, end: 2, id: 1, text: ' (', logprob: -5, prob: 0.01, rank: 40, entropy: 3, topProb: 0.2, topLogprob: -1, top10Entropy: 2, alternatives: [{ id: 2, text: ')"`', prob: 0.2 }] };
    const content = buildSentenceHover({ sentence: { start: 0, end: 2, loss: 5, perplexity: 148, tokenCount: 1, leastLikely: [token] }, band: 2, thresholds: [3, 4.5, 6, 7.5], mode: 'sentence', uri: URI, version: 1 });
    const [replace] = links(content.markdown).filter((link) => link.command === COMMANDS.replaceToken);
    assert.deepEqual(parseBranchArgs(replace?.args), { uri: URI, version: 1, start: 0, end: 2, original: ' (', replacement: ')"`' });
  });
});
