// Compact text for observed and predicted operation results, with ephemeral ports renamed
// p1, p2… in order of appearance so that two runs (or kernel and oracle) read alike.
import { describeOp, type GuestCellReport, type Op, type OpResult } from '../core/cell.js';
import type { OracleAnswer } from './verdict.js';

/** "bind(s0)=p1 bind(s1)=EADDRINUSE" for one cell's results. */
export function compactResults(ops: Op[], results: OpResult[], range: readonly [number, number]): string {
  const names = new Map<number, string>();
  const portName = (p: number | null): string => {
    if (p === null) return 'p?';
    if (p < range[0] || p > range[1]) return String(p);
    if (!names.has(p)) names.set(p, `p${names.size + 1}`);
    return names.get(p)!;
  };
  return results
    .map((r, i) => `${ops[i] ? describeOp(ops[i]) : `op${i}`}=${r.ok ? portName(r.port) : r.errno}`)
    .join(' ');
}

/** What observedText() and expectedText() need of a record. */
interface WithCell { cell: { ops: Op[]; portRange: readonly [number, number] }; observed?: GuestCellReport; expected: OracleAnswer }

// Each record's texts are asked for by the matrix, the changes and the report: computed once.
const observedMemo = new WeakMap<object, string>();
const expectedMemo = new WeakMap<object, string>();

/** The compact observed results of a record, when its guest reported results. */
export function observedText(r: WithCell): string | undefined {
  if (r.observed?.status !== 'done') return undefined;
  let t = observedMemo.get(r.observed);
  if (t === undefined) observedMemo.set(r.observed, t = compactResults(r.cell.ops, r.observed.results, r.cell.portRange));
  return t;
}

/** The compact predicted results of a record, when the oracle predicted some. */
export function expectedText(r: WithCell): string | undefined {
  if (r.expected.kind !== 'predicted') return undefined;
  let t = expectedMemo.get(r.expected);
  if (t === undefined) expectedMemo.set(r.expected, t = compactResults(r.cell.ops, r.expected.ops.map((o) => o.result), r.cell.portRange));
  return t;
}
