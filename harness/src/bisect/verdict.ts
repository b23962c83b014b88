// From cell outcomes to git bisect's answer. Pure: one verdict per repeat (good / bad / skip),
// then the repeats combined into one verdict with a confidence figure.
import { isProblem, type Outcome } from '../core/verdict.js';
import type { BootAttempt, KernelJobResult } from '../run/kernel-job.js';

export type Verdict = 'good' | 'bad' | 'skip';

/** Exit codes for `git bisect run` (formats.md): 125 skips, anything above 127 aborts. */
export const BISECT_EXIT = { good: 0, bad: 1, skip: 125, interrupted: 130, abort: 200 } as const;

/** The part of a cell record a verdict needs. */
export interface CellOutcome { guest: string; id: string; outcome: Outcome; reason: string }

export interface RepeatResult {
  repeat: number;
  verdict: Verdict;
  why: string;
  counts: Record<Outcome, number>;
  /** Cells that neither passed nor were skipped (at most MAX_LISTED). */
  notPassing: CellOutcome[];
  bootMs?: number;
  attempts: BootAttempt[];
}

export interface Combined {
  verdict: Verdict;
  /** Fraction of the repeats that gave the verdict (for a split skipped verdict: the larger side). */
  confidence: number;
  /** Decisive repeats disagreed (some good, some bad). */
  split: boolean;
  why: string;
}

const MAX_LISTED = 50;

/** Why the kernel counts as not booting (a crash while booting, or no SSH on any attempt), if it does. */
export function bootFailure(job: KernelJobResult): string | undefined {
  if (job.bootCrash) return `the kernel crashed while booting: ${job.bootCrash.title}`;
  const noBoot = job.unameR === undefined && job.attempts.length > 0 && job.attempts.every((a) => a.kind === 'no-ssh' || a.kind === 'qemu-died');
  return noBoot ? `the kernel did not boot: ${job.infraError ?? 'no SSH'}` : undefined;
}

/** The verdict of one run of the cells on the commit's kernel. */
export function repeatVerdict(repeat: number, job: KernelJobResult, records: readonly CellOutcome[], onBootFailure: 'bad' | 'skip'): RepeatResult {
  const counts: Record<Outcome, number> = { PASS: 0, FAIL: 0, ERROR: 0, MISS: 0, SKIP: 0, NA: 0 };
  for (const r of records) counts[r.outcome]++;
  const notPassing = records.filter((r) => isProblem(r.outcome)).slice(0, MAX_LISTED).map(({ guest, id, outcome, reason }) => ({ guest, id, outcome, reason }));
  const base = { repeat, counts, notPassing, bootMs: job.bootMs, attempts: job.attempts };
  const noBoot = bootFailure(job);
  if (noBoot) return { ...base, verdict: onBootFailure, why: `${noBoot} (--boot-failure ${onBootFailure})` };
  if (counts.FAIL > 0) {
    const crash = job.cellCrashes[0]?.crash;
    return { ...base, verdict: 'bad', why: crash ? `the kernel crashed during the cells: ${crash.title}` : `${counts.FAIL} of ${records.length} cells differ` };
  }
  if (counts.ERROR + counts.MISS > 0) return { ...base, verdict: 'skip', why: `the lab failed: ${job.infraError ?? `${counts.ERROR} ERROR, ${counts.MISS} MISS`}` };
  return { ...base, verdict: 'good', why: `all ${records.length} cells as expected (${counts.PASS} PASS, ${counts.SKIP} SKIP)` };
}

/** One verdict from the repeats: unanimous decisive repeats win; a split is skipped unless `majority`. */
export function combine(verdicts: readonly Verdict[], majority: boolean): Combined {
  const n = verdicts.length;
  const good = verdicts.filter((v) => v === 'good').length;
  const bad = verdicts.filter((v) => v === 'bad').length;
  const skipped = n - good - bad;
  if (good === 0 && bad === 0) return { verdict: 'skip', confidence: 1, split: false, why: n === 1 ? 'skipped' : `all ${n} repeats skipped` };
  if (good > 0 && bad > 0) {
    const tally = `${good} good, ${bad} bad${skipped ? `, ${skipped} skipped` : ''} of ${n} repeats`;
    const top: Verdict | undefined = good > bad ? 'good' : bad > good ? 'bad' : undefined;
    const confidence = Math.max(good, bad) / n;
    if (majority && top) return { verdict: top, confidence, split: true, why: `${tally}: the majority says ${top} (--majority)` };
    return { verdict: 'skip', confidence, split: true, why: `${tally}: the repeats disagree, so the commit is skipped${majority ? ' (a tie)' : ' (--majority would take the larger side)'}` };
  }
  const verdict: Verdict = good > 0 ? 'good' : 'bad';
  const agreeing = good + bad;
  return { verdict, confidence: agreeing / n, split: false, why: n === 1 ? verdict : `${agreeing} of ${n} repeats ${verdict}${skipped ? `, ${skipped} skipped` : ''}` };
}
