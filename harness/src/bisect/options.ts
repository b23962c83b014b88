// Command-line options of harness/bisect.mjs: parsed and validated here, nothing else.
import { parseArgs } from 'node:util';
import type { Verbosity } from '../cli.js';
import { InputError } from '../core/errors.js';
import { PROFILES } from '../oracle/index.js';
import type { Accel } from '../vm/accel.js';
import { DEFAULT_MAX_CELLS, decimalOption, intOption, RANGES } from '../util/args.js';

export type BisectMode = 'oracle' | 'behaviour';

export interface BisectOptions {
  mode: BisectMode;
  /** Oracle mode: the behaviour profile every cell must match. */
  profile?: string;
  /** Behaviour mode: the commit whose observations are the reference. */
  goodRef?: string;
  casesDir?: string;
  cases: string[];
  filters: string[];
  ts: boolean;
  repeat: number;
  majority: boolean;
  bootFailure: 'bad' | 'skip';
  bootAttempts: number;
  accel: Accel | 'auto';
  timeoutScale?: number;
  append: string[];
  /** Parent folder of bisect run directories. */
  resultsDir?: string;
  /** The bisect run directory itself (default: <results>/bisect-<id of the bisect in progress>). */
  bisectDir?: string;
  /** Persistent make O= directory (default: in the cache, keyed by the repository's path). */
  buildDir?: string;
  /** The plan refuses more cells than this. */
  maxCells: number;
  verbosity: Verbosity;
  help: boolean;
  version: boolean;
}

export const HELP = `Usage: git bisect run node harness/bisect.mjs [options]

Run inside a kernel git tree: builds HEAD out of tree (make O=, tinyconfig + the harness's
fragment, incremental in a persistent build directory), boots it in QEMU, runs the chosen
cells and answers git bisect: 0 good, 1 bad, 125 skip, 200 abort.

Options:
  --mode oracle|behaviour  oracle: good = every cell matches --profile (default oracle);
                           behaviour: good = every cell does what it did on --good-ref
  --profile P              oracle profile: ${Object.keys(PROFILES).join(', ')}
  --good-ref REF           behaviour mode: the known-good commit (built and observed once)
  --case NAME              only this case (repeatable); default: the whole plan
  --filter KEY=V[,V…]      only cells whose dimension KEY has one of the values (repeatable)
  --cases DIR              case files of DIR instead of the checkout's cases/
  --no-ts                  skip the TypeScript (Node.js) guest
  --repeat N               run the cells N times per commit, a fresh VM each (default 1)
  --majority               on repeats that disagree, take the majority (default: skip, 125)
  --boot-failure bad|skip  a kernel that does not boot is bad or skipped (default skip)
  --boot-attempts N        boots tried per run when the lab fails (default 2)
  --accel auto|kvm|tcg     accelerator (default auto)
  --timeout-scale X        multiply the boot, inactivity and command timeouts by X
                           (default 1 with KVM, 3 with TCG)
  --append WORDS           extra kernel command-line words (repeatable)
  --results DIR            parent of the bisect run directory (default ./results)
  --bisect-dir DIR         the bisect run directory (default <results>/bisect-<id>, one per
                           git bisect session)
  --build-dir DIR          persistent make O= directory (default: in the cache, per repository)
  --max-cells N            refuse a plan of more than N cells (default 100,000)
  -q, --quiet              print only errors and the verdict
  -v, --verbose            print every progress line, and the stack of an internal error
  -h, --help               this text
  --version                the harness's version

Exit codes (git bisect run): 0 good; 1 bad (a cell differs, or the kernel crashed); 125 skip
(the commit does not build, the lab failed after retries, repeats disagree); 130 interrupted;
200 bad configuration or harness error (aborts the bisect).`;

/** A bisect option is wrong: exit 200 (a bad configuration aborts the bisect). */
export class BisectUsageError extends InputError {
  override name = 'BisectUsageError';
  constructor(message: string) { super(message); }
}

/** Parses argv (without node and script); throws BisectUsageError naming the option. */
export function parseBisectOptions(argv: string[]): BisectOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        mode: { type: 'string' },
        profile: { type: 'string' },
        'good-ref': { type: 'string' },
        case: { type: 'string', multiple: true },
        filter: { type: 'string', multiple: true },
        cases: { type: 'string' },
        'no-ts': { type: 'boolean' },
        repeat: { type: 'string' },
        majority: { type: 'boolean' },
        'boot-failure': { type: 'string' },
        'boot-attempts': { type: 'string' },
        accel: { type: 'string' },
        'timeout-scale': { type: 'string' },
        append: { type: 'string', multiple: true },
        results: { type: 'string' },
        'bisect-dir': { type: 'string' },
        'build-dir': { type: 'string' },
        'max-cells': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new BisectUsageError(`${(e as Error).message}\nRun with --help for the options.`);
  }
  const v = parsed.values;
  const help = (v.help ?? false) || (v.version ?? false);
  const mode = v.mode ?? 'oracle';
  if (mode !== 'oracle' && mode !== 'behaviour') throw new BisectUsageError(`--mode expects oracle or behaviour, got ${JSON.stringify(mode)}`);
  if (!help && mode === 'oracle') {
    if (v.profile === undefined) throw new BisectUsageError(`--mode oracle needs --profile (one of ${Object.keys(PROFILES).join(', ')})`);
    if (!(v.profile in PROFILES)) throw new BisectUsageError(`--profile ${v.profile}: no such oracle profile; known: ${Object.keys(PROFILES).join(', ')}`);
    if (v['good-ref'] !== undefined) throw new BisectUsageError('--good-ref belongs to --mode behaviour');
  }
  if (!help && mode === 'behaviour') {
    if (v['good-ref'] === undefined) throw new BisectUsageError('--mode behaviour needs --good-ref REF (the known-good commit)');
    if (v.profile !== undefined) throw new BisectUsageError('--profile belongs to --mode oracle');
  }
  const bootFailure = v['boot-failure'] ?? 'skip';
  if (bootFailure !== 'bad' && bootFailure !== 'skip') throw new BisectUsageError(`--boot-failure expects bad or skip, got ${JSON.stringify(bootFailure)}`);
  const accel = v.accel ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new BisectUsageError(`--accel expects auto, kvm or tcg, got ${JSON.stringify(accel)}`);
  if (v.quiet && v.verbose) throw new BisectUsageError('-q/--quiet and -v/--verbose contradict each other: give one');
  return {
    mode,
    profile: v.profile,
    goodRef: v['good-ref'],
    casesDir: v.cases,
    cases: v.case ?? [],
    filters: v.filter ?? [],
    ts: !v['no-ts'],
    repeat: intOption(BisectUsageError, 'repeat', v.repeat, RANGES.repeat, 1),
    majority: v.majority ?? false,
    bootFailure,
    bootAttempts: intOption(BisectUsageError, 'boot-attempts', v['boot-attempts'], RANGES.bootAttempts, 2),
    accel,
    timeoutScale: decimalOption(BisectUsageError, 'timeout-scale', v['timeout-scale'], RANGES.timeoutScale),
    append: (v.append ?? []).flatMap((w) => w.split(/\s+/)).filter(Boolean),
    resultsDir: v.results,
    bisectDir: v['bisect-dir'],
    buildDir: v['build-dir'],
    maxCells: intOption(BisectUsageError, 'max-cells', v['max-cells'], RANGES.maxCells, DEFAULT_MAX_CELLS),
    verbosity: v.quiet ? 'quiet' : v.verbose ? 'verbose' : 'normal',
    help: v.help ?? false,
    version: v.version ?? false,
  };
}
