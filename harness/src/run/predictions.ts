// The oracle's answers for every (cell, kernel profile) of a run, computed in slices while the
// VMs boot and run (the harness mostly waits on guests then), so the comparison after the run
// phase finds them ready instead of simulating 3,480 cells in one go.
import { oracleAnswer, type ProfileTable } from '../oracle/adapter.js';
import type { PlannedCell } from '../core/planned.js';
import type { OracleAnswer } from '../core/verdict.js';
import type { Predictor } from './assemble.js';

/** Cells simulated between two yields to the event loop (keeps SSH and boot polling responsive). */
const SLICE = 25;

/** Answers, filled in the background; `predictor` computes any answer not there yet; `stop` ends the background work (the run ended early). */
export interface Predictions { done: Promise<void>; predictor: Predictor; stop: () => void }

/** Starts computing the answers of `cells` on each profile; stops early when `signal` aborts. */
export function precompute(cells: readonly PlannedCell[], profiles: readonly string[], table: ProfileTable, signal?: AbortSignal): Predictions {
  const cache = new Map<string, OracleAnswer>();
  const key = (cell: PlannedCell, profile: string): string => `${profile}\n${cell.id}`;
  const answer = (cell: PlannedCell, profile: string): OracleAnswer => {
    const k = key(cell, profile);
    let a = cache.get(k);
    if (!a) { a = oracleAnswer(cell, profile, table); cache.set(k, a); }
    return a;
  };
  let stopped = false;
  const done = (async () => {
    const todo = [...new Set(profiles)].flatMap((p) => cells.map((c) => [c, p] as const));
    for (let i = 0; i < todo.length; i += SLICE) {
      if (stopped || signal?.aborted) return;
      await new Promise<void>((r) => setImmediate(r));
      for (const [c, p] of todo.slice(i, i + SLICE)) answer(c, p);
    }
  })();
  return { done, predictor: answer, stop: () => { stopped = true; } };
}
