// A separate process that downloads a hub model, as a second VS Code window or the CLI would:
// `node --import tsx downloadWorker.ts MODEL CACHE_DIR ENDPOINT`. Prints each progress event as a JSON line.
import { ensureHubModel } from '../../src/core/download/hubModel';

const [model = '', cacheDir = '', hubEndpoint = ''] = process.argv.slice(2);
ensureHubModel({ model, dtype: 'fp32', cacheDir, allowDownloads: true, network: { hubEndpoint }, onProgress: (event) => process.stdout.write(`${JSON.stringify(event)}\n`) }).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
