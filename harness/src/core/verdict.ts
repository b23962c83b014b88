// The verdict: the outcome taxonomy (reliability.md), what the oracle answers, the pure
// classification of one cell on one kernel in one guest (oracle answer + guest report + any
// kernel crash seen meanwhile → outcome), the roll-up, and the exit code of a finished run.
import type { Cell, GuestCellReport, OpResult } from '../core/cell.js';
import type { CrashReport } from './crash.js';

/**
 * SKIP = the cell applies but could not run here (kselftest's meaning); NA = the cell does not
 * apply to this kernel by design (never sent to a guest, shown as `n/a`, emitted as no test).
 */
export type Outcome = 'PASS' | 'FAIL' | 'ERROR' | 'MISS' | 'SKIP' | 'NA';

/** Roll-up priority, worst first (KCIDB's order); NA takes no part in a roll-up. */
export const OUTCOME_PRIORITY: readonly Outcome[] = ['FAIL', 'ERROR', 'MISS', 'PASS', 'SKIP'];

/** Every outcome, in the order counts are shown. */
export const OUTCOMES: readonly Outcome[] = ['PASS', 'FAIL', 'ERROR', 'MISS', 'SKIP', 'NA'];

/** How a human reads an outcome: NA is `n/a`, the others are their name. */
export const outcomeLabel = (o: Outcome): string => (o === 'NA' ? 'n/a' : o);

/** Counts per outcome (every outcome present, 0 when absent). */
export function countOutcomes(outcomes: Iterable<Outcome>): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { PASS: 0, FAIL: 0, ERROR: 0, MISS: 0, SKIP: 0, NA: 0 };
  for (const o of outcomes) counts[o]++;
  return counts;
}

/** One outcome an op's random port scan could end in, with its probability. */
export interface Alternative { outcome: string; probability: number }

/**
 * One op's prediction: what it returns, which oracle rule decided it, which kernel code that
 * models, and, when its random scan could end in more than one way, every outcome with its
 * probability.
 */
export interface PredictedOp { result: OpResult; rule: string; models: string; alternatives?: Alternative[] }

/** What the oracle said about a cell (or that it threw). */
export type OracleAnswer =
  | { kind: 'predicted'; profile: string; ops: PredictedOp[]; enoent?: string[] }
  | { kind: 'not-applicable'; reason: string }
  | { kind: 'oracle-error'; message: string };

/** An observation the oracle allows but gives less than 1 % (PASS, listed in summary.md). `op` is 1-based. */
export interface Unlikely { probability: number; op: number; detail: string }

/**
 * An observation compared with the oracle: whether it matches, else the first op that does not
 * (`rule`: the oracle rule of the mismatching op on the replayed path, else the prediction's
 * rule is shown), and a match the oracle gives less than 1 %.
 */
export interface Comparison { match: boolean; firstMismatch?: { index: number; reason: string; rule?: string }; unlikely?: Unlikely }

/** What a comparison may need beyond the results: the cell, the kernel's profile, the guest's view of the calls. */
export interface CompareContext { cell: Cell; profile: string; view: 'syscall' | 'application' }

export interface Classified { outcome: Outcome; reason: string; unlikely?: Unlikely }

/** Decides a cell's outcome; `compare` is the oracle's result comparison. */
export function classify(
  answer: OracleAnswer,
  report: GuestCellReport | undefined,
  crash: CrashReport | undefined,
  compare: (observed: OpResult[], predicted: OpResult[]) => Comparison,
): Classified {
  // Not applicable by design and never sent to a guest: no crash can be its doing.
  if (answer.kind === 'not-applicable' && !report) return { outcome: 'NA', reason: answer.reason };
  if (crash) return { outcome: 'FAIL', reason: `kernel ${crash.kind}: ${crash.title}` };
  if (answer.kind === 'oracle-error') return { outcome: 'ERROR', reason: `harness bug: the oracle threw: ${answer.message}` };
  // Sent anyway, and the guest agrees it does not apply.
  if (answer.kind === 'not-applicable' && report?.status === 'unsupported') return { outcome: 'NA', reason: answer.reason };
  if (!report) return { outcome: 'MISS', reason: 'the cell never ran' };
  switch (report.status) {
    case 'error':
      return { outcome: 'ERROR', reason: `guest error: ${report.reason}` };
    case 'unsupported':
      return { outcome: 'FAIL', reason: `the oracle expected this cell to run, but the guest says: ${report.reason}` };
    case 'done': {
      if (answer.kind === 'not-applicable') return { outcome: 'FAIL', reason: `the oracle says not applicable (${answer.reason}), but the cell ran` };
      // Write-if-exists sysctls (try-N): the guest's ENOENT list must be the one the profile implies.
      const want = [...(answer.enoent ?? [])].sort().join(', ');
      const got = [...(report.enoent ?? [])].sort().join(', ');
      if (want !== got) return { outcome: 'FAIL', reason: `sysctls missing (ENOENT): observed ${got || 'none'}, predicted ${want || 'none'}` };
      const cmp = compare(report.results, answer.ops.map((o) => o.result));
      if (cmp.match && cmp.unlikely) return { outcome: 'PASS', reason: `observed is possible under the oracle but unlikely: op ${cmp.unlikely.op} ${cmp.unlikely.detail}`, unlikely: cmp.unlikely };
      if (cmp.match) return { outcome: 'PASS', reason: 'observed matches the oracle' };
      const m = cmp.firstMismatch;
      const rule = m ? m.rule ?? answer.ops[m.index]?.rule : undefined;
      return { outcome: 'FAIL', reason: m ? `op ${m.index + 1}: ${m.reason}${rule ? ` (oracle rule ${rule})` : ''}` : 'observed differs from the oracle' };
    }
  }
}

/** Whether an outcome needs a reader's attention: not PASS, not SKIP (could not run here), not n/a. */
export const isProblem = (o: Outcome): boolean => o !== 'PASS' && o !== 'SKIP' && o !== 'NA';

/** The worst outcome of a list, NA ignored (PASS for a list without any other). */
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

/** Exit code for a finished run's outcomes: any FAIL → 1, else any ERROR/MISS → 3, else 0 (PASS, SKIP and NA are fine). */
export function exitCodeFor(outcomes: Iterable<Outcome>): number {
  const all = [...outcomes];
  if (all.includes('FAIL')) return EXIT.mismatch;
  if (all.includes('ERROR') || all.includes('MISS')) return EXIT.infrastructure;
  return EXIT.ok;
}
