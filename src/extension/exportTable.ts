// "Copy as Markdown" / "Copy as JSON" of the prediction table. The extension calls these (it
// owns the clipboard); they live here beside the rendering so both read one view model.
import type { PanelControls, PredictionView } from '../shared/panelProtocol';
import { formatNumber, formatProbability, tokenLabel } from '../shared/format';

/** A token as an inline code span that survives any backticks and pipes inside a GFM table cell. */
export function markdownCode(text: string): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const padded = text.startsWith('`') || text.endsWith('`') ? ` ${text} ` : text;
  return `${fence}${padded}${fence}`.replace(/\|/g, '\\|');
}

function samplingSummary(controls: PanelControls): string {
  const topK = controls.samplingTopK > 0 ? String(controls.samplingTopK) : 'off';
  return `temperature ${controls.temperature}, top-p ${controls.topP}, top-k ${topK}`;
}

export function predictionToMarkdown(prediction: PredictionView, controls: PanelControls): string {
  const sampled = prediction.sampling !== undefined;
  const facts = [
    `${prediction.contextTokens} context tokens${prediction.truncated ? ' (cut to the window)' : ''}`,
    `entropy ${formatNumber(prediction.entropy)} nats`,
  ];
  if (prediction.emptyContext) facts.push('empty context: conditioned on the start token');
  const lines = [`**Next token** after ${prediction.fileName} Ln ${prediction.line}, Col ${prediction.column}: ${facts.join(', ')}`];
  if (prediction.sampling) {
    lines.push('', `Sampling (${samplingSummary(controls)}): ${prediction.sampling.keptTokens} tokens kept, entropy ${formatNumber(prediction.sampling.entropy)} nats`);
  }
  lines.push(
    '',
    `| # | token | id | probability | log-prob |${sampled ? ' sampled |' : ''}`,
    `|--:|:--|--:|--:|--:|${sampled ? '--:|' : ''}`,
    ...prediction.rows.map(
      (row, index) =>
        `| ${index + 1} | ${markdownCode(tokenLabel(row.text))} | ${row.id} | ${formatProbability(row.prob)} | ${formatNumber(row.logprob)} |${sampled ? ` ${formatProbability(row.sampledProb ?? 0)} |` : ''}`,
    ),
  );
  return `${lines.join('\n')}\n`;
}

/** Raw numbers at full precision: this is the export for scripts, not for reading. */
export function predictionToJson(prediction: PredictionView, controls: PanelControls): string {
  const data = {
    file: prediction.fileName,
    line: prediction.line,
    column: prediction.column,
    contextTokens: prediction.contextTokens,
    truncated: prediction.truncated,
    emptyContext: prediction.emptyContext,
    entropy: prediction.entropy,
    ...(prediction.sampling
      ? { sampling: { temperature: controls.temperature, topP: controls.topP, topK: controls.samplingTopK, ...prediction.sampling } }
      : {}),
    top: prediction.rows.map((row, index) => ({ rank: index + 1, ...row })),
  };
  return `${JSON.stringify(data, null, 2)}\n`;
}
