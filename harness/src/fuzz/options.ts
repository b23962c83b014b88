// Options of `npx zx harness/fuzz.mjs` and its --help.
import { parseArgs } from 'node:util';
import { PROFILES } from '../oracle/index.js';
import type { FuzzMode } from './compare.js';

export class FuzzUsageError extends Error {
  override name = 'FuzzUsageError';
}

/** A time budget (ms) or a cell budget (cells run on all kernels together, shrinking included). */
export type Budget = { kind: 'time'; ms: number; text: string } | { kind: 'cells'; cells: number; text: string };

export interface FuzzOptions {
  seed: number;
  budget: Budget;
  out?: string;
  kernels: string[];
  /** Per-kernel oracle profile overrides (kernel name → profile). */
  profiles: Record<string, string>;
  oracleFlip: string[];
  mode: FuzzMode;
  shard: { index: number; count: number };
  /** Scripts per batch (one exec per kernel). */
  batch: number;
  accel: 'auto' | 'kvm' | 'tcg';
  /** Extra kernel command-line words for every VM. */
  append: string[];
  help: boolean;
}

export const DEFAULT_KERNELS = ['debian-6.1-before', 'debian-6.1-after'];

export const HELP = `usage: npx zx harness/fuzz.mjs [options]     (or: node harness/fuzz.mjs)
       npx zx harness/fuzz.mjs merge DIR… --out DIR [--allow-partial]   (join shard folders; merge --help)

Differential fuzzing: random socket scripts in the case language (2-6 sockets, 1-14 ops, per-socket
SO_REUSEADDR / SO_REUSEPORT / IP_BIND_ADDRESS_NO_PORT / euid, a one/two/three-port or roomy range,
family, address, ip_autobind_reuse absent/0/1) run in batches on VMs that stay up, compared with
the oracle (each kernel's own profile) and across kernels. A kernel without the sysctl runs a script
at reuse=absent, a kernel with it at the script's value (absent -> 0): so before(absent) is compared
with after(0) and after(1). Each divergence is confirmed, shrunk to a minimal script, and written as
it is found: a case file (cases/ format), a kselftest (kselftest_harness.h, compiled static and run
on every kernel), a line in summary.json / summary.md.

options:
  --seed N               seed of the script stream (the same seed gives the same scripts; default: random, printed)
  --budget B             time (90s, 10m, 1h) or cells (5000c: cells on all kernels, shrinking included)   [10m]
                         a shrink under way finishes before the budget is checked
  --out DIR              where findings and the summary go                     [results/fuzz-<seed>-<time>]
  --kernels A,B,...      kernel descriptions of kernels/ (or .yaml paths)      [${DEFAULT_KERNELS.join(',')}]
  --profile NAME=P       compare kernel NAME with oracle profile P (repeatable; ${Object.keys(PROFILES).join(', ')})
  --oracle-flip FLAG     toggle an oracle profile flag on every kernel (repeatable; as in the main job)
  --mode M               oracle: kernel vs oracle and kernel vs kernel; behaviour: kernel vs kernel only   [oracle]
                         (kernel vs oracle: is the observation possible, as in the main job; kernel vs
                         kernel: equality pattern, and a difference each kernel's possible outcomes
                         explain, i.e. random port choice, is counted but not a finding)
  --shard I/N            run scripts k with k mod N = I-1 only (disjoint streams for N machines);
                         join the shards' --out folders with: fuzz.mjs merge DIR… --out DIR
  --batch N              scripts per batch (one guest exec per kernel)          [64]
  --accel auto|kvm|tcg   accelerator, as in the main job                        [auto]
  --append WORDS         extra kernel command-line words for every VM (e.g. kph.cells_fault=… to test the lab)
  --help                 this text

Ctrl-C stops: what was found is already written; the summary is finalised (exit 130).
Exit codes: 0 no divergence, 1 divergences found, 2 bad usage, 3 the lab failed, 4 internal error, 130 interrupted.`;

/** "10m" / "90s" / "1h" / "5000c" → a budget. */
export function parseBudget(text: string): Budget {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|c)$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new FuzzUsageError(`--budget expects a time like 90s, 10m, 1h or a cell count like 5000c, got ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  if (m[2] === 'c') {
    if (!Number.isInteger(n)) throw new FuzzUsageError(`--budget: a cell count must be a whole number, got ${JSON.stringify(text)}`);
    return { kind: 'cells', cells: n, text };
  }
  return { kind: 'time', ms: n * { s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'], text };
}

/** Parses argv; throws FuzzUsageError naming the option and what it expected. */
export function parseFuzzOptions(argv: string[]): FuzzOptions {
  let v;
  try {
    v = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        seed: { type: 'string' }, budget: { type: 'string' }, out: { type: 'string' }, kernels: { type: 'string' },
        profile: { type: 'string', multiple: true }, 'oracle-flip': { type: 'string', multiple: true }, mode: { type: 'string' },
        shard: { type: 'string' }, batch: { type: 'string' }, accel: { type: 'string' }, append: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    throw new FuzzUsageError(`${(e as Error).message} (see --help)`);
  }
  const seed = v.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(v.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 31) throw new FuzzUsageError(`--seed expects an integer 0 <= N < 2^31, got ${JSON.stringify(v.seed)}`);
  const kernels = v.kernels === undefined ? DEFAULT_KERNELS : v.kernels.split(',').map((s) => s.trim()).filter(Boolean);
  if (kernels.length === 0) throw new FuzzUsageError('--kernels expects at least one kernel name');
  if (new Set(kernels).size !== kernels.length) throw new FuzzUsageError(`--kernels names a kernel twice: ${v.kernels}`);
  const mode = (v.mode ?? 'oracle') as FuzzMode;
  if (mode !== 'oracle' && mode !== 'behaviour') throw new FuzzUsageError(`--mode expects oracle or behaviour, got ${JSON.stringify(v.mode)}`);
  if (mode === 'behaviour' && kernels.length < 2) throw new FuzzUsageError('--mode behaviour compares kernels with each other: --kernels needs at least two');
  const profiles: Record<string, string> = {};
  for (const p of v.profile ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(p);
    if (!m) throw new FuzzUsageError(`--profile expects NAME=PROFILE, got ${JSON.stringify(p)}`);
    if (!(m[2] in PROFILES)) throw new FuzzUsageError(`--profile ${p}: unknown profile ${JSON.stringify(m[2])}; known: ${Object.keys(PROFILES).join(', ')}`);
    profiles[m[1]] = m[2];
  }
  let shard = { index: 1, count: 1 };
  if (v.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(v.shard);
    const [index, count] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
    if (!m || count < 1 || index < 1 || index > count) throw new FuzzUsageError(`--shard expects I/N with 1 <= I <= N, got ${JSON.stringify(v.shard)}`);
    shard = { index, count };
  }
  const batch = v.batch === undefined ? 64 : Number(v.batch);
  if (!Number.isInteger(batch) || batch < 1 || batch > 1000) throw new FuzzUsageError(`--batch expects an integer 1..1000, got ${JSON.stringify(v.batch)}`);
  const accel = (v.accel ?? 'auto') as FuzzOptions['accel'];
  if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new FuzzUsageError(`--accel expects auto, kvm or tcg, got ${JSON.stringify(v.accel)}`);
  return {
    seed, budget: parseBudget(v.budget ?? '10m'), out: v.out, kernels, profiles, oracleFlip: v['oracle-flip'] ?? [], mode, shard, batch, accel, append: (v.append ?? []).flatMap((w) => w.split(/\s+/).filter(Boolean)), help: v.help ?? false,
  };
}
