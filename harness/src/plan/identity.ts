// Which plan a run belongs to, recorded in its run.json so that `harness/merge.mjs` can check
// that shard runs are slices of one plan: a digest of the whole selection (before --shard), its
// size, and the slice the run took.
import type { PlannedCell } from '../core/planned.js';
import { contentKey } from '../util/cache.js';

/** run.json's `plan` key. */
export interface PlanIdentity {
  /** Digest of every selected cell id and its guests, in plan order, before --shard. */
  digest: string;
  /** Number of selected cells before --shard. */
  cells: number;
  /** The slice this run took, or undefined for a whole-plan run. */
  shard?: { index: number; count: number };
}

/** The identity of a selection of cells and the shard taken from it. */
export function planIdentity(cells: readonly PlannedCell[], shard: PlanIdentity['shard']): PlanIdentity {
  return { digest: contentKey(cells.map((c) => `${c.id} ${c.guests.join(',')}`)), cells: cells.length, ...(shard ? { shard } : {}) };
}
