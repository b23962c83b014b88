// Compact text for observed and predicted operation results, with ephemeral ports renamed
// p1, p2… in order of appearance so that two runs (or kernel and oracle) read alike.
import { describeOp, type Op, type OpResult } from '../model/cell.js';

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
