// The cells a bisect step runs: the same --case/--filter/--cases/--no-ts selection as the main
// job; in oracle mode, checked answerable by the oracle before anything is built.
import path from 'node:path';
import { HarnessBug } from '../core/errors.js';
import { flippedProfiles, oracleAnswer } from '../oracle/adapter.js';
import { loadPlan } from '../plan/default.js';
import type { PlannedCell } from '../core/planned.js';
import { parseFilter, selectCells } from '../plan/filter.js';
import { BisectUsageError, type BisectOptions } from './options.js';

/** The cells to run, from the same --case/--filter/--cases/--no-ts options as the main job. */
export function chooseCells(opts: BisectOptions): PlannedCell[] {
  let cells = selectCells(loadPlan(opts.casesDir ? path.resolve(opts.casesDir) : undefined, { maxCells: opts.maxCells }), opts.cases, opts.filters.map(parseFilter));
  if (!opts.ts) cells = cells.map((c) => ({ ...c, guests: c.guests.filter((g) => g !== 'ts') })).filter((c) => c.guests.length);
  if (cells.length === 0) throw new BisectUsageError('the selection is empty: no cell matches --case/--filter');
  // Oracle mode: a cell the oracle cannot answer is a harness bug, the same on every commit.
  if (opts.mode === 'oracle' && opts.profile) {
    const profiles = flippedProfiles([]);
    for (const c of cells) {
      const a = oracleAnswer(c, opts.profile, profiles);
      if (a.kind === 'oracle-error') throw new HarnessBug(`the oracle threw on ${c.id}: ${a.message}`);
    }
  }
  return cells;
}
