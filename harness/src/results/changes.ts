// The behaviour change between kernels: for each cell group (a cell's dimensions but reuse=,
// per guest; cellGroup() in core/planned.ts), every kernel × ip_autobind_reuse value that ran
// is compared with a baseline, on observed results and on the oracle's predictions. Pure: no I/O.
import type { AutobindReuse } from '../core/cell.js';
import { cellGroup, type GuestKind } from '../core/planned.js';
import type { CellRecord } from '../core/record.js';
import { expectedText, observedText } from '../core/format.js';
import type { Outcome } from '../core/verdict.js';

/** One side of a comparison: a kernel at one sysctl value. */
export interface ChangeSide {
  kernel: string;
  reuse: AutobindReuse;
  outcome: Outcome;
  /** Compact observed results ("bind(s0)=p1 bind(s1)=EADDRINUSE"), or "[MISS] reason" when the guest reported none. */
  observed: string;
  /** Compact predicted results, when the oracle predicted some. */
  expected?: string;
}

export interface BehaviourChange {
  /** The cell id without its reuse= parameter, e.g. "commit-repro/range=one-port,fam=inet,addr=loopback". */
  group: string;
  guest: GuestKind;
  case: string;
  /** The baseline. */
  from: ChangeSide;
  to: ChangeSide;
  /** Both sides have observed results (false when one is ERROR/MISS/unsupported: nothing to compare). */
  comparable: boolean;
  /** Observed results differ. */
  changed: boolean;
  /** Predicted results differ; undefined when the oracle predicted no results for one side. */
  predictedChange: boolean | undefined;
  /** changed === predictedChange, and when both changed, the same operations changed. */
  explained: boolean;
  /** Indexes of the operations whose observed result changed. */
  changedOps: number[];
  /** The oracle rules of the 'to' prediction for the operations whose result changed (unique, in op order). */
  rules: string[];
}

export interface ChangeSummary {
  changed: number;
  unchanged: number;
  changedPredicted: number;
  changedUnpredicted: number;
  predictedButUnchanged: number;
  /** Pairs where one side has no observation (ERROR/MISS): not counted above. */
  incomparable: number;
}

const groups = new WeakMap<object, string>();
/** cellGroup() of a record's cell, computed once per record (the matrix, the changes and the report ask). */
export function groupOf(r: Pick<CellRecord, 'case' | 'cell'>): string {
  let g = groups.get(r);
  if (g === undefined) groups.set(r, g = cellGroup(r.case, r.cell.dims));
  return g;
}

/** The kernel that ran cells with the sysctl absent (the kernel without the commit), first in record order. */
export function kernelWithoutSysctl(records: readonly CellRecord[]): string | undefined {
  return records.find((r) => r.outcome !== 'NA' && r.outcome !== 'SKIP' && r.cell.autobindReuse === 'absent')?.kernel;
}

/** Per-op compact tokens: compactResults split at its separators (op names and results hold no spaces). */
function tokens(text: string): string[] {
  return text === '' ? [] : text.split(' ');
}


function side(r: CellRecord): ChangeSide {
  const expected = expectedText(r);
  return { kernel: r.kernel, reuse: r.cell.autobindReuse, outcome: r.outcome, observed: observedText(r) ?? `[${r.outcome}] ${r.reason}`, ...(expected !== undefined ? { expected } : {}) };
}

function differingOps(a: string[], b: string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

function compare(group: string, base: CellRecord, r: CellRecord): BehaviourChange {
  const obsFrom = observedText(base);
  const obsTo = observedText(r);
  const comparable = obsFrom !== undefined && obsTo !== undefined;
  const changedOps = comparable ? differingOps(tokens(obsFrom), tokens(obsTo)) : [];
  const changed = changedOps.length > 0;
  const expFrom = expectedText(base);
  const expTo = expectedText(r);
  const predictedOps = expFrom !== undefined && expTo !== undefined ? differingOps(tokens(expFrom), tokens(expTo)) : undefined;
  const predictedChange = predictedOps === undefined ? undefined : predictedOps.length > 0;
  const explained = comparable
    ? changed === predictedChange && (!changed || predictedOps!.join(',') === changedOps.join(','))
    : true;
  const rules: string[] = [];
  if (r.expected.kind === 'predicted') {
    for (const i of changedOps) {
      const rule = r.expected.ops[i]?.rule;
      if (rule !== undefined && !rules.includes(rule)) rules.push(rule);
    }
  }
  return { group, guest: r.guest, case: r.case, from: side(base), to: side(r), comparable, changed, predictedChange, explained, changedOps, rules };
}

/**
 * One entry per (kernel, reuse) that ran a cell group, compared with the group's baseline:
 * the first record of `baselineKernel` when it ran the group, else of the first kernel in record
 * order that ran it. NA and SKIP records (nothing observed) take no part.
 */
export function behaviourChanges(records: readonly CellRecord[], baselineKernel?: string): BehaviourChange[] {
  const groups = new Map<string, { group: string; ran: CellRecord[] }>();
  for (const r of records) {
    if (r.outcome === 'NA' || r.outcome === 'SKIP') continue;
    const group = groupOf(r);
    const key = `${r.guest}\u0000${group}`;
    if (!groups.has(key)) groups.set(key, { group, ran: [] });
    groups.get(key)!.ran.push(r);
  }
  const out: BehaviourChange[] = [];
  for (const { group, ran } of groups.values()) {
    const base = (baselineKernel !== undefined ? ran.find((r) => r.kernel === baselineKernel) : undefined) ?? ran[0];
    for (const r of ran) if (r !== base) out.push(compare(group, base, r));
  }
  return out;
}

/** Counts of a change list. */
export function changeSummary(changes: BehaviourChange[]): ChangeSummary {
  const s: ChangeSummary = { changed: 0, unchanged: 0, changedPredicted: 0, changedUnpredicted: 0, predictedButUnchanged: 0, incomparable: 0 };
  for (const c of changes) {
    if (!c.comparable) { s.incomparable++; continue; }
    if (c.changed) {
      s.changed++;
      if (c.explained) s.changedPredicted++;
      else s.changedUnpredicted++;
    } else {
      s.unchanged++;
      if (c.predictedChange === true) s.predictedButUnchanged++;
    }
  }
  return s;
}
