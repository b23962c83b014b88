// What a finished run prints on stdout: the matrix (fits 160 columns), each cell that did not
// pass, and where the run directory is.
import type { CellRecord } from '../core/record.js';
import { isProblem } from '../core/verdict.js';
import type { OutputRecord } from './results-doc.js';
import { matrixText } from './summary.js';

/** Prints the terminal summary of a run on stdout. */
export function printRun(runDir: string, records: readonly OutputRecord[]): void {
  process.stdout.write(`\n${matrixText(records as CellRecord[])}\n\n`);
  for (const r of records) if (isProblem(r.outcome)) process.stdout.write(`${r.outcome} ${r.kernel} ${r.guest} ${r.id}: ${r.reason}\n`);
  process.stdout.write(`results: ${runDir}\n`);
}
