// --plan and --oracle-only: what would run, and what the oracle predicts, without booting.
import { describeOp } from '../core/cell.js';
import type { ProfileTable } from '../oracle/adapter.js';
import { oracleAnswer } from '../oracle/adapter.js';
import { compactResults } from '../core/format.js';
import type { PlannedCell } from '../core/planned.js';

/** One line per cell: id, guests, script. */
export function printPlan(cells: PlannedCell[], out: NodeJS.WritableStream = process.stdout): void {
  for (const c of cells) out.write(`${c.id}  [${c.guests.join(',')}]  ${c.ops.map(describeOp).join(' ')}\n`);
  out.write(`${cells.length} cells\n`);
}

/** One line per cell and profile: the predicted results and the rules that fired. */
export function printOraclePredictions(cells: PlannedCell[], profiles: ProfileTable, out: NodeJS.WritableStream = process.stdout): void {
  for (const c of cells) {
    for (const profile of Object.keys(profiles)) {
      const a = oracleAnswer(c, profile, profiles);
      const text = a.kind === 'predicted'
        ? `${compactResults(c.ops, a.ops.map((o) => o.result), c.portRange)}   rules: ${a.ops.map((o) => o.rule.split(':')[0]).join(', ')}`
        : a.kind === 'not-applicable' ? `n/a (${a.reason})` : `ORACLE ERROR ${a.message.split('\n')[0]}`;
      out.write(`${c.id}  ${profile}  ${text}\n`);
    }
  }
}
