// The background step size while someone types: chosen from measured step costs, so that a
// keystroke arriving during a background step waits about BACKGROUND_BUDGET keystroke steps.
import * as assert from 'node:assert/strict';
import { BACKGROUND_BUDGET, BACKGROUND_CHUNK, BackgroundPace, MIN_BACKGROUND_TOKENS, TYPING_MS } from '../../src/core/backgroundPace';

describe('background pace', () => {
  const clock = (): { now: () => number; advance: (ms: number) => void } => {
    let t = 0;
    return { now: () => t, advance: (ms) => void (t += ms) };
  };

  it('runs full-size steps while nobody types, and before any keystroke step was measured', () => {
    const time = clock();
    const pace = new BackgroundPace(time.now);
    pace.observe('background', BACKGROUND_CHUNK, 10_000);
    assert.equal(pace.tokens(), BACKGROUND_CHUNK);
    // An interactive prefill chunk is no keystroke: nothing to measure the budget by.
    pace.observe('interactive', 128, 300);
    assert.equal(pace.tokens(), BACKGROUND_CHUNK);
  });

  it('while typing, halves a step that cost more than the budget, keeps one within it, doubles one well under it', () => {
    const time = clock();
    const pace = new BackgroundPace(time.now);
    const keystrokeMs = 40;
    pace.observe('interactive', 1, keystrokeMs);
    const budget = BACKGROUND_BUDGET * keystrokeMs;
    assert.equal(pace.tokens(), BACKGROUND_CHUNK, 'the first step is full-size: its cost is not known yet');
    pace.observe('background', BACKGROUND_CHUNK, budget * 1.5);
    assert.equal(pace.tokens(), BACKGROUND_CHUNK / 2);
    pace.observe('background', BACKGROUND_CHUNK / 2, budget * 1.1);
    assert.equal(pace.tokens(), BACKGROUND_CHUNK / 4);
    pace.observe('background', BACKGROUND_CHUNK / 4, budget * 0.8);
    assert.equal(pace.tokens(), BACKGROUND_CHUNK / 4, 'within the budget: kept');
    pace.observe('background', BACKGROUND_CHUNK / 4, budget * 0.3);
    assert.equal(pace.tokens(), BACKGROUND_CHUNK / 2, 'well under it: doubled');
    for (let i = 0; i < 10; i++) pace.observe('background', pace.tokens(), budget * 10);
    assert.equal(pace.tokens(), MIN_BACKGROUND_TOKENS, 'never below the minimum');
  });

  it('goes back to full-size steps once the last keystroke is older than TYPING_MS, and remembers the typing size', () => {
    const time = clock();
    const pace = new BackgroundPace(time.now);
    pace.observe('interactive', 1, 40);
    pace.observe('background', BACKGROUND_CHUNK, 1000);
    const typing = pace.tokens();
    assert.ok(typing < BACKGROUND_CHUNK);
    time.advance(TYPING_MS + 1);
    assert.equal(pace.tokens(), BACKGROUND_CHUNK);
    // Steps measured while nobody types say nothing about the budget.
    pace.observe('background', BACKGROUND_CHUNK, 1);
    pace.observe('interactive', 2, 40);
    assert.equal(pace.tokens(), typing);
  });
});
