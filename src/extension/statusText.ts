import * as path from 'node:path';
import { formatMegabytes } from '../shared/format';
import { FAMILY_LABELS } from '../shared/modelCatalog';
import type { HostStats, ModelState } from '../shared/hostProtocol';

/** Pure text for the model status bar item and its tooltip (unit-tested without VS Code). */

export function shortModelName(model: string): string {
  return path.isAbsolute(model) ? path.basename(model) : (model.split('/').pop() ?? model);
}

export function describeState(state: ModelState, model: string, dtype: string): { text: string; severity: 'normal' | 'error' } {
  const name = `${shortModelName(model)} · ${dtype}`;
  switch (state.state) {
    case 'idle':
      return { text: `$(circle-outline) ${name}`, severity: 'normal' };
    case 'loading': {
      const progress = state.progress;
      if (progress?.phase === 'download' && progress.totalBytes) {
        return { text: `$(cloud-download) ${name} · ${Math.floor((100 * (progress.loadedBytes ?? 0)) / progress.totalBytes)}%`, severity: 'normal' };
      }
      return { text: `$(loading~spin) ${name} · loading`, severity: 'normal' };
    }
    case 'ready': {
      // GPT-2 is the default and needs no label; another family is named so the user sees what runs.
      const family = state.info?.family;
      const label = family && family !== 'gpt2' ? `${shortModelName(model)} · ${FAMILY_LABELS[family] ?? family} · ${dtype}` : name;
      return { text: `$(check) ${label}`, severity: 'normal' };
    }
    case 'error':
      return { text: `$(error) ${name}`, severity: 'error' };
  }
}

/** Where a server answers, as the status bar names it: "host:port" (the URL itself when it does not parse). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/** Which engine answers, as the status menu's "Select model…" line says it: the local model and precision, or the server's model and host. */
export function engineDescription(config: { backend: string; model: string; dtype: string; server: { url: string; model: string } }): string {
  if (config.backend === 'local') return `${config.model} · ${config.dtype}`;
  return `${config.server.model || config.backend} @ ${hostOf(config.server.url)}`;
}

export interface ServerTarget {
  backend: string;
  url: string;
  model: string;
}

/** A server's status item: "$(remote) model · host · 35 ms" once it answers; the model's usual states before. */
export function describeServerState(state: ModelState, server: ServerTarget, latencyMs: number | undefined): { text: string; severity: 'normal' | 'error' } {
  const model = (state.state === 'ready' && state.engine?.model) || server.model || server.backend;
  const host = (state.state === 'ready' && state.engine?.host) || hostOf(server.url);
  if (state.state !== 'ready') return describeState(state, model, host);
  return { text: `$(remote) ${shortModelName(model)} · ${host}${latencyMs === undefined ? '' : ` · ${Math.round(latencyMs)} ms`}`, severity: 'normal' };
}

export interface TooltipInput {
  state: ModelState;
  latencies: Partial<Record<string, number>>;
  stats?: HostStats;
  cacheDir: string;
}

const LATENCY_LABELS: Record<string, string> = { panel: 'Next-token panel', inline: 'Ghost text', loss: 'Sentence scoring', command: 'Commands' };

export function statusTooltip(input: TooltipInput): string {
  const lines: string[] = ['**LM Lens**', ''];
  const { state } = input;
  if (state.state === 'ready' && !state.info && state.engine) {
    const engine = state.engine;
    lines.push(`Engine: ${engine.kind} server at \`${engine.host}\`, model \`${engine.model}\`${engine.contextSize ? `, window ${engine.contextSize} tokens` : ''}`);
  } else if (state.state === 'ready' && state.info) {
    const info = state.info;
    lines.push(`Model: \`${info.id}\` (${info.dtype}), ${info.layers} layers, window ${info.contextSize} tokens, ${info.threads} threads, loaded in ${info.loadMs} ms`);
  } else if (state.state === 'error') {
    lines.push(`Error: ${state.message}`);
  } else {
    lines.push(`State: ${state.state}`);
  }
  const latencies = Object.entries(input.latencies).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
  if (latencies.length > 0) {
    lines.push('', '| feature | median latency |', '|---|---|', ...latencies.map(([feature, ms]) => `| ${LATENCY_LABELS[feature] ?? feature} | ${Math.round(ms)} ms |`));
  }
  if (input.stats) {
    const { cache } = input.stats;
    const total = cache.reusedTokens + cache.computedTokens;
    const reuse = total > 0 ? `${Math.round((100 * cache.reusedTokens) / total)}% of tokens reused` : 'no requests yet';
    lines.push('', `Prefix cache: ${reuse}, ${cache.entries} contexts, ${formatMegabytes(cache.bytes)} · model process ${formatMegabytes(input.stats.rssBytes)}`);
  }
  lines.push('', `Cache folder: \`${input.cacheDir}\``, '', 'Click for actions');
  return lines.join('\n');
}
