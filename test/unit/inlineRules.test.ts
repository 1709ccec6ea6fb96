import assert from 'node:assert/strict';
import { autoTriggerBlock, isStale, statusView } from '../../src/extension/inlineRules';

describe('ghost-text trigger rules', () => {
  it('trigger at the end of a line or before whitespace only', () => {
    for (const suffix of ['', ' ', '   ', '\t', '\r']) assert.equal(autoTriggerBlock(suffix), undefined, JSON.stringify(suffix));
  });

  it('do not trigger in the middle of a word', () => {
    for (const suffix of ['ing', 'e the end', '9', 'é', 'Ω', '東京']) assert.equal(autoTriggerBlock(suffix), 'mid-word', suffix);
  });

  it('do not trigger in front of text on the same line', () => {
    for (const suffix of [' the end', ')', '.', '  — and', '\tx', '**']) assert.equal(autoTriggerBlock(suffix), 'text-after', JSON.stringify(suffix));
  });
});

describe('stale answers', () => {
  it('are fresh only for the same document version and cursor offset', () => {
    const at = { version: 7, offset: 31 };
    assert.equal(isStale(at, { version: 7, offset: 31 }), false);
    assert.equal(isStale(at, { version: 8, offset: 31 }), true, 'typed');
    assert.equal(isStale(at, { version: 8, offset: 32 }), true, 'typed and moved');
    assert.equal(isStale(at, { version: 7, offset: 12 }), true, 'cursor moved');
    assert.equal(isStale(at, undefined), true, 'document closed');
  });
});

describe('ghost-text status', () => {
  it('shows mean probability and latency, with the joint probability in the tooltip', () => {
    const view = statusView(true, { meanProb: 0.4213, jointProb: 5.14e-13, latencyMs: 85.4, count: 4 });
    assert.equal(view.text, '$(sparkle) 42% · 85 ms');
    assert.match(view.tooltip, /joint probability 5\.1e-13/);
    assert.match(view.tooltip, /3 more with Alt\+\] \/ Alt\+\[/);
  });

  it('says when a suggestion came from the cache', () => {
    const view = statusView(true, { meanProb: 0.5, jointProb: 0.25, latencyMs: undefined, count: 1 });
    assert.equal(view.text, '$(sparkle) 50% · cached');
    assert.match(view.tooltip, /joint probability 0\.25/);
    assert.match(view.tooltip, /Alt\+\] samples alternatives/);
  });

  it('reads "ghost text off" when disabled, whatever was shown', () => {
    assert.equal(statusView(false, undefined).text, '$(circle-slash) ghost text off');
    assert.equal(statusView(false, { meanProb: 0.5, jointProb: 0.25, latencyMs: 3, count: 1 }).text, '$(circle-slash) ghost text off');
    assert.equal(statusView(true, undefined).text, '$(sparkle) ghost text');
  });
});
