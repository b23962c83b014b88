// The result of one cell on one kernel in one guest: what the oracle said, what the guest
// reported, the outcome and every try. Made by run/assemble.ts, rendered by results/.
import type { GuestCellReport } from './cell.js';
import type { CrashReport } from './crash.js';
import type { GuestKind, PlannedCell } from './planned.js';
import type { OracleAnswer, Outcome, Unlikely } from './verdict.js';

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
  /** The attempt (VM number of the kernel, as in console-<kernel>-<attempt>.log) whose result counts. */
  attempt?: number;
  /** The lab failed under this cell (ERROR) before it passed on a fresh VM. */
  flaky?: true;
  /** Every try, oldest first, when there was more than one. */
  attempts?: CellAttempt[];
  /** PASS, but the oracle gives the observed outcome less than 1 %. */
  unlikely?: Unlikely;
}

/** One try of a cell. */
export interface CellAttempt { attempt: number; outcome: Outcome; reason: string }
