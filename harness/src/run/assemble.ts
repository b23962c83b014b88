// Turns what each kernel did into one record per (kernel, guest, cell): oracle answer,
// observation and outcome. Pure: no I/O.
import type { OpResult } from '../core/cell.js';
import type { PlannedCell } from '../core/planned.js';
import type { CellAttempt, CellRecord } from '../core/record.js';
import { classify, type CompareContext, type Comparison, type OracleAnswer, type Outcome } from '../core/verdict.js';
import type { CellTry, KernelJobResult } from './kernel-job.js';

export type Predictor = (cell: PlannedCell, profile: string) => OracleAnswer;
export type Comparer = (observed: OpResult[], predicted: OpResult[], range: readonly [number, number], ctx: CompareContext) => Comparison;

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

/** One record per kernel × guest × planned cell, with the attempt that decided it. */
export function assemble(jobs: KernelJobResult[], cells: PlannedCell[], predict: Predictor, compare: Comparer): CellRecord[] {
  const records: CellRecord[] = [];
  for (const job of jobs) {
    for (const guest of ['c', 'ts'] as const) {
      for (const cell of cells.filter((c) => c.guests.includes(guest))) {
        const expected = predict(cell, job.kernel.profile);
        const observed = job.reports[guest].get(cell.id);
        const errors = job.errors?.[guest].get(cell.id) ?? [];
        if (expected.kind === 'not-applicable' && !observed && !job.cellCrash?.[guest].has(cell.id) && !errors.length) {
          // Not applicable to this kernel's profile: never sent to its guests (NA), whatever happened to its VMs.
          records.push({ kernel: job.kernel.name, release: job.kernel.release, profile: job.kernel.profile, guest, id: cell.id, case: cell.case, title: cell.title, cell, outcome: 'NA', reason: expected.reason, expected });
          continue;
        }
        const crash = job.cellCrash?.[guest].get(cell.id)
          ?? job.cellCrashes.find((c) => c.guest === guest && (!c.cells || c.cells.includes(cell.id)))?.crash
          ?? (observed ? undefined : job.bootCrash);
        const ctx: CompareContext = { cell, profile: job.kernel.profile, view: guest === 'ts' ? 'application' : 'syscall' };
        const compareAs = guest === 'ts' ? (o: OpResult[], p: OpResult[]) => compare(o, applicationView(cell, p), cell.portRange, ctx) : (o: OpResult[], p: OpResult[]) => compare(o, p, cell.portRange, ctx);
        const { unlikely, ...classified } = classify(expected, observed, crash, compareAs);
        let { outcome, reason } = classified;
        if (!observed && !crash && errors.length) {
          // Started, but the lab broke under it on every try.
          outcome = 'ERROR';
          reason = `${errors[errors.length - 1].reason}${errors.length > 1 ? ` (${errors.length} tries)` : ''}`;
        } else if (!observed && !crash && job.infraError) {
          // Never started (no boot, or every VM spent before its turn) is MISS.
          outcome = 'MISS';
          reason = job.infraError;
        }
        const tries = attemptsOf(job, guest, cell.id, errors, outcome, reason);
        const last = tries[tries.length - 1];
        const flaky = errors.length > 0 && (outcome === 'PASS' || outcome === 'SKIP');
        records.push({
          kernel: job.kernel.name, release: job.kernel.release, profile: job.kernel.profile, guest, id: cell.id, case: cell.case, title: cell.title, cell,
          outcome, reason: flaky ? `${reason} (flaky: the lab failed under it on attempt ${errors.map((e) => e.attempt).join(', ')})` : reason,
          expected, observed, crash,
          ...(last ? { attempt: last.attempt } : {}),
          ...(flaky ? { flaky: true as const } : {}),
          ...(tries.length > 1 ? { attempts: tries } : {}),
          ...(unlikely && outcome === 'PASS' ? { unlikely } : {}),
        });
      }
    }
  }
  return records;
}

/** Every try of a cell: the lab failures, then the one that decided it (on the VM that answered it). */
function attemptsOf(job: KernelJobResult, guest: 'c' | 'ts', id: string, errors: CellTry[], outcome: Outcome, reason: string): CellAttempt[] {
  const tries: CellAttempt[] = errors.map((e) => ({ attempt: e.attempt, outcome: 'ERROR', reason: e.reason }));
  const answeredOn = job.answeredOn?.[guest].get(id);
  if (answeredOn !== undefined) tries.push({ attempt: answeredOn, outcome, reason });
  else if (outcome !== 'ERROR' && outcome !== 'MISS') {
    const lastVm = job.attempts[job.attempts.length - 1]?.attempt;
    if (lastVm !== undefined) tries.push({ attempt: lastVm, outcome, reason });
  }
  return tries;
}
