// The bench's native llama.cpp figure: the times llama_perf_context_print logs, summed.
import * as assert from 'node:assert/strict';
import { nativeMsOf } from '../../bench/perfCounters';

const line = (label: string, ms: number, count: string): string => `llama_perf_context_print: ${label} time = ${ms.toFixed(2).padStart(10)} ms / ${count}`;

describe('bench: llama.cpp performance counters', () => {
  it('adds prompt eval and eval times and ignores load and total time', () => {
    const prompt = 35.56;
    const evalMs = 1.43;
    const lines = [line('       load', 281.38, ''), line('prompt eval', prompt, '64 tokens (0.56 ms per token)'), line('       eval', evalMs, '1 runs'), line('      total', 285.16, '65 tokens')];
    assert.ok(Math.abs(nativeMsOf(lines) - (prompt + evalMs)) < 1e-9);
  });

  it('is NaN when no counter line was logged (a figure of 0 would flatter the peer)', () => {
    assert.ok(Number.isNaN(nativeMsOf([])));
    assert.ok(Number.isNaN(nativeMsOf(['llama_context: n_ctx = 1024'])));
  });
});
