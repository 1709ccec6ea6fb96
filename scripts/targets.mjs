// The VSIX targets LM Lens ships, shared by the packager and the VSIX check.

// vsce target → the <os>/<arch> folder under onnxruntime-node's bin/napi-v6. No darwin-x64:
// onnxruntime-node 1.30 ships no Intel macOS binary (1.23 was the last), and a VSIX that installs
// and then cannot load its runtime is worse than none (see README, "Install").
export const runtimeFolders = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

/** The machine type each target's binaries must have (the arch part of the vsce target). */
export const targetArch = (target) => target.split('-')[1];
/** The binary format each operating system loads. */
export const targetFormat = (target) => ({ linux: 'elf', win32: 'pe', darwin: 'macho' })[target.split('-')[0]];
