// What a server cannot give, said in one line where the features show numbers: the sentence
// hover here (the panel takes the model process's per-request `notes`).
import type { ModelState } from './hostProtocol';

/** One line for the sentence hover while a server scores; undefined for the local engine. */
export function scoringNote(state: ModelState): string | undefined {
  if (state.state !== 'ready' || !state.engine || state.engine.kind === 'local') return undefined;
  const { capabilities, model, host } = state.engine;
  const missing: string[] = [];
  if (!capabilities.exactRank) missing.push(`ranks outside its top ${capabilities.maxTopK} may be unknown`);
  if (!capabilities.entropy) missing.push('no entropy (the server gives only its top log-probabilities)');
  return `Scored by ${model} @ ${host}${missing.length ? `: ${missing.join('; ')}` : ''}.`;
}
