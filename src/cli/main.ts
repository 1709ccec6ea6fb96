import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Backend } from '../core/backend';
import type { LoadOptions } from '../core/model';
import { LmLensError, errorMessage } from '../core/errors';
import { defaultCacheDir } from '../core/download/cacheFolder';
import { DEFAULT_MODEL, SETTINGS } from '../shared/settings';
import { STOP_UNITS } from '../core/stopRules';
import type { StopUnit } from '../core/stopRules';
import { runtimeLoadError } from '../core/runtimeLoad';
import type { CliValues, ServerValues } from './commands';
import { noticeLog } from './notices';
import { terminalProgress } from './progressBar';

const COMMANDS = ['tokens', 'loss', 'next', 'lens', 'sample', 'complete', 'sentences', 'report'] as const;
type CommandName = (typeof COMMANDS)[number];

const USAGE = `Usage: lm-lens <tokens|loss|next|lens|sample|complete|sentences> TEXT [options]
       lm-lens report FILE [--json | --html OUT] [--compare MODEL] [--language ID] [--layers]
  TEXT                 the text; "-" reads standard input (report: FILE is a file path or "-")
  --model M            hub id or model folder (default ${DEFAULT_MODEL}, env LM_LENS_MODEL)
  --dtype D            fp32 (default, exact) | q8-fast (int8 at load, fastest) | fp16 | q8 | int8 | q4
  --cache-dir DIR      where hub downloads are cached (default ~/.cache/lm-lens)
  --hub-endpoint URL   hub or mirror to download from (default https://huggingface.co, env HF_ENDPOINT);
                       proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY
  --offline            never download; use the cache or a local folder
  --redownload         delete the cached copy of a hub model and download it again
  --threads N          intra-op threads (0 = all cores)
  --json               machine-readable output
  --verbose            also print notices on stderr (e.g. why the fast decode path is not used)
  loss:      --bos (prepend the model's start token, unless its tokenizer adds one, so the first token is scored) --stride N
  next:      --top K --temperature T --top-k K --top-p P --bos
  lens:      --top K (default 5) --bos: what each layer predicts next (logit lens) and its attention; local engine only
  sample:    -n N --max-new-tokens T --seed S --temperature T --top-k K (default 50, as HF) --top-p P
  complete:  --max-new-tokens T --stop-at sentence|line|paragraph --min-token-prob P (defaults: lmLens.inline.*);
             it also stops before a repeated token span; --json gives stopReason
  report:    --html OUT (self-contained page) --compare MODEL (second model: cross-perplexity) --language ID
             --layers: per token the layer its prediction settles at (logit lens; one lens step per token)
             --compare URL [--compare-api A] [--compare-model NAME]: a server's model as the second
             (loss per sentence in its own tokens; no cross-perplexity; API key from LM_LENS_API_KEY)
  --server URL         ask a server instead of the local engine (vLLM, SGLang, llama-server)
  --api A              openai (default: vLLM, SGLang) | llama.cpp (llama-server's native API)
  --server-model NAME  the served model (default: the server's first); API key from env LM_LENS_API_KEY
Exit status: 0 ok, 1 model or runtime error (one line on stderr), 2 usage error.`;

class UsageError extends Error {}

