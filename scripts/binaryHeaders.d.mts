// Types of binaryHeaders.mjs for the TypeScript tests that read binaries with it.
export interface BinaryHeader {
  format: 'elf' | 'pe' | 'macho' | 'macho-fat';
  bits: number;
  arch: string;
  glibc?: string;
  minos?: string;
  imports?: string[];
  delayImports?: string[];
}
export function compareVersions(a: string, b: string): number;
export function readBinaryHeader(buffer: Buffer): BinaryHeader | undefined;
export function loadClosure(entry: string, headers: Map<string, BinaryHeader | undefined>): Set<string>;
