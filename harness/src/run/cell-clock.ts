// Per-cell durations, measured on the host while the run happens: a reporter on the run's
// event stream notes when each guest answer arrives. The guests stream one cell after another
// on a VM, so a cell lasts from the previous event of its kernel's VM (the VM ready, or the
// previous answer) to its own answer. As a test runner charges a shared fixture's set-up to
// the first test that uses it, the first cell of a guest on a VM includes that guest's start
// (the C guest's push, Node's start for the TypeScript guest). A guest that times its cells
// itself (the C guest's "us": it sends its answers in bursts, and several VMs of one kernel
// run at once) is taken at its word: the cell ended when its answer arrived, and lasted `us`.
import type { Reporter } from './events.js';

/** When a cell started (Unix time, ms) and how long it took (ms). */
export interface CellTime { at: number; ms: number }

export interface CellClock {
  reporter: Reporter;
  /** Times per `kernel/guest/cell id`. */
  times: Map<string, CellTime>;
}

/** A clock for the cells of a run (or of a resumed run's remaining cells). */
export function cellClock(now: () => number = Date.now): CellClock {
  const times = new Map<string, CellTime>();
  const mark = new Map<string, number>();
  const reporter: Reporter = (e) => {
    if (e.type === 'vm-boot' && e.kind === 'ready') mark.set(e.kernel, now());
    if (e.type !== 'cell-observed') return;
    const t = now();
    const from = e.us !== undefined ? t - e.us / 1000 : mark.get(e.kernel) ?? t;
    times.set(`${e.kernel}/${e.guest}/${e.id}`, { at: Math.round(from), ms: t - from });
    mark.set(e.kernel, t);
  };
  return { reporter, times };
}
