import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LmLensError } from '../errors';
import { onnxFileFor } from '../modelSource';
import type { Dtype } from '../modelSource';
import { renameIntoPlace } from './atomicRename';
import { withLock } from './cacheLock';
import { downloadFile, htmlError } from './fileDownload';
import type { RemoteFile } from './fileDownload';
import { DEFAULT_HUB_ENDPOINT, createDispatcher, describeNetworkError, isTransient, normalizeEndpoint, proxyFor, resolveUrl } from './network';
import type { NetworkSettings } from './network';
import { SpeedMeter } from './speed';
import { modelCacheFolder } from './cacheFolder';
import type { DownloadProgress } from '../../shared/engineTypes';
export type { DownloadProgress } from '../../shared/engineTypes';

export { modelCacheFolder, removeCachedModel } from './cacheFolder';

export interface HubModelRequest {
  model: string;
  dtype: Dtype;
  cacheDir: string;
  network?: NetworkSettings;
  allowDownloads: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** No byte for this long fails the file (default 30 s, env LM_LENS_STALL_MS). */
  stallMs?: number;
}

interface ManifestEntry {
  size?: number;
  sha256?: string;
  etag?: string;
  /** An optional file the server does not have (so it is not asked for again). */
  missing?: boolean;
}

interface Manifest {
  format: 1;
  files: Record<string, ManifestEntry>;
}

const OPTIONAL_FILES = ['generation_config.json'];
const MANIFEST = '.lmlens-manifest.json';
const ATTEMPTS = 3;

/** Files transformers.js reads for a causal LM of `dtype`, including external-data chunks its config announces. */
export function modelFiles(dtype: Dtype, config: Record<string, unknown> | undefined): string[] {
  const onnx = onnxFileFor(dtype);
  const custom = (config?.['transformers.js_config'] ?? {}) as { use_external_data_format?: unknown };
  const format = custom.use_external_data_format;
  const base = path.posix.basename(onnx);
  const chunks = typeof format === 'object' && format !== null ? Number((format as Record<string, unknown>)[base] ?? (format as Record<string, unknown>).model ?? 0) : Number(format ?? 0);
  const data = Array.from({ length: Number.isFinite(chunks) ? chunks : 0 }, (_unused, i) => `${onnx}_data${i === 0 ? '' : `_${i}`}`);
  return ['config.json', 'tokenizer.json', 'tokenizer_config.json', onnx, ...data];
}

async function readManifest(folder: string): Promise<Manifest> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(folder, MANIFEST), 'utf8')) as Manifest;
    if (parsed.format === 1 && typeof parsed.files === 'object') return parsed;
  } catch {
    // Absent or damaged: every file is checked by its presence alone, as transformers.js caches were.
  }
  return { format: 1, files: {} };
}

async function writeManifest(folder: string, manifest: Manifest): Promise<void> {
  const target = path.join(folder, MANIFEST);
  const temporary = `${target}.${process.pid}.tmp`;
  await fs.writeFile(temporary, JSON.stringify(manifest, null, 1));
  await renameIntoPlace(temporary, target);
}

async function readConfig(folder: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

async function isComplete(folder: string, file: string, entry: ManifestEntry | undefined): Promise<boolean> {
  if (entry?.missing) return true;
  const stat = await fs.stat(path.join(folder, file)).catch(() => undefined);
  return stat !== undefined && stat.isFile() && (entry?.size === undefined || stat.size === entry.size);
}

/** The files of a hub model not yet complete in the cache (empty: it loads without any request). */
export async function missingFiles(cacheDir: string, model: string, dtype: Dtype): Promise<string[]> {
  const folder = modelCacheFolder(cacheDir, model);
  const manifest = await readManifest(folder);
  const wanted = [...modelFiles(dtype, await readConfig(folder)), ...OPTIONAL_FILES.filter((file) => manifest.files[file]?.missing !== true)];
  const missing: string[] = [];
  for (const file of wanted) {
    const complete = OPTIONAL_FILES.includes(file) ? await fs.stat(path.join(folder, file)).then(() => true, () => false) : await isComplete(folder, file, manifest.files[file]);
    if (!complete) missing.push(file);
  }
  return missing;
}

const isProcessAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Temporary files nobody will finish: transformers.js's `<file>.tmp.<pid>.<random>` of dead processes, week-old partials. */
async function removeStaleTemporaries(folder: string): Promise<void> {
  const entries = await fs.readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    const transformersTemp = /\.tmp\.(\d+)\.[0-9a-z]+$/.exec(entry.name);
    const stale = transformersTemp ? !isProcessAlive(Number(transformersTemp[1])) : /\.lmlens-partial(\.json)?$/.test(entry.name) && Date.now() - (await fs.stat(full)).mtimeMs > 7 * 86_400_000;
    if (stale) await fs.rm(full, { force: true });
  }
}

