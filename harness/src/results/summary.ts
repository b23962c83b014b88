// The behaviour matrix: one row per case and guest, one column per kernel × sysctl value,
// as plain text for the terminal and as Markdown for summary.md.
import type { CellRecord } from '../run/assemble.js';
import { compactResults } from './format.js';
import type { Outcome } from './outcome.js';

export interface MatrixColumn { kernel: string; reuse: string }
export interface MatrixRow { case: string; guest: string; title: string; params: string; cells: Array<{ text: string; outcome: Outcome } | undefined> }

const MARK: Record<Outcome, string> = { PASS: 'ok', FAIL: 'FAIL', ERROR: 'ERROR', MISS: 'MISS', SKIP: 'skip', NA: 'n/a' };

/** Rows and columns of the matrix; SKIP cells (not applicable) are left out of the columns. */
export function buildMatrix(records: CellRecord[]): { columns: MatrixColumn[]; rows: MatrixRow[] } {
  const columns: MatrixColumn[] = [];
  const colKey = (r: CellRecord): string => `${r.kernel}|${r.cell.autobindReuse}`;
  for (const r of records) {
    if (r.outcome === 'SKIP' || r.outcome === 'NA') continue;
    if (!columns.some((c) => `${c.kernel}|${c.reuse}` === colKey(r))) columns.push({ kernel: r.kernel, reuse: String(r.cell.autobindReuse) });
  }
  // The kernel without the sysctl (reuse=absent) is the baseline: its columns come first.
  const order = ['absent', '0', '1'];
  columns.sort((a, b) => order.indexOf(a.reuse) - order.indexOf(b.reuse));
  const rows = new Map<string, MatrixRow>();
  for (const r of records) {
    const key = `${r.guest}|${r.case}/${paramsWithoutReuse(r.id)}`;
    if (!rows.has(key)) rows.set(key, { case: r.case, guest: r.guest, title: r.title, params: paramsWithoutReuse(r.id), cells: columns.map(() => undefined) });
    const i = columns.findIndex((c) => `${c.kernel}|${c.reuse}` === colKey(r));
    if (i < 0) continue;
    rows.get(key)!.cells[i] = { text: cellText(r), outcome: r.outcome };
  }
  return { columns, rows: [...rows.values()] };
}

/** The cell's parameters from its id, without the case name and the reuse value. */
function paramsWithoutReuse(id: string): string {
  return (id.split('/')[1] ?? '').split(',').filter((kv) => !kv.startsWith('reuse=')).join(',');
}

function cellText(r: CellRecord): string {
  if (r.observed?.status === 'done') return compactResults(r.cell.ops, r.observed.results, r.cell.portRange);
  return r.reason;
}

/** A row worth showing when the matrix is too long: its results differ across columns, or one is not ok. */
function notable(r: MatrixRow): boolean {
  const present = r.cells.filter((c) => c !== undefined);
  return new Set(present.map((c) => c.text)).size > 1 || present.some((c) => c.outcome !== 'PASS' && c.outcome !== 'SKIP' && c.outcome !== 'NA');
}

/** Text table for the terminal; beyond `maxRows` rows only the notable ones are shown. */
export function matrixText(records: CellRecord[], maxRows = 40): string {
  const { columns, rows: all } = buildMatrix(records);
  const rows = all.length > maxRows ? all.filter(notable) : all;
  const note = rows.length < all.length ? `\n(${all.length - rows.length} of ${all.length} rows hidden: same result on every kernel and all ok; see summary.md or report.html)` : '';
  const header = ['case', 'cell', 'guest', ...columns.map((c) => `${c.kernel} reuse=${c.reuse}`)];
  const body = rows.map((r) => [r.case, r.params, r.guest, ...r.cells.map((c) => (c ? `${MARK[c.outcome]}  ${c.text}` : '-'))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cols: string[]): string => cols.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + note;
}

/** Markdown table for summary.md. */
export function matrixMarkdown(records: CellRecord[]): string {
  const { columns, rows } = buildMatrix(records);
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [
    `| case | cell | guest | ${columns.map((c) => `${c.kernel} reuse=${c.reuse}`).join(' | ')} |`,
    `|---|---|---|${columns.map(() => '---').join('|')}|`,
  ];
  for (const r of rows) out.push(`| ${r.case} | ${r.params} | ${r.guest} | ${r.cells.map((c) => (c ? `${MARK[c.outcome]} \`${esc(c.text)}\`` : '-')).join(' | ')} |`);
  return out.join('\n');
}
