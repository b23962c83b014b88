// The main job's input, checked before anything is built: the options, the folders they name,
// the kernels, the selected cells (case files, --case, --filter, --no-ts, --shard) and the
// selftests the cases name. Everything wrong here is an InputError (exit 2).
import path from 'node:path';
import { checkFolderOption, HELP, parseOptions, UsageError, type Options } from './cli.js';
import { kernelSelection } from './kernel/select.js';
import { flippedProfiles, type ProfileTable } from './oracle/adapter.js';
import { checkSelftests, loadPlan, loadSelftests } from './plan/default.js';
import type { PlannedCell } from './core/planned.js';
import { parseFilter, selectCells } from './plan/filter.js';
import { planIdentity, type PlanIdentity } from './plan/identity.js';
import { EXIT } from './core/verdict.js';
import { knownSelftestsOf } from './selftests/per-kernel.js';
import { resultsRoot } from './util/paths.js';
import { versionLine } from './util/version.js';

export interface Prepared { opts: Options; cells: PlannedCell[]; profiles: ProfileTable; plan: PlanIdentity }

/** Everything that can be wrong with the user's input, checked before anything is built; throws InputError. */
export async function prepare(argv: string[]): Promise<Prepared | number> {
  const opts = parseOptions(argv);
  if (opts.help) { process.stdout.write(HELP + '\n'); return EXIT.ok; }
  if (opts.version) { process.stdout.write(versionLine() + '\n'); return EXIT.ok; }
  checkFolderOption('cases', opts.casesDir, true);
  checkFolderOption('results', opts.resultsDir, false);
  if (opts.resultsDir === undefined && process.env.KPH_RESULTS_DIR) checkFolderOption('KPH_RESULTS_DIR', resultsRoot(), false);
  const profiles = flippedProfiles(opts.oracleFlip);
  const selection = kernelSelection(opts.kernels); // checks kernels/*.yaml (and prebuilt bzImages) before anything is built
  const casesDir = opts.casesDir ? path.resolve(opts.casesDir) : undefined;
  let cells = selectCells(loadPlan(casesDir, { maxCells: opts.maxCells }), opts.cases, opts.filters.map(parseFilter));
  if (!opts.ts) cells = cells.map((c) => ({ ...c, guests: c.guests.filter((g) => g !== 'ts') })).filter((c) => c.guests.length);
  const plan = planIdentity(cells, opts.shard);
  if (opts.shard) {
    // Round robin over the plan's order: deterministic, balanced across cases.
    const { index, count } = opts.shard;
    cells = cells.filter((_, i) => i % count === index - 1);
  }
  if (cells.length === 0) throw new UsageError('the selection is empty: no cell matches --case/--filter');
  // Selftests the cases name must exist in each source they are built from (once provisioned).
  if (loadSelftests(casesDir, opts.cases).length) {
    for (const { known } of await knownSelftestsOf(selection.kernels.flatMap((k) => k.source.tree ?? []))) checkSelftests(known, casesDir, opts.cases);
  }
  return { opts, cells, profiles, plan };
}
