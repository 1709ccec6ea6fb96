// Reads what a native binary was built for from its own headers (ELF, PE, Mach-O), so the VSIX
// check does not depend on `file` or `objdump` being installed: the machine type, and what the
// loader needs to run it (the newest GLIBC symbol version, the DLLs it imports, the minimum macOS).

const ELF_MACHINES = { 0x3e: 'x64', 0xb7: 'arm64', 0x28: 'arm', 0x03: 'ia32' };
const PE_MACHINES = { 0x8664: 'x64', 0xaa64: 'arm64', 0x014c: 'ia32' };
const MACHO_CPUS = { 0x01000007: 'x64', 0x0100000c: 'arm64' };

/** "2.28" < "2.34" as versions, not strings. */
export function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * ELF: the machine, and the newest `GLIBC_x.y` version the binary names (its version-needs
 * strings): the oldest glibc it loads on.
 */
function readElf(buffer) {
  const is64 = buffer[4] === 2;
  const little = buffer[5] === 1;
  const machine = little ? buffer.readUInt16LE(0x12) : buffer.readUInt16BE(0x12);
  let glibc;
  for (const match of buffer.toString('latin1').matchAll(/GLIBC_(\d+\.\d+(?:\.\d+)?)\0/g)) {
    if (!glibc || compareVersions(match[1], glibc) > 0) glibc = match[1];
  }
  return { format: 'elf', bits: is64 ? 64 : 32, arch: ELF_MACHINES[machine] ?? `elf-machine-0x${machine.toString(16)}`, glibc, imports: is64 && little ? elfNeeded(buffer) : [] };
}

/** DT_NEEDED of a 64-bit little-endian ELF: the libraries the loader opens with it. */
function elfNeeded(buffer) {
  const phoff = Number(buffer.readBigUInt64LE(0x20));
  const phentsize = buffer.readUInt16LE(0x36);
  const phnum = buffer.readUInt16LE(0x38);
  const segments = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    segments.push({ type: buffer.readUInt32LE(at), offset: Number(buffer.readBigUInt64LE(at + 8)), vaddr: Number(buffer.readBigUInt64LE(at + 16)), size: Number(buffer.readBigUInt64LE(at + 32)) });
  }
  const dynamic = segments.find((s) => s.type === 2); // PT_DYNAMIC
  if (!dynamic) return [];
  const entries = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = Number(buffer.readBigInt64LE(at));
    if (tag === 0) break;
    entries.push({ tag, value: Number(buffer.readBigUInt64LE(at + 8)) });
  }
  // DT_STRTAB holds an address: the PT_LOAD segment that maps it gives its file offset.
  const strtab = entries.find((e) => e.tag === 5)?.value;
  const load = segments.find((s) => s.type === 1 && strtab >= s.vaddr && strtab < s.vaddr + s.size);
  if (strtab === undefined || !load) return [];
  return entries.filter((e) => e.tag === 1).map((e) => cString(buffer, strtab - load.vaddr + load.offset + e.value));
}

/** A zero-terminated ASCII string at `offset`. */
function cString(buffer, offset) {
  const end = buffer.indexOf(0, offset);
  return buffer.toString('latin1', offset, end === -1 ? buffer.length : end);
}

/**
 * PE: the machine, and the DLLs of its import table (loaded with it: a missing one fails the
 * load with error 126) apart from those of its delay-import table (loaded on first call only).
 */
