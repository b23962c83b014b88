// Turns what each kernel did into one record per (kernel, guest, cell): oracle answer,
// observation and outcome. Pure: no I/O.
import type { GuestCellReport, OpResult } from '../model/cell.js';
import type { GuestKind, PlannedCell } from '../plan/default.js';
import { classify, type Comparison, type OracleAnswer, type Outcome } from '../results/outcome.js';
import type { CrashReport } from '../vm/console.js';
import type { KernelJobResult } from './kernel-job.js';

export interface CellRecord {
  kernel: string;
  release: string;
  profile: string;
  guest: GuestKind;
  id: string;
  case: string;
  title: string;
  cell: PlannedCell;
  outcome: Outcome;
  reason: string;
  expected: OracleAnswer;
  observed?: GuestCellReport;
  crash?: CrashReport;
}

export type Predictor = (cell: PlannedCell, profile: string) => OracleAnswer;
export type Comparer = (observed: OpResult[], predicted: OpResult[], range: readonly [number, number]) => Comparison;

/** One record per kernel × guest × planned cell. */
export function assemble(jobs: KernelJobResult[], cells: PlannedCell[], predict: Predictor, compare: Comparer): CellRecord[] {
  const records: CellRecord[] = [];
  for (const job of jobs) {
    for (const guest of ['c', 'ts'] as const) {
      const crash = job.bootCrash ?? job.cellCrashes.find((c) => c.guest === guest)?.crash;
      for (const cell of cells.filter((c) => c.guests.includes(guest))) {
        const expected = predict(cell, job.kernel.profile);
        const observed = job.reports[guest].get(cell.id);
        let { outcome, reason } = classify(expected, observed, crash, (o, p) => compare(o, p, cell.portRange));
        if (!observed && !crash && job.infraError) {
          // Never started (no boot) is MISS; started but the lab broke is ERROR.
          outcome = job.unameR === undefined ? 'MISS' : 'ERROR';
          reason = job.infraError;
        }
        records.push({ kernel: job.kernel.name, release: job.kernel.release, profile: job.kernel.profile, guest, id: cell.id, case: cell.case, title: cell.title, cell, outcome, reason, expected, observed, crash });
      }
    }
  }
  return records;
}
