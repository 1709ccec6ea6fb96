// What the platform VSIXs rest on: reading a binary's machine type and imports from its headers,
// renaming a finished download into place while Windows holds the file, and the one-line error
// for an ONNX runtime that cannot load (no Visual C++ runtime, an old glibc).
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareVersions, loadClosure, readBinaryHeader } from '../../scripts/binaryHeaders.mjs';
import { renameIntoPlace } from '../../src/core/download/atomicRename';
import { LmLensError } from '../../src/core/errors';
import { connectOrStart } from '../../src/client/launcher';
import { runtimeLoadError } from '../../src/core/runtimeLoad';
import { repoRoot } from '../support/testModel';

/** A minimal 64-bit little-endian ELF header (the fields the reader looks at), per the System V ABI. */
function elf(machine: number, extra = ''): Buffer {
  const buffer = Buffer.alloc(128 + extra.length);
  buffer.writeUInt32BE(0x7f454c46, 0);
  buffer[4] = 2; // ELFCLASS64
  buffer[5] = 1; // ELFDATA2LSB
  buffer.writeUInt16LE(machine, 0x12);
  buffer.write(extra, 128, 'latin1');
  return buffer;
}

/**
 * A minimal PE32+ image: DOS stub pointing at the PE header, one section mapping RVA 0x1000 to file
 * offset 0x200, an import directory naming `imports` and a delay-import directory naming `delayed`.
 */
function pe(machine: number, imports: string[], delayed: string[]): Buffer {
  const buffer = Buffer.alloc(0x800);
  buffer.write('MZ', 0, 'latin1');
  const peAt = 0x80;
  buffer.writeUInt32LE(peAt, 0x3c);
  buffer.write('PE\0\0', peAt, 'latin1');
  buffer.writeUInt16LE(machine, peAt + 4);
  buffer.writeUInt16LE(1, peAt + 6); // one section
  buffer.writeUInt16LE(240, peAt + 20); // size of the PE32+ optional header with 16 directories
  const optional = peAt + 24;
  buffer.writeUInt16LE(0x20b, optional);
  buffer.writeUInt32LE(16, optional + 108);
  const section = optional + 240;
  buffer.writeUInt32LE(0x600, section + 8); // virtual size
  buffer.writeUInt32LE(0x1000, section + 12); // RVA
  buffer.writeUInt32LE(0x600, section + 16); // raw size
  buffer.writeUInt32LE(0x200, section + 20); // raw offset
  const rva = (offset: number): number => offset - 0x200 + 0x1000;
  let names = 0x500;
  const table = (at: number, list: string[], size: number, nameField: number): void => {
    list.forEach((name, i) => {
      buffer.write(`${name}\0`, names, 'latin1');
      buffer.writeUInt32LE(rva(names), at + i * size + nameField);
      names += name.length + 1;
    });
  };
  table(0x200, imports, 20, 12);
  table(0x300, delayed, 32, 4);
  buffer.writeUInt32LE(rva(0x200), optional + 112 + 1 * 8);
  buffer.writeUInt32LE(rva(0x300), optional + 112 + 13 * 8);
  return buffer;
}

/** A 64-bit Mach-O header with one LC_BUILD_VERSION (minos 14.2) and one LC_LOAD_DYLIB. */
function machO(cpu: number): Buffer {
  const buffer = Buffer.alloc(256);
  buffer.writeUInt32LE(0xfeedfacf, 0);
  buffer.writeUInt32LE(cpu, 4);
  buffer.writeUInt32LE(2, 16);
  buffer.writeUInt32LE(0x32, 32);
  buffer.writeUInt32LE(24, 36);
  buffer.writeUInt32LE((14 << 16) | (2 << 8), 44);
  buffer.writeUInt32LE(0xc, 56);
  buffer.writeUInt32LE(48, 60);
  buffer.writeUInt32LE(24, 64); // name offset from the command's start
  buffer.write('@rpath/libfoo.1.dylib\0', 56 + 24, 'latin1');
  return buffer;
}

