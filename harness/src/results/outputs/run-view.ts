// What every output renderer is fed: the run document (results.json, format 2, with its
// tables) and its records whole, plus what several outputs derive from them, computed once.
import type { CellRecord } from '../../core/record.js';
import { behaviourChanges, kernelWithoutSysctl, type BehaviourChange } from '../changes.js';
import type { OutputRecord, ResultsDoc } from '../results-doc.js';

export interface RunView {
  /** The run document as results.json holds it. */
  readonly doc: ResultsDoc;
  /** Its records, each whole (with the measured time when there is one). */
  readonly records: readonly OutputRecord[];
  /** The behaviour changes of each kernel × reuse against the baseline (computed on first use). */
  readonly changes: BehaviourChange[];
}

/** A view of a run for the renderers. */
export function runView(doc: ResultsDoc, records: readonly OutputRecord[]): RunView {
  let changes: BehaviourChange[] | undefined;
  return {
    doc,
    records,
    get changes() {
      // Baseline: the kernel that ran cells without the sysctl (the one before the commit), if any.
      const list = records as CellRecord[];
      changes ??= behaviourChanges(list, kernelWithoutSysctl(list));
      return changes;
    },
  };
}

/** One file of the run directory: its name and its text, rendered from the run alone (pure). */
export interface Output {
  readonly file: string;
  render(run: RunView): string;
}
