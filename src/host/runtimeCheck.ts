/**
 * Imported first by the model process (server.ts): loads onnxruntime's native binding before
 * anything else does, so that a binding that cannot load (no Visual C++ runtime on Windows, an
 * old glibc) ends the process with one line naming the fix instead of a stack trace. The
 * launcher shows the log's last line when the server exits at start.
 */
import { runtimeLoadError } from '../core/runtimeLoad';

try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- must run before the bundle's own imports load it
  require('onnxruntime-node');
} catch (error) {
  const explained = runtimeLoadError(error);
  if (!explained) throw error;
  process.stderr.write(`The model server could not start: ${explained.message}\n`);
  process.exit(1);
}