function readPe(buffer) {
  const pe = buffer.readUInt32LE(0x3c);
  if (buffer.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error('MZ header without a PE signature');
  const machine = buffer.readUInt16LE(pe + 4);
  const sectionCount = buffer.readUInt16LE(pe + 6);
  const optionalSize = buffer.readUInt16LE(pe + 20);
  const optional = pe + 24;
  const plus = buffer.readUInt16LE(optional) === 0x20b;
  const directories = optional + (plus ? 112 : 96);
  const directoryCount = buffer.readUInt32LE(optional + (plus ? 108 : 92));
  const sections = [];
  for (let i = 0, at = optional + optionalSize; i < sectionCount; i++, at += 40) {
    sections.push({ rva: buffer.readUInt32LE(at + 12), size: Math.max(buffer.readUInt32LE(at + 8), buffer.readUInt32LE(at + 16)), raw: buffer.readUInt32LE(at + 20) });
  }
  const offsetOf = (rva) => {
    const section = sections.find((s) => rva >= s.rva && rva < s.rva + s.size);
    return section ? section.raw + rva - section.rva : undefined;
  };
  const names = (index, entrySize, nameField) => {
    if (index >= directoryCount) return [];
    const rva = buffer.readUInt32LE(directories + index * 8);
    let at = rva ? offsetOf(rva) : undefined;
    const found = [];
    while (at !== undefined && at + entrySize <= buffer.length) {
      const nameRva = buffer.readUInt32LE(at + nameField);
      if (nameRva === 0) break; // the all-zero entry that ends the table
      const nameAt = offsetOf(nameRva);
      if (nameAt !== undefined) found.push(cString(buffer, nameAt));
      at += entrySize;
    }
    return found;
  };
  return {
    format: 'pe',
    bits: plus ? 64 : 32,
    arch: PE_MACHINES[machine] ?? `pe-machine-0x${machine.toString(16)}`,
    imports: names(1, 20, 12),
    delayImports: names(13, 32, 4),
  };
}

const macVersion = (value) => `${value >>> 16}.${(value >> 8) & 0xff}${value & 0xff ? `.${value & 0xff}` : ''}`;

/** Mach-O (thin, 64-bit little-endian as Apple ships): the CPU, the minimum macOS (LC_BUILD_VERSION) and the dylibs it loads. */
function readMachO(buffer) {
  const cpu = buffer.readUInt32LE(4);
  const commandCount = buffer.readUInt32LE(16);
  let minos;
  const imports = [];
  for (let i = 0, at = 32; i < commandCount && at + 8 <= buffer.length; i++) {
    const command = buffer.readUInt32LE(at);
    // LC_LOAD_DYLIB / LC_LOAD_WEAK_DYLIB: the name sits at an offset from the command's start.
    if (command === 0xc || command === 0x80000018) imports.push(cString(buffer, at + buffer.readUInt32LE(at + 8)));
    if (command === 0x32) minos = macVersion(buffer.readUInt32LE(at + 12)); // LC_BUILD_VERSION: platform, minos, sdk
    else if (command === 0x24 && minos === undefined) minos = macVersion(buffer.readUInt32LE(at + 8)); // LC_VERSION_MIN_MACOSX
    at += buffer.readUInt32LE(at + 4);
  }
  return { format: 'macho', bits: 64, arch: MACHO_CPUS[cpu] ?? `macho-cpu-0x${cpu.toString(16)}`, minos, imports };
}

/** What `buffer` (a whole file) was built for; undefined when it is no native binary. */
export function readBinaryHeader(buffer) {
  if (buffer.length < 64) return undefined;
  if (buffer.readUInt32BE(0) === 0x7f454c46) return readElf(buffer);
  if (buffer.toString('latin1', 0, 2) === 'MZ') return readPe(buffer);
  if (buffer.readUInt32LE(0) === 0xfeedfacf) return readMachO(buffer);
  if (buffer.readUInt32BE(0) === 0xcafebabe) return { format: 'macho-fat', bits: 0, arch: 'universal' };
  return undefined;
}

/** The name a loader looks for: `@rpath/libonnxruntime.1.dylib` → `libonnxruntime.1.dylib`; DLL names ignore case. */
const loadName = (name, format) => {
  const base = name.split('/').pop();
  return format === 'pe' ? base.toLowerCase() : base;
};

/**
 * The files of one folder that loading `entry` opens: the entry and, transitively, the
 * folder's files it imports at load time (delay-loaded DLLs are not followed: DirectML loads
 * only when its execution provider is asked for). `headers` maps file name → readBinaryHeader.
 */
export function loadClosure(entry, headers) {
  const byLoadName = new Map([...headers].filter(([, header]) => header).map(([file, header]) => [loadName(file, header.format), file]));
  const needed = new Set([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const header = headers.get(queue.pop());
    for (const name of header?.imports ?? []) {
      const file = byLoadName.get(loadName(name, header.format));
      if (file && !needed.has(file)) {
        needed.add(file);
        queue.push(file);
      }
    }
  }
  return needed;
}
