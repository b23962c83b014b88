// Behaviour mode: the good commit's observations stand in for the oracle. A cell passes when
// the commit under test does what the good kernel did (ports compared up to renaming).
import type { GuestCellReport } from '../core/cell.js';
import { compareResults } from '../oracle/compare.js';
import type { GuestKind, PlannedCell } from '../core/planned.js';
import { classify, type OracleAnswer } from '../core/verdict.js';
import type { KernelJobResult } from '../run/kernel-job.js';
import type { CellOutcome } from './verdict.js';

/** What the good kernel did, per `guest/cell id`. */
export interface GoodObservations {
  commit: string;
  subject: string;
  release: string;
  recordedAt: string;
  cells: Record<string, GuestCellReport>;
}

const key = (guest: string, id: string): string => `${guest}/${id}`;

/** The good kernel's observations of a finished job; throws when the job did not observe every cell cleanly. */
export function observationsOf(job: KernelJobResult, cells: readonly PlannedCell[], meta: { commit: string; subject: string }): GoodObservations {
  const problem = job.bootCrash ? `it crashed while booting (${job.bootCrash.title})`
    : job.infraError ? `the lab failed (${job.infraError})`
    : job.cellCrashes.length ? `it crashed during the cells (${job.cellCrashes[0].crash.title})`
    : undefined;
  if (problem) throw new Error(`the good kernel ${meta.commit.slice(0, 12)} gave no usable reference: ${problem}`);
  const out: Record<string, GuestCellReport> = {};
  for (const cell of cells) {
    for (const guest of cell.guests) {
      const rep = job.reports[guest].get(cell.id);
      if (!rep || rep.status === 'error') throw new Error(`the good kernel ${meta.commit.slice(0, 12)} gave no usable reference: ${guest} ${cell.id} ${rep ? `error: ${rep.reason}` : 'unanswered'}`);
      out[key(guest, cell.id)] = rep;
    }
  }
  return { commit: meta.commit, subject: meta.subject, release: job.unameR ?? job.kernel.release, recordedAt: new Date().toISOString(), cells: out };
}

/** The good kernel's report as an expectation classify() understands. */
function expectation(ref: GuestCellReport | undefined, good: GoodObservations): OracleAnswer {
  const tag = `good ${good.commit.slice(0, 12)}`;
  if (!ref) return { kind: 'oracle-error', message: `no observation of this cell on ${tag}` };
  if (ref.status === 'done') return { kind: 'predicted', profile: tag, ops: ref.results.map((result) => ({ result, rule: `observed on ${tag}`, models: '' })), ...(ref.enoent ? { enoent: ref.enoent } : {}) };
  if (ref.status === 'unsupported') return { kind: 'not-applicable', reason: `unsupported on ${tag} too: ${ref.reason}` };
  return { kind: 'oracle-error', message: `the ${tag} observation is an error: ${ref.reason}` };
}

/** Words of the oracle comparison, said of the good kernel. */
const inGoodTerms = (reason: string): string => reason.replace(/the oracle/g, 'the good kernel').replace(/\bpredicted\b/g, 'good kernel had');

/** One outcome per guest × cell: PASS when the commit did what the good kernel did. */
export function compareWithGood(job: KernelJobResult, cells: readonly PlannedCell[], good: GoodObservations): CellOutcome[] {
  const out: CellOutcome[] = [];
  for (const guest of ['c', 'ts'] as GuestKind[]) {
    const crash = job.bootCrash ?? job.cellCrashes.find((c) => c.guest === guest)?.crash;
    for (const cell of cells.filter((c) => c.guests.includes(guest))) {
      const observed = job.reports[guest].get(cell.id);
      const answer = expectation(good.cells[key(guest, cell.id)], good);
      let { outcome, reason } = classify(answer, observed, crash, (o, p) => compareResults(o, p, cell.portRange));
      if (!observed && !crash && job.infraError) {
        outcome = job.unameR === undefined ? 'MISS' : 'ERROR';
        reason = job.infraError;
      }
      out.push({ guest, id: cell.id, outcome, reason: inGoodTerms(reason) });
    }
  }
  return out;
}
