/**
 * onnxruntime's native binding fails to load with the operating system's words ("The specified
 * module could not be found." on Windows, "GLIBC_2.28 not found" on an old Linux) and a path;
 * users need one line that names the fix. No `vscode` import: the CLI and the model process use it.
 */
import { LmLensError, errorMessage } from './errors';

/** Microsoft's permanent links to the latest supported Visual C++ Redistributable (2015-2022). */
const VC_REDIST: Partial<Record<string, string>> = {
  x64: 'https://aka.ms/vs/17/release/vc_redist.x64.exe',
  arm64: 'https://aka.ms/vs/17/release/vc_redist.arm64.exe',
};

/**
 * The error to show for a failure to load onnxruntime-node's binding, or undefined when `error`
 * is something else. On Windows, "module not found" (error 126) for a binding that is present
 * means a DLL it imports is missing: onnxruntime.dll ships beside it, so it is the Visual C++
 * runtime (MSVCP140.dll, VCRUNTIME140.dll).
 */
export function runtimeLoadError(error: unknown, platform: NodeJS.Platform = process.platform, arch: string = process.arch): LmLensError | undefined {
  const message = errorMessage(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ERR_DLOPEN_FAILED' && !/onnxruntime_binding\.node/.test(message)) return undefined;
  const first = message.split(/\r?\n/)[0]?.trim() ?? message;
  if (platform === 'win32' && /not (be )?found/i.test(first)) {
    const link = VC_REDIST[arch] ?? 'https://aka.ms/vs/17/release/vc_redist.x64.exe';
    return new LmLensError('runtime-missing', `The ONNX runtime cannot load: the Microsoft Visual C++ Redistributable is missing. Install it from ${link}, then restart VS Code.`);
  }
  const glibc = /GLIBC_(\d+\.\d+)' not found/.exec(message);
  if (glibc) return new LmLensError('runtime-missing', `The ONNX runtime needs glibc ${glibc[1]} or newer, which this Linux lacks (Debian 10, Ubuntu 20.04 and RHEL 8 are new enough).`);
  return new LmLensError('runtime-missing', `The ONNX runtime cannot load on this system (${first}).`);
}