function missingError(file: string, httpStatus: number, errorCode: string | undefined, request: HubModelRequest, endpoint: string): LmLensError {
  const host = new URL(endpoint).host;
  const mirror = endpoint !== DEFAULT_HUB_ENDPOINT;
  if (errorCode === 'RepoNotFound' || httpStatus === 401 || httpStatus === 403) {
    return new LmLensError('hub-not-found', `${mirror ? `The mirror ${host}` : 'The hub'} has no model ${request.model} (or it is private or gated; HTTP ${httpStatus}). Check lmLens.model${mirror ? ' and lmLens.hubEndpoint' : ''}.`);
  }
  if (file === onnxFileFor(request.dtype)) {
    return new LmLensError('hub-not-found', `The hub has no ${request.dtype} ONNX export at ${request.model} (404 for ${file}${mirror ? ` at ${host}` : ''}). Check lmLens.model and lmLens.dtype.`);
  }
  if (mirror) {
    return new LmLensError('mirror-missing', `The mirror ${host} has no ${file} of ${request.model} (404). Use a mirror that has the whole model, or clear lmLens.hubEndpoint to use the hub.`);
  }
  return new LmLensError('hub-not-found', `The hub has no ${file} for ${request.model} (404) — is it a transformers.js export? Check lmLens.model.`);
}

/** JSON files arrive whole or not at all: a truncated or foreign answer must not be cached. */
async function checkJson(dest: string, file: string, endpoint: string): Promise<void> {
  const text = await fs.readFile(dest, 'utf8');
  try {
    JSON.parse(text);
  } catch {
    await fs.rm(dest, { force: true });
    if (/^\s*</.test(text)) throw htmlError(file, new URL(endpoint).host);
    throw new LmLensError('download-corrupt', `${file} from ${new URL(endpoint).host} is not valid JSON. Retry; if it repeats, a proxy or mirror is altering the file.`);
  }
}

/**
 * Makes sure every file of a hub model is complete in the cache and returns its folder. LM Lens
 * downloads the files itself (transformers.js then loads them offline), so that each file is
 * written under a temporary name, checked (size, sha256 of LFS files, JSON, no HTML), resumed
 * with Range after a broken connection, and moved into place only when whole; a cross-process
 * lock makes concurrent windows produce one copy. A complete cache makes no request at all.
 */
export async function ensureHubModel(request: HubModelRequest): Promise<string> {
  const folder = modelCacheFolder(request.cacheDir, request.model);
  if ((await missingFiles(request.cacheDir, request.model, request.dtype)).every((file) => OPTIONAL_FILES.includes(file))) return folder;
  if (!request.allowDownloads) {
    throw new LmLensError(
      'downloads-disabled',
      `${request.model} is not in the model cache and downloads are off. Turn on lmLens.allowDownloads (CLI: drop --offline), or set lmLens.model (--model) to a local model folder.`,
    );
  }
  const endpoint = normalizeEndpoint(request.network?.hubEndpoint);
  await fs.mkdir(folder, { recursive: true });
  await withLock(path.join(folder, '.lmlens.lock'), () => downloadMissing(request, folder, endpoint), {
    signal: request.signal,
    onWait: () => request.onProgress?.({ file: '', fileIndex: 0, fileCount: 0, loadedBytes: 0, waiting: true }),
  });
  return folder;
}

async function downloadMissing(request: HubModelRequest, folder: string, endpoint: string): Promise<void> {
  await removeStaleTemporaries(folder);
  const network = request.network ?? {};
  const dispatcher = createDispatcher(network);
  const token = process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const stallMs = request.stallMs ?? (Number(process.env.LM_LENS_STALL_MS) || 30_000);
  const context = { model: request.model, endpoint, proxy: proxyFor(network) };
  try {
    // Another process may have finished while this one waited for the lock; config.json first: it names the data files.
    let pending = await missingFiles(request.cacheDir, request.model, request.dtype);
    pending = [...pending.filter((file) => file === 'config.json'), ...pending.filter((file) => file !== 'config.json')];
    const manifest = await readManifest(folder);
    for (let index = 0; index < pending.length; index++) {
      const file = pending[index] as string;
      const meter = new SpeedMeter();
      const dest = path.join(folder, ...file.split('/'));
      const fileRequest = {
        url: resolveUrl(endpoint, request.model, file),
        file,
        dest,
        dispatcher,
        authorization: token ? `Bearer ${token}` : undefined,
        signal: request.signal,
        stallMs,
        onBytes: (loaded: number, total: number | undefined) => {
          const speed = meter.sample(loaded, total !== undefined && loaded >= total, total);
          if (speed) request.onProgress?.({ file, fileIndex: index + 1, fileCount: pending.length, loadedBytes: loaded, totalBytes: total, ...speed });
        },
      };
      let outcome: Awaited<ReturnType<typeof downloadFile>> | undefined;
      for (let attempt = 1; !outcome; attempt++) {
        try {
          outcome = await downloadFile(fileRequest);
        } catch (error) {
          if (attempt >= ATTEMPTS || !isTransient(error)) throw describeNetworkError(error, { ...context, file });
          await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
        }
      }
      if (outcome.status === 'missing') {
        if (OPTIONAL_FILES.includes(file) && outcome.httpStatus === 404) manifest.files[file] = { missing: true };
        else throw missingError(file, outcome.httpStatus, outcome.errorCode, request, endpoint);
      } else {
        if (file.endsWith('.json')) await checkJson(dest, file, endpoint);
        manifest.files[file] = entryOf(outcome.size, outcome.remote);
        if (file === 'config.json') {
          // The config may announce external-data files that were not known before it arrived.
          for (const extra of modelFiles(request.dtype, await readConfig(folder))) if (!pending.includes(extra) && !(await isComplete(folder, extra, undefined))) pending.push(extra);
        }
      }
      await writeManifest(folder, manifest);
    }
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}

const entryOf = (size: number, remote: RemoteFile): ManifestEntry => ({ size, sha256: remote.sha256, etag: remote.etag });
