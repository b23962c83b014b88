// The oracle's verdict on each observation, computed as the guests' reports arrive (in slices,
// between the harness's other work), so assembling the records after the run phase finds them
// ready instead of replaying ~1,850 observations in one go while every core is free but one.
import type { OpResult } from '../core/cell.js';
import type { PlannedCell } from '../core/planned.js';
import type { CompareContext, Comparison } from '../core/verdict.js';
import { possibleComparer, type ProfileTable } from '../oracle/adapter.js';
import type { Comparer } from './assemble.js';
import type { Reporter } from './events.js';

/** Observations replayed between two yields to the event loop (keeps SSH responsive). */
const SLICE = 25;

export interface Comparisons {
  /** Consumes cell-observed events: queues each done report's comparison. */
  reporter: Reporter;
  /** Names the run's cells and each kernel's profile (the events carry ids and kernel names). */
  prepare(cells: readonly PlannedCell[], profileOf: ReadonlyMap<string, string>): void;
  /** What assemble() compares with: the result computed in the background, else computed now. */
  comparer: Comparer;
  /** Stops the background work (the run ended early). */
  stop(): void;
}

/**
 * The possible-outcome comparer (oracle/adapter.ts), memoized. Its verdict depends only on the
 * observation and the context (cell, profile, view): the replay decides, the predicted results
 * are not consulted; so a result computed in the background is the one assemble() would get.
 */
export function comparisons(table: ProfileTable, compare: Comparer = possibleComparer(table)): Comparisons {
  const cache = new Map<string, Comparison>();
  const key = (observed: OpResult[], ctx: CompareContext): string => `${ctx.profile}\n${ctx.view}\n${ctx.cell.id}\n${JSON.stringify(observed)}`;
  const comparer: Comparer = (observed, predicted, range, ctx) => {
    const k = key(observed, ctx);
    let c = cache.get(k);
    if (!c) { c = compare(observed, predicted, range, ctx); cache.set(k, c); }
    return c;
  };
  let cellById = new Map<string, PlannedCell>();
  let profileOf: ReadonlyMap<string, string> = new Map();
  const queue: Array<{ kernel: string; view: CompareContext['view']; id: string; results: OpResult[] }> = [];
  let draining = false;
  let stopped = false;
  const drain = (): void => {
    if (stopped) { queue.length = 0; draining = false; return; }
    for (const o of queue.splice(0, SLICE)) {
      const cell = cellById.get(o.id);
      const profile = profileOf.get(o.kernel);
      if (cell && profile) comparer(o.results, [], cell.portRange, { cell, profile, view: o.view });
    }
    if (queue.length) setImmediate(drain);
    else draining = false;
  };
  return {
    reporter: (e) => {
      if (e.type !== 'cell-observed' || e.report.status !== 'done' || stopped) return;
      queue.push({ kernel: e.kernel, view: e.guest === 'ts' ? 'application' : 'syscall', id: e.id, results: e.report.results });
      if (!draining) { draining = true; setImmediate(drain); }
    },
    prepare: (cells, profiles) => { cellById = new Map(cells.map((c) => [c.id, c])); profileOf = profiles; },
    comparer,
    stop: () => { stopped = true; },
  };
}
