// The outcome taxonomy (reliability.md) and the pure classification of one cell on one kernel
// in one guest: oracle verdict + guest report (+ any kernel crash seen meanwhile) → outcome.
import type { GuestCellReport, OpResult } from '../model/cell.js';
import type { CrashReport } from '../vm/console.js';

/** NA: the oracle says the cell does not apply to the kernel's profile, so it was never sent. */
export type Outcome = 'PASS' | 'FAIL' | 'ERROR' | 'MISS' | 'SKIP' | 'NA';

/** Roll-up priority, worst first (KCIDB's order); NA is left out of roll-ups. */
export const OUTCOME_PRIORITY: readonly Outcome[] = ['FAIL', 'ERROR', 'MISS', 'PASS', 'SKIP'];

export interface PredictedOp { result: OpResult; rule: string; models: string }

/** What the oracle said about a cell (or that it threw). */
export type OracleAnswer =
  | { kind: 'predicted'; profile: string; ops: PredictedOp[] }
  | { kind: 'not-applicable'; reason: string }
  | { kind: 'oracle-error'; message: string };

export interface Comparison { match: boolean; firstMismatch?: { index: number; reason: string } }

export interface Classified { outcome: Outcome; reason: string }

/** Decides a cell's outcome; `compare` is the oracle's result comparison. */
export function classify(
  answer: OracleAnswer,
  report: GuestCellReport | undefined,
  crash: CrashReport | undefined,
  compare: (observed: OpResult[], predicted: OpResult[]) => Comparison,
): Classified {
  if (crash) return { outcome: 'FAIL', reason: `kernel ${crash.kind}: ${crash.title}` };
  if (answer.kind === 'oracle-error') return { outcome: 'ERROR', reason: `harness bug: the oracle threw: ${answer.message}` };
  if (!report) return answer.kind === 'not-applicable' ? { outcome: 'NA', reason: answer.reason } : { outcome: 'MISS', reason: 'the cell never ran' };
  switch (report.status) {
    case 'error':
      return { outcome: 'ERROR', reason: `guest error: ${report.reason}` };
    case 'unsupported':
      return answer.kind === 'not-applicable'
        ? { outcome: 'SKIP', reason: answer.reason }
        : { outcome: 'FAIL', reason: `the oracle expected this cell to run, but the guest says: ${report.reason}` };
    case 'done': {
      if (answer.kind === 'not-applicable') return { outcome: 'FAIL', reason: `the oracle says not applicable (${answer.reason}), but the cell ran` };
      const cmp = compare(report.results, answer.ops.map((o) => o.result));
      if (cmp.match) return { outcome: 'PASS', reason: 'observed matches the oracle' };
      const m = cmp.firstMismatch;
      const rule = m ? answer.ops[m.index]?.rule : undefined;
      return { outcome: 'FAIL', reason: m ? `op ${m.index + 1}: ${m.reason}${rule ? ` (oracle rule ${rule})` : ''}` : 'observed differs from the oracle' };
    }
  }
}

/** The worst outcome of a list (PASS for an empty list). */
export function rollUp(outcomes: Iterable<Outcome>): Outcome {
  let worst = OUTCOME_PRIORITY.indexOf('SKIP');
  let any = false;
  for (const o of outcomes) {
    if (o === 'NA') continue;
    any = true;
    worst = Math.min(worst, OUTCOME_PRIORITY.indexOf(o));
  }
  return any ? OUTCOME_PRIORITY[worst] : 'PASS';
}

/** Process exit codes of `harness/run.mjs`. */
export const EXIT = {
  ok: 0,
  mismatch: 1,
  usage: 2,
  infrastructure: 3,
  internal: 4,
  interrupted: 130,
} as const;

/** Exit code for a finished run's outcomes: any FAIL → 1, else any ERROR/MISS → 3, else 0 (PASS, SKIP, NA). */
export function exitCodeFor(outcomes: Iterable<Outcome>): number {
  const all = [...outcomes];
  if (all.includes('FAIL')) return EXIT.mismatch;
  if (all.includes('ERROR') || all.includes('MISS')) return EXIT.infrastructure;
  return EXIT.ok;
}
