// Command-line options of harness/run.mjs: parsed and validated here, nothing else.
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { InputError } from './core/errors.js';
import type { TerminalLevel } from './run/reporters.js';
import type { Accel } from './vm/accel.js';
import { DEFAULT_MAX_CELLS, decimalOption, intOption, RANGES } from './util/args.js';

/** How much the terminal reporter says: errors and the final line, progress, or debug detail. */
export type Verbosity = TerminalLevel;

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
  /** The plan refuses more cells than this (before anything is built). */
  maxCells: number;
  verbosity: Verbosity;
  /** Build the kernels, guest image and guests into the cache, then exit 0 without booting. */
  buildOnly: boolean;
  help: boolean;
  version: boolean;
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
  --append WORDS         extra kernel command-line words for every VM (repeatable); kph.fresh_netns=1:
                         a new network namespace for every cell (default: one reused while cells leave
                         no TCP socket in it)
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
  --max-cells N          refuse a plan of more than N cells (default 100,000)
  -q, --quiet            print only errors and the final line
  -v, --verbose          print every progress line, and the stack of an internal error
  --build-only           build the kernels, the guest image, the C guest and the selftests
                         into the cache ($KPH_CACHE_DIR), boot nothing, exit 0 (a CI build job)
  -h, --help             this text
  --version              the harness's version

Numbers are decimal digits: --jobs 1 to 64, --boot-attempts 1 to 10, --timeout-scale
0.1 to 100, --max-cells 1 to 10,000,000.

Exit codes: 0 every cell matches the oracle; 1 a cell differs from the oracle or the kernel
crashed; 2 the input is wrong (options, case files, kernel descriptions) or system packages
are missing; 3 the lab failed (no boot, lost SSH) and nothing differed; 4 internal error
(a harness bug); 130 interrupted.`;

/** A command-line option is wrong: exit 2. */
export class UsageError extends InputError {
  override name = 'UsageError';
  constructor(message: string) { super(message); }
}

/** Parses "2/4" into {index: 2, count: 4}. */
function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count || count > RANGES.shardCount.max) throw new UsageError(`--shard expects I/N with 1 <= I <= N <= ${RANGES.shardCount.max}, got ${JSON.stringify(text)}`);
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
        'max-cells': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        verbose: { type: 'boolean', short: 'v' },
        'build-only': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
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
  if (v.quiet && v.verbose) throw new UsageError('-q/--quiet and -v/--verbose contradict each other: give one');
  return {
    accel,
    jobs: intOption(UsageError, 'jobs', v.jobs, RANGES.jobs, os.availableParallelism()),
    bootAttempts: intOption(UsageError, 'boot-attempts', v['boot-attempts'], RANGES.bootAttempts, 2),
    timeoutScale: decimalOption(UsageError, 'timeout-scale', v['timeout-scale'], RANGES.timeoutScale),
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
    maxCells: intOption(UsageError, 'max-cells', v['max-cells'], RANGES.maxCells, DEFAULT_MAX_CELLS),
    verbosity: v.quiet ? 'quiet' : v.verbose ? 'verbose' : 'normal',
    buildOnly: v['build-only'] ?? false,
    help: v.help ?? false,
    version: v.version ?? false,
  };
}

/** A folder option (--cases, --results, or an environment variable) names a folder, or (when !mustExist) nothing yet: else UsageError. */
export function checkFolderOption(option: string, dir: string | undefined, mustExist: boolean): void {
  if (dir === undefined) return;
  if (!/^[A-Z_]+$/.test(option)) option = `--${option}`;
  if (dir === '') throw new UsageError(`${option} expects a folder, got ""`);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !mustExist) return;
    throw new UsageError(`${option} ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ELOOP' ? 'a symbolic link loop' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`${option} ${dir}: expected a folder, found a ${st.isFile() ? 'file' : 'non-folder'}`);
}
