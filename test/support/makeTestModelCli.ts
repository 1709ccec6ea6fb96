// make-test-model: writes a seeded GPT-2-architecture model folder (see testModel.ts).
// npx tsx test/support/makeTestModelCli.ts --layers 2 --dim 64 --heads 4 --seed 1 --out DIR
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_CONTEXT_SIZE, DEFAULT_SEED, writeTestModel } from './testModel';
import type { TestModelOptions } from './testModel';

const USAGE =
  'usage: make-test-model --layers N --dim N --heads N [--seed N] [--ctx N] --out DIR [--quantized] [--num-logits-to-keep]';

/** Parses the command line; throws with a message meant for the user. */
export function parseArgs(argv: string[]): TestModelOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quantized' || arg === '--num-logits-to-keep') {
      flags.add(arg);
    } else if (['--layers', '--dim', '--heads', '--seed', '--ctx', '--out'].includes(arg)) {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      values.set(arg, value);
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  const integer = (name: string, fallback?: number): number => {
    const raw = values.get(name);
    if (raw === undefined) {
      if (fallback === undefined) throw new Error(`${name} is required`);
      return fallback;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
    return value;
  };
  const out = values.get('--out');
  if (out === undefined) throw new Error('--out is required');
  return {
    out: resolve(out),
    layers: integer('--layers'),
    dim: integer('--dim'),
    heads: integer('--heads'),
    seed: integer('--seed', DEFAULT_SEED),
    contextSize: integer('--ctx', DEFAULT_CONTEXT_SIZE),
    quantized: flags.has('--quantized'),
    numLogitsToKeep: flags.has('--num-logits-to-keep'),
  };
}

async function main(): Promise<void> {
  let options: TestModelOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  await writeTestModel(options);
  const size = statSync(join(options.out, 'onnx', 'model.onnx')).size;
  process.stdout.write(`wrote ${options.out} (onnx/model.onnx ${(size / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