describe('platform binaries, renames and runtime errors', () => {
  describe('binary headers', () => {
    it('reads the machine of ELF, PE and Mach-O headers', () => {
      assert.equal(readBinaryHeader(elf(0x3e))?.arch, 'x64');
      assert.equal(readBinaryHeader(elf(0xb7))?.arch, 'arm64');
      assert.equal(readBinaryHeader(pe(0x8664, [], []))?.arch, 'x64');
      assert.equal(readBinaryHeader(pe(0xaa64, [], []))?.arch, 'arm64');
      assert.deepEqual(readBinaryHeader(machO(0x0100000c)), { format: 'macho', bits: 64, arch: 'arm64', minos: '14.2', imports: ['@rpath/libfoo.1.dylib'] });
      assert.equal(readBinaryHeader(machO(0x01000007))?.arch, 'x64');
      assert.equal(readBinaryHeader(Buffer.from('#!/usr/bin/env node\n'.repeat(8))), undefined);
    });

    it('takes the newest GLIBC version an ELF names, as a version', () => {
      assert.equal(readBinaryHeader(elf(0x3e, 'GLIBC_2.9\0GLIBC_2.28\0GLIBC_2.17\0'))?.glibc, '2.28');
      assert.ok(compareVersions('2.28', '2.9') > 0);
      assert.equal(compareVersions('14.0', '14'), 0);
    });

    it('tells a PE import from a delay import, and follows only imports in the closure', () => {
      const binding = pe(0x8664, ['runtime.dll', 'KERNEL32.dll'], ['NODE.EXE']);
      const runtime = pe(0x8664, ['MSVCP140.dll'], ['DirectML.dll']);
      const headers = new Map([
        ['binding.node', readBinaryHeader(binding)],
        ['Runtime.dll', readBinaryHeader(runtime)],
        ['DirectML.dll', readBinaryHeader(pe(0x8664, [], []))],
      ]);
      assert.deepEqual(headers.get('Runtime.dll')?.imports, ['MSVCP140.dll']);
      assert.deepEqual(headers.get('Runtime.dll')?.delayImports, ['DirectML.dll']);
      // DLL names ignore case; the delay-loaded DirectML is not needed to load the binding.
      assert.deepEqual([...loadClosure('binding.node', headers)].sort(), ['Runtime.dll', 'binding.node']);
    });

    it("onnxruntime-node's own binaries have the machine their folder names", () => {
      const root = path.join(repoRoot(), 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
      let checked = 0;
      for (const os of readdirSync(root)) {
        for (const arch of readdirSync(path.join(root, os))) {
          const binding = readBinaryHeader(readFileSync(path.join(root, os, arch, 'onnxruntime_binding.node')));
          assert.equal(binding?.arch, arch, `${os}/${arch}`);
          assert.equal(binding?.format, { linux: 'elf', win32: 'pe', darwin: 'macho' }[os]);
          checked++;
        }
      }
      assert.ok(checked >= 5, `${checked} folders`);
    });
  });

  describe('renaming a finished file into place', () => {
    const failing = (codes: string[]) => {
      const calls: string[] = [];
      const rename = async (from: string, to: string): Promise<void> => {
        calls.push(`${from}->${to}`);
        const code = codes.shift();
        if (code) throw Object.assign(new Error(`${code}: operation not permitted, rename`), { code });
      };
      return { calls, rename };
    };

    it('on Windows, retries EPERM and EBUSY (a scanner holding the file) until the rename goes through', async () => {
      const fake = failing(['EPERM', 'EBUSY', 'EACCES']);
      await renameIntoPlace('a.partial', 'a', { platform: 'win32', rename: fake.rename, delaysMs: [1, 1, 1, 1] });
      assert.equal(fake.calls.length, 4);
    });

    it('gives up with the last error when the file stays held', async () => {
      const fake = failing(['EPERM', 'EPERM', 'EPERM']);
      await assert.rejects(renameIntoPlace('a.partial', 'a', { platform: 'win32', rename: fake.rename, delaysMs: [1, 1] }), { code: 'EPERM' });
      assert.equal(fake.calls.length, 3);
    });

    it('does not retry other errors, nor permission errors outside Windows', async () => {
      const missing = failing(['ENOENT']);
      await assert.rejects(renameIntoPlace('a.partial', 'a', { platform: 'win32', rename: missing.rename, delaysMs: [1] }), { code: 'ENOENT' });
      assert.equal(missing.calls.length, 1);
      const linux = failing(['EACCES']);
      await assert.rejects(renameIntoPlace('a.partial', 'a', { platform: 'linux', rename: linux.rename, delaysMs: [1] }), { code: 'EACCES' });
      assert.equal(linux.calls.length, 1);
    });
  });

  describe('an ONNX runtime that cannot load', () => {
    const dlopen = (message: string): Error => Object.assign(new Error(message), { code: 'ERR_DLOPEN_FAILED' });
    const binding = '\\\\?\\C:\\Users\\Zoë Smith\\.vscode\\extensions\\lm-lens.lm-lens-0.1.0-win32-x64\\node_modules\\onnxruntime-node\\bin\\napi-v6\\win32\\x64\\onnxruntime_binding.node';

    it('on Windows, "module not found" names the Visual C++ Redistributable for the machine, in one line', () => {
      // Windows' wording, and Wine's (seen with msvcp140 disabled).
      for (const text of ['The specified module could not be found.', 'Module not found.']) {
        const error = runtimeLoadError(dlopen(`${text}\r\n${binding}`), 'win32', 'x64');
        assert.ok(error instanceof LmLensError);
        assert.equal(error.code, 'runtime-missing');
        assert.match(error.message, /Microsoft Visual C\+\+ Redistributable/);
        assert.match(error.message, /vc_redist\.x64\.exe/);
        assert.doesNotMatch(error.message, /\n/);
      }
      assert.match(runtimeLoadError(dlopen(`The specified module could not be found.\r\n${binding}`), 'win32', 'arm64')?.message ?? '', /vc_redist\.arm64\.exe/);
    });

    it('other load failures say what the system said; an old glibc names the version needed', () => {
      const wrongArch = runtimeLoadError(dlopen(`%1 is not a valid Win32 application.\r\n${binding}`), 'win32', 'x64');
      assert.doesNotMatch(wrongArch?.message ?? '', /Visual C\+\+/);
      assert.match(wrongArch?.message ?? '', /not a valid Win32 application/);
      const glibc = runtimeLoadError(dlopen("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.28' not found (required by /ext/libonnxruntime.so.1)"), 'linux', 'x64');
      assert.match(glibc?.message ?? '', /glibc 2\.28 or newer/);
    });

    it("a model server that cannot start: the window's error is the server's own last line, not an exit code", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-start-'));
      try {
        // Stands in for dist/modelHost.js on a Windows without the runtime: what runtimeCheck.ts writes, then exit 1.
        const hostScript = path.join(dir, 'modelHost.js');
        const line = 'The model server could not start: The ONNX runtime cannot load: the Microsoft Visual C++ Redistributable is missing.';
        writeFileSync(hostScript, `process.stderr.write(${JSON.stringify(`${line}\n`)}); process.exit(1);\n`);
        // An earlier start's line in the same log must not be taken for this one's.
        await assert.rejects(connectOrStart({ hostScript, serverDir: path.join(dir, 'server') }, () => undefined), (error: unknown) => error instanceof LmLensError && error.message === line);
        writeFileSync(hostScript, 'process.exit(1);\n');
        await assert.rejects(connectOrStart({ hostScript, serverDir: path.join(dir, 'server') }, () => undefined), /exited at start \(exit code 1\)/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('leaves errors that are not a failed runtime load alone', () => {
      assert.equal(runtimeLoadError(new Error('Protobuf parsing failed.'), 'win32', 'x64'), undefined);
      assert.equal(runtimeLoadError(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }), 'win32', 'x64'), undefined);
    });
  });
});
