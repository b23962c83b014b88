// Command-line options of harness/run.mjs: parsed and validated here, nothing else.
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Accel } from './vm/accel.js';
import { positiveInt, positiveNumber } from './util/args.js';

export interface Options {
  accel: Accel | 'auto';
  jobs: number;
  bootAttempts: number;
  /** Multiplier for the boot, inactivity and per-command timeouts (default: 1 with KVM, 3 with TCG). */
  timeoutScale?: number;
  resultsDir?: string;
  /** Oracle profile flags to toggle on every kernel (self-test of the comparison). */
  oracleFlip: string[];
  ts: boolean;
  /** Extra kernel command-line words for every VM. */
  append: string[];
  /** Folder of case files (default: the checkout's cases/). */
  casesDir?: string;
  cases: string[];
  filters: string[];
  /** Print the plan (and the oracle's predictions with --oracle-only) without booting. */
  planOnly: boolean;
  oracleOnly: boolean;
  /** Finish an interrupted run in its own directory. */
  resume?: string;
  /** Run only shard `index` (1-based) of `count` of the selected cells. */
  shard?: { index: number; count: number };
  /** Kernel descriptions (kernels/<name>.yaml) to run instead of the embedded pair. */
  kernels?: string[];
  help: boolean;
}

export const HELP = `Usage: npx zx harness/run.mjs [options]

Builds Debian's linux-source-6.1 twice (after = as shipped, before = with
kernels/patches/6.1/revert-4b01a967.patch), boots both in QEMU, runs the reproduction
cells of commit 4b01a967 in each guest over SSH and compares them with the oracle.

Options:
  --accel auto|kvm|tcg   accelerator; auto uses KVM only when the CPU has vmx/svm (default auto)
  --jobs N               VMs running at once over all kernels; a kernel with many cells
                         is split over several (default: the number of CPU cores)
  --boot-attempts N      boots tried per kernel when the lab fails (not on a kernel crash) (default 2)
  --timeout-scale X      multiply the boot, inactivity and command timeouts by X
                         (default 1 with KVM, 3 with TCG)
  --results DIR          parent folder of run directories (default ./results)
  --oracle-flip FLAG     toggle one oracle profile flag on every kernel, to prove a wrong
                         model is caught (autobindReuseSysctl | followupSameEuidConflict)
  --kernels NAME[,NAME…] run the kernels described in kernels/NAME.yaml (or a path to a
                         .yaml file) instead of the embedded after/before pair
  --no-ts                skip the TypeScript (Node.js) guest
  --append WORDS         extra kernel command-line words for every VM (repeatable)
  --cases DIR            run the case files of DIR instead of ./cases
  --case NAME            only this case (repeatable)
  --filter KEY=V[,V…]    only cells whose dimension KEY (case, reuse, range, fam, addr,
                         a socket dimension, or guest) has one of the values (repeatable)
  --plan                 print the cells that would run, boot nothing
  --oracle-only          print the oracle's prediction for every cell on every kernel
                         profile, boot nothing
  --shard I/N            run only the I-th of N deterministic slices of the selected cells
                         (every kernel runs the same slice); join shard runs with
                         harness/merge.mjs RUN_DIR… --out DIR
  --resume RUN_DIR       finish an interrupted run: same options, only the cells without
                         an answer in its events.jsonl run, results land in RUN_DIR
  -h, --help             this text

Exit codes: 0 every cell matches the oracle; 1 a cell differs from the oracle or the kernel
crashed; 2 bad usage or missing system packages; 3 the lab failed (no boot, lost SSH) and
nothing differed; 4 internal error; 130 interrupted.`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses "2/4" into {index: 2, count: 4}. */
function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) throw new UsageError(`--shard expects I/N with 1 <= I <= N, got ${JSON.stringify(text)}`);
  return { index, count };
}

/** Parses argv (without node and script); throws UsageError with the offending option. */
export function parseOptions(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        accel: { type: 'string' },
        jobs: { type: 'string' },
        'boot-attempts': { type: 'string' },
        'timeout-scale': { type: 'string' },
        results: { type: 'string' },
        'oracle-flip': { type: 'string', multiple: true },
        'no-ts': { type: 'boolean' },
        append: { type: 'string', multiple: true },
        cases: { type: 'string' },
        case: { type: 'string', multiple: true },
        filter: { type: 'string', multiple: true },
        plan: { type: 'boolean' },
        'oracle-only': { type: 'boolean' },
        resume: { type: 'string' },
        shard: { type: 'string' },
        kernels: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nRun with --help for the options.`);
  }
  const v = parsed.values;
  const accel = v.accel ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new UsageError(`--accel expects auto, kvm or tcg, got ${JSON.stringify(accel)}`);
  return {
    accel,
    jobs: positiveInt(UsageError, 'jobs', v.jobs, os.availableParallelism()),
    bootAttempts: positiveInt(UsageError, 'boot-attempts', v['boot-attempts'], 2),
    timeoutScale: positiveNumber(UsageError, 'timeout-scale', v['timeout-scale']),
    resultsDir: v.results,
    oracleFlip: v['oracle-flip'] ?? [],
    ts: !v['no-ts'],
    append: (v.append ?? []).flatMap((w) => w.split(/\s+/)).filter(Boolean),
    casesDir: v.cases,
    cases: v.case ?? [],
    filters: v.filter ?? [],
    planOnly: v.plan ?? false,
    oracleOnly: v['oracle-only'] ?? false,
    resume: v.resume,
    shard: v.shard === undefined ? undefined : parseShard(v.shard),
    kernels: v.kernels?.flatMap((k) => k.split(',')).map((k) => k.trim()).filter(Boolean),
    help: v.help ?? false,
  };
}
