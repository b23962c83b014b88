// The behaviour matrix: one row per case and guest, one column per kernel × sysctl value,
// as plain text for the terminal and as Markdown for summary.md.
import { groupDimensions } from '../core/planned.js';
import type { CellRecord } from '../core/record.js';
import { observedText } from '../core/format.js';
import type { Outcome } from '../core/verdict.js';

export interface MatrixColumn { kernel: string; reuse: string }
/** `params`: the row's dimensions but reuse= ("range=one-port,fam=inet"); `pairs`: the same, one "key=value" each. */
export interface MatrixRow { case: string; guest: string; title: string; params: string; pairs: string[]; cells: Array<{ text: string; outcome: Outcome } | undefined> }

const MARK: Record<Outcome, string> = { PASS: 'ok', FAIL: 'FAIL', ERROR: 'ERROR', MISS: 'MISS', SKIP: 'skip', NA: 'n/a' };

type Matrix = { columns: MatrixColumn[]; rows: MatrixRow[] };
// The terminal and summary.md show the same matrix: built once per list of records.
const built = new WeakMap<readonly CellRecord[], Matrix>();

/** Rows and columns of the matrix; a kernel × reuse column exists when some cell of it applies (not NA). */
export function buildMatrix(records: readonly CellRecord[]): Matrix {
  const known = built.get(records);
  if (known) return known;
  const columns: MatrixColumn[] = [];
  const colKey = (r: CellRecord): string => `${r.kernel}|${r.cell.autobindReuse}`;
  const seen = new Set<string>();
  for (const r of records) {
    if (r.outcome === 'NA' || seen.has(colKey(r))) continue;
    seen.add(colKey(r));
    columns.push({ kernel: r.kernel, reuse: String(r.cell.autobindReuse) });
  }
  // The kernel without the sysctl (reuse=absent) is the baseline: its columns come first.
  const order = ['absent', '0', '1'];
  columns.sort((a, b) => order.indexOf(a.reuse) - order.indexOf(b.reuse));
  const colIndex = new Map(columns.map((c, i) => [`${c.kernel}|${c.reuse}`, i]));
  const rows = new Map<string, MatrixRow>();
  for (const r of records) {
    const pairs = groupDimensions(r.cell.dims).map(([k, v]) => `${k}=${v}`);
    const params = pairs.join(',');
    const key = `${r.guest}|${r.case}/${params}`;
    let row = rows.get(key);
    if (!row) rows.set(key, row = { case: r.case, guest: r.guest, title: r.title, params, pairs, cells: columns.map(() => undefined) });
    const i = colIndex.get(colKey(r));
    if (i === undefined) continue;
    row.cells[i] = { text: cellText(r), outcome: r.outcome };
  }
  const m = { columns, rows: [...rows.values()] };
  built.set(records, m);
  return m;
}

function cellText(r: CellRecord): string {
  if (r.outcome === 'NA') return '';
  return observedText(r) ?? r.reason;
}

/** A row worth showing when the matrix is too long: its results differ across columns, or one is not ok. */
function notable(r: MatrixRow): boolean {
  const present = r.cells.filter((c) => c !== undefined);
  return new Set(present.map((c) => c.text)).size > 1 || present.some((c) => c.outcome !== 'PASS' && c.outcome !== 'NA');
}

/** Widest line of the terminal matrix; summary.md and report.html keep every detail. */
export const MATRIX_WIDTH = 160;
const GAP = 2;

/** `s` cut to `w` characters, ending in "…" when cut. */
function clip(s: string, w: number): string {
  return s.length <= w ? s : w <= 1 ? s.slice(0, Math.max(0, w)) : `${s.slice(0, w - 1)}…`;
}

/** A column header cut to `w`, keeping its "reuse=…" end when it can. */
function clipHeader(h: string, w: number): string {
  const m = /^(.*) (reuse=\S+)$/.exec(h);
  if (h.length <= w || !m || w < m[2].length + 3) return clip(h, w);
  return `${clip(m[1], w - m[2].length - 1)} ${m[2]}`;
}

/** Width of a table whose columns have widths `w`. */
const lineWidth = (w: number[]): number => w.reduce((a, b) => a + b, 0) + GAP * Math.max(0, w.length - 1);

/**
 * Column widths that fit `total`: every column keeps its natural width up to a common cap
 * (the largest that fits), never below its minimum. Undefined when even the minimums do not fit.
 */
function fitWidths(natural: number[], min: number[], total: number): number[] | undefined {
  const at = (cap: number): number[] => natural.map((n, i) => Math.min(n, Math.max(cap, min[i])));
  if (lineWidth(natural) <= total) return natural;
  if (lineWidth(at(0)) > total) return undefined;
  let lo = 0;
  let hi = Math.max(...natural);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (lineWidth(at(mid)) <= total) lo = mid; else hi = mid - 1;
  }
  return at(lo);
}

/** The key=value pairs present, with the same value, in every row's parameters (none for a single row). */
function commonParams(params: string[][]): Set<string> {
  if (params.length < 2) return new Set();
  const [first, ...rest] = params.map((p) => new Set(p));
  return new Set([...first].filter((kv) => rest.every((r) => r.has(kv))));
}

/**
 * Text table for the terminal, at most `width` columns wide (cells cut with "…", and columns
 * beyond what fits left out, each with a note); beyond `maxRows` rows only the notable ones.
 */