function parse(argv: string[]): { command: CommandName; text: string; values: CliValues } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        dtype: { type: 'string' },
        'cache-dir': { type: 'string' },
        offline: { type: 'boolean' },
        'hub-endpoint': { type: 'string' },
        redownload: { type: 'boolean' },
        threads: { type: 'string' },
        json: { type: 'boolean' },
        bos: { type: 'boolean' },
        stride: { type: 'string' },
        top: { type: 'string' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        n: { type: 'string', short: 'n' },
        'max-new-tokens': { type: 'string' },
        seed: { type: 'string' },
        'stop-at': { type: 'string' },
        'min-token-prob': { type: 'string' },
        html: { type: 'string' },
        layers: { type: 'boolean' },
        compare: { type: 'string' },
        'compare-api': { type: 'string' },
        'compare-model': { type: 'string' },
        language: { type: 'string' },
        server: { type: 'string' },
        api: { type: 'string' },
        'server-model': { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const [name, text, ...rest] = parsed.positionals;
  if (parsed.values.help) throw new UsageError('');
  if (!name || !(COMMANDS as readonly string[]).includes(name)) throw new UsageError(name ? `Unknown command "${name}".` : 'Missing command.');
  if (text === undefined) throw new UsageError(`"${name}" needs a ${name === 'report' ? 'FILE' : 'TEXT'} argument ("-" reads standard input).`);
  if (rest.length > 0) throw new UsageError(`Unexpected argument "${rest[0]}" (quote the text).`);
  const number = (key: string, integer: boolean): number | undefined => {
    const raw = (parsed.values as Record<string, unknown>)[key];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) throw new UsageError(`--${key} needs a${integer ? 'n integer' : ' number'}, got "${String(raw)}".`);
    return value;
  };
  const stopAt = parsed.values['stop-at'];
  if (stopAt !== undefined && !(STOP_UNITS as readonly string[]).includes(stopAt)) throw new UsageError(`--stop-at must be ${STOP_UNITS.join(', ')}, got "${stopAt}".`);
  const minTokenProb = number('min-token-prob', false);
  const probLimits = SETTINGS['inline.minTokenProb'];
  if (minTokenProb !== undefined && (minTokenProb < probLimits.minimum || minTokenProb > probLimits.maximum)) {
    throw new UsageError(`--min-token-prob must lie between ${probLimits.minimum} and ${probLimits.maximum}, got ${minTokenProb}.`);
  }
  // --compare takes a model (hub id or folder) or, given as http(s)://…, a server.
  const compareUrl = /^https?:\/\//iu.test(parsed.values.compare ?? '') ? parsed.values.compare : undefined;
  const values: CliValues = {
    json: parsed.values.json ?? false,
    bos: parsed.values.bos ?? false,
    stride: number('stride', true),
    top: number('top', true),
    temperature: number('temperature', false),
    topK: number('top-k', true),
    topP: number('top-p', false),
    n: number('n', true),
    maxNewTokens: number('max-new-tokens', true),
    seed: number('seed', true),
    stopAt: stopAt as StopUnit | undefined,
    minTokenProb,
    threads: number('threads', true),
    model: parsed.values.model ?? process.env.LM_LENS_MODEL ?? DEFAULT_MODEL,
    dtype: parsed.values.dtype ?? 'fp32',
    cacheDir: parsed.values['cache-dir'] ?? defaultCacheDir(),
    offline: parsed.values.offline ?? process.env.LM_LENS_OFFLINE === '1',
    html: parsed.values.html,
    layers: parsed.values.layers ?? false,
    compare: compareUrl ? undefined : parsed.values.compare,
    language: parsed.values.language,
    file: name === 'report' && text !== '-' ? text : undefined,
    hubEndpoint: parsed.values['hub-endpoint'] ?? process.env.HF_ENDPOINT ?? '',
    redownload: parsed.values.redownload ?? false,
    verbose: parsed.values.verbose ?? false,
  };
  const server = (url: string | undefined, api: string | undefined, model: string | undefined, flags: { url: string; api: string; model: string }): ServerValues | undefined => {
    if (!url && (api || model)) throw new UsageError(`${flags.api} and ${flags.model} need ${flags.url} URL.`);
    const kind = api ?? 'openai';
    if (kind !== 'openai' && kind !== 'llama.cpp') throw new UsageError(`${flags.api} must be openai (vLLM, SGLang) or llama.cpp (llama-server), got "${kind}".`);
    return url ? { url, api: kind, model, apiKey: process.env.LM_LENS_API_KEY || undefined } : undefined;
  };
  values.server = server(parsed.values.server, parsed.values.api, parsed.values['server-model'], { url: '--server', api: '--api', model: '--server-model' });
  values.compareServer = server(compareUrl, parsed.values['compare-api'], parsed.values['compare-model'], { url: '--compare', api: '--compare-api', model: '--compare-model' });
  const resolvedText = text === '-' ? readFileSync(0, 'utf8') : name === 'report' ? readDocument(text) : text;
  return { command: name as CommandName, text: resolvedText, values };
}

function readDocument(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new LmLensError('text-invalid', `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}.`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let request;
  try {
    request = parse(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message) process.stderr.write(`lm-lens: ${error.message}\n`);
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`lm-lens: ${errorMessage(error)}\n`);
    return 1;
  }
  let backend: Backend | undefined;
  const progress = terminalProgress();
  try {
    // Loaded only now: usage errors should not pay for loading transformers.js and onnxruntime.
    const { commands } = await import('./commands');
    if (request.values.redownload) await redownload(request.values);
    backend = await openBackend(request.values, progress.onProgress);
    progress.finish();
    const output = await commands[request.command](backend, request.text, request.values);
    process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
    return 0;
  } catch (error) {
    progress.finish();
    const message = error instanceof LmLensError ? error.message : (runtimeLoadError(error)?.message ?? `Unexpected error: ${errorMessage(error)}`);
    process.stderr.write(`lm-lens: ${message}\n`);
    return 1;
  } finally {
    await backend?.dispose().catch(() => undefined);
  }
}

/** The local engine, or the server named by --server (its key from LM_LENS_API_KEY, never a flag: flags end up in shell history). */
async function openBackend(values: CliValues, onProgress: LoadOptions['onProgress']): Promise<Backend> {
  if (values.server) {
    const { createRemoteBackend } = await import('../core/remote');
    const backend = createRemoteBackend(values.server.api, { url: values.server.url, model: values.server.model, apiKey: values.server.apiKey, hints: CLI_HINTS });
    await backend.ready();
    return backend;
  }
  const [{ loadEngine }, { LocalBackend }] = await Promise.all([import('../core/engine'), import('../core/local/localBackend')]);
  const engine = await loadEngine({
    model: values.model,
    dtype: values.dtype,
    cacheDir: values.cacheDir,
    allowDownloads: !values.offline,
    threads: values.threads,
    network: { hubEndpoint: values.hubEndpoint },
    onProgress,
    onLog: noticeLog(values.verbose ?? false),
  });
  return new LocalBackend(engine);
}

const CLI_HINTS = { url: '--server', key: 'the LM_LENS_API_KEY environment variable', model: '--server-model', api: '--api' };

/** `--redownload`: a hub model's cached files go (under the download lock); a folder is left alone. */
async function redownload(values: CliValues): Promise<void> {
  const [{ resolveModelSource }, { normalizeEndpoint }, { removeCachedModel }] = await Promise.all([import('../core/modelSource'), import('../core/download/network'), import('../core/download/hubModel')]);
  normalizeEndpoint(values.hubEndpoint);
  const source = resolveModelSource(values.model);
  if (source.kind === 'hub') await removeCachedModel(values.cacheDir, source.id);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
