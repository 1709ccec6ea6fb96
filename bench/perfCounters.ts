// llama.cpp's performance counters as llama_perf_context_print logs them, e.g.
//   llama_perf_context_print: prompt eval time =  35.56 ms /  64 tokens (  0.56 ms per token, …)
//   llama_perf_context_print:        eval time =   1.43 ms /   1 runs   (  1.43 ms per token, …)
// "prompt eval" counts batches of several tokens, "eval" single-token decodes; the print shows a
// count of at least 1 even when nothing ran, so only the times are read.

/** Milliseconds llama.cpp spent in prompt eval + eval per the logged lines; NaN when neither line is there. */
export function nativeMsOf(lines: readonly string[]): number {
  let total = 0;
  let found = 0;
  for (const line of lines) {
    const match = /\b(?:prompt eval|eval) time\s*=\s*([\d.]+) ms/u.exec(line);
    if (!match) continue;
    total += Number(match[1]);
    found++;
  }
  return found > 0 ? total : Number.NaN;
}