export function matrixText(records: readonly CellRecord[], maxRows = 40, width = MATRIX_WIDTH): string {
  const { columns, rows: all } = buildMatrix(records);
  const rows = all.length > maxRows ? all.filter(notable) : all;
  const notes: string[] = [];
  if (rows.length < all.length) notes.push(`(${all.length - rows.length} of ${all.length} rows hidden: same result on every kernel and all ok; see summary.md or report.html)`);
  // Dimensions with one value on every row shown are said once, below, not on every row.
  const common = commonParams(rows.map((r) => r.pairs));
  if (common.size) notes.unshift(`(every row: ${[...common].join(',')})`);
  const own = (pairs: string[]): string => pairs.filter((kv) => !common.has(kv)).join(',') || '-';
  let header = ['case', 'cell', 'guest', ...columns.map((c) => `${c.kernel} reuse=${c.reuse}`)];
  let body = rows.map((r) => [r.case, own(r.pairs), r.guest, ...r.cells.map((c) => (c ? `${MARK[c.outcome]}  ${c.text}`.trimEnd() : '-'))]);
  // Kernel columns are cut first (to 12 characters: the mark and the start of the results),
  // then case, cell and guest too (to 12, 16 and 5), and kernel columns to their mark.
  const natural = (): number[] => header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const minimum = (n: number[]): number[] => n.map((x, i) => Math.min(x, [12, 16, 5][i] ?? 5));
  const fit = (n: number[]): number[] | undefined => fitWidths(n, n.map((x, i) => (i < 3 ? x : Math.min(x, 12))), width) ?? fitWidths(n, minimum(n), width);
  let widths = fit(natural());
  // Too many kernel columns for even their outcome marks: show the first ones that fit.
  let hidden = 0;
  while (!widths && header.length > 4) {
    header = header.slice(0, -1);
    body = body.map((b) => b.slice(0, -1));
    hidden++;
    widths = fit(natural());
  }
  const full = natural();
  const w = widths ?? minimum(full);
  if (hidden) notes.push(`(${hidden} of ${columns.length} kernel columns left out to fit ${width} columns; see summary.md or report.html)`);
  if (w.some((x, i) => x < full[i])) notes.push(`(cells cut with … to fit ${width} columns; summary.md and report.html have them whole)`);
  const line = (cols: string[], head = false): string => cols.map((c, i) => (head ? clipHeader(c, w[i]) : clip(c, w[i])).padEnd(w[i])).join(' '.repeat(GAP)).trimEnd();
  return [line(header, true), line(w.map((x) => '-'.repeat(x))), ...body.map((b) => line(b))].join('\n') + notes.map((n) => `\n${clip(n, width)}`).join('');
}

/** Markdown table for summary.md. */
export function matrixMarkdown(records: readonly CellRecord[]): string {
  const { columns, rows } = buildMatrix(records);
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [
    `| case | cell | guest | ${columns.map((c) => `${c.kernel} reuse=${c.reuse}`).join(' | ')} |`,
    `|---|---|---|${columns.map(() => '---').join('|')}|`,
  ];
  for (const r of rows) out.push(`| ${r.case} | ${r.params} | ${r.guest} | ${r.cells.map((c) => (c ? (c.text ? `${MARK[c.outcome]} \`${esc(c.text)}\`` : MARK[c.outcome]) : '-')).join(' | ')} |`);
  return out.join('\n');
}

/** summary.md's "Unlikely but possible outcomes": PASS records whose observed path the oracle gives under 1 %. */
export function unlikelyMarkdown(records: CellRecord[]): string[] {
  const rows = records.filter((r) => r.unlikely).sort((a, b) => a.unlikely!.probability - b.unlikely!.probability);
  if (rows.length === 0) return [];
  const pct = (p: number): string => `${(p * 100).toPrecision(2)} %`;
  return [
    '## Unlikely but possible outcomes (PASS: the oracle allows them, with probability under 1 %)',
    '',
    ...rows.map((r) => `- ${pct(r.unlikely!.probability)} ${r.kernel} ${r.guest} \`${r.id}\`: op ${r.unlikely!.op} ${r.unlikely!.detail}`),
    '',
  ];
}

/** Ops whose ports were compared, and how many of them with an unknown port on either side. */
export interface PortCoverage { compared: number; unknown: number }

/**
 * Counts, over the cells that ran and were predicted, the ops with a port to compare (every op
 * but close(), whose result agrees on success or failure) and those of them compared with an
 * unknown port: the guest or the oracle gave none (null: an ambiguous scan, a guest that cannot
 * see it), so only the outcome was checked, not the number.
 */
export function portCoverage(records: readonly CellRecord[]): PortCoverage {
  let compared = 0;
  let unknown = 0;
  for (const r of records) {
    if (r.observed?.status !== 'done' || r.expected.kind !== 'predicted') continue;
    const predicted = r.expected.ops;
    r.observed.results.forEach((o, i) => {
      const p = predicted[i]?.result;
      if (!p || r.cell.ops[i]?.op === 'close' || o.ok !== p.ok) return;
      compared++;
      if (typeof o.port !== 'number' || typeof p.port !== 'number') unknown++;
    });
  }
  return { compared, unknown };
}

/** The summary.md line for portCoverage(). */
export function portCoverageLine(records: readonly CellRecord[]): string {
  const { compared, unknown } = portCoverage(records);
  const pct = compared ? ` (${((unknown / compared) * 100).toFixed(1)} %)` : '';
  return `Ports: ${compared} op results compared; ${unknown}${pct} of them with an unknown (null) port on the guest's or the oracle's side, so only their outcome was checked.`;
}
