/**
 * Where the engine's one-line notices go (why the owned-KV decode path is not used, a precision
 * run in fp32): stderr with --verbose, else nowhere, so that stderr holds only the one error line
 * a script reads, and a bad input is never preceded by a notice about a consequence of it.
 */
export function noticeLog(verbose: boolean, stream: NodeJS.WritableStream = process.stderr): (line: string) => void {
  return verbose ? (line) => void stream.write(`${line}\n`) : () => undefined;
}
