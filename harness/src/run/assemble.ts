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

/**
 * What an application can observe of a prediction. Node's net.connect({localAddress}) and
 * server.listen() are one call for bind+connect / bind+listen: when the bind fails, the
 * second step never runs and the application sees the bind's error for the whole call.
 */
export function applicationView(cell: PlannedCell, predicted: OpResult[]): OpResult[] {
  return predicted.map((r, i) => {
    const prev = cell.ops[i - 1];
    const op = cell.ops[i];
    const pairedStep = (op.op === 'connect' || op.op === 'listen') && prev?.op === 'bind' && prev.sock === op.sock;
    const bindFailed = pairedStep ? predicted[i - 1] : undefined;
    return bindFailed && !bindFailed.ok ? bindFailed : r;
  });
}

/** One record per kernel × guest × planned cell. */
export function assemble(jobs: KernelJobResult[], cells: PlannedCell[], predict: Predictor, compare: Comparer): CellRecord[] {
  const records: CellRecord[] = [];
  for (const job of jobs) {
    for (const guest of ['c', 'ts'] as const) {
      const crash = job.bootCrash ?? job.cellCrashes.find((c) => c.guest === guest)?.crash;
      for (const cell of cells.filter((c) => c.guests.includes(guest))) {
        const expected = predict(cell, job.kernel.profile);
        const observed = job.reports[guest].get(cell.id);
        const compareAs = guest === 'ts' ? (o: OpResult[], p: OpResult[]) => compare(o, applicationView(cell, p), cell.portRange) : (o: OpResult[], p: OpResult[]) => compare(o, p, cell.portRange);
        let { outcome, reason } = classify(expected, observed, crash, compareAs);
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
