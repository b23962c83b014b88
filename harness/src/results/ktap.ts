// KTAP v1 (Documentation/dev-tools/ktap.rst): one subtest per kernel and guest, one result
// line per cell that applies (NA cells are no test: SKIP means "could not run here", as in
// kselftest); SKIP and ERROR as directives, the reason as a diagnostic line before it.
import type { CellRecord } from '../core/record.js';
import { rollUp, type Outcome } from '../core/verdict.js';

const clean = (s: string): string => s.replace(/[#\n]/g, ' ').trim();

function resultLine(n: number, outcome: Outcome, name: string, reason: string): string {
  switch (outcome) {
    case 'PASS': return `ok ${n} ${name}`;
    case 'SKIP': return `ok ${n} ${name} # SKIP ${clean(reason)}`;
    case 'NA': return `ok ${n} ${name} # SKIP not sent: ${clean(reason)}`;
    case 'FAIL': return `not ok ${n} ${name}`;
    case 'ERROR': return `not ok ${n} ${name} # ERROR ${clean(reason)}`;
    case 'MISS': return `not ok ${n} ${name} # ERROR never ran: ${clean(reason)}`;
    case 'NA': throw new Error(`internal: ${name} does not apply and has no KTAP line`);
  }
}

/** The whole run as KTAP text. */
export function toKtap(records: ReadonlyArray<Pick<CellRecord, 'kernel' | 'guest' | 'id' | 'outcome' | 'reason'>>): string {
  const groups = new Map<string, Array<Pick<CellRecord, 'kernel' | 'guest' | 'id' | 'outcome' | 'reason'>>>();
  for (const r of records) {
    if (r.outcome === 'NA') continue;
    const k = `${r.kernel}.${r.guest}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const out = ['KTAP version 1', `1..${groups.size}`];
  let g = 0;
  for (const [name, recs] of groups) {
    g++;
    out.push('  KTAP version 1', `  # Subtest: ${name}`, `  1..${recs.length}`);
    recs.forEach((r, i) => {
      if (r.outcome !== 'PASS') out.push(`  # ${clean(r.reason)}`);
      out.push(`  ${resultLine(i + 1, r.outcome, r.id, r.reason)}`);
    });
    const rolled = rollUp(recs.map((r) => r.outcome));
    out.push(resultLine(g, rolled === 'SKIP' ? 'SKIP' : rolled, name, rolled === 'SKIP' ? 'no cell could run here' : `${recs.filter((r) => r.outcome === rolled).length} cells ${rolled}`));
  }
  return out.join('\n') + '\n';
}
