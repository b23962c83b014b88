// results.json, format 2: the run document, each fact once. A record names its kernel, guest
// and cell and holds what happened (outcome, reason, the oracle's answer, the guest's answer,
// measured time, tries); what records share sits once in tables: `cells` (parameters and the
// dimensions it was expanded from, per cell id), `cases` (titles), `rules` (each oracle rule with the kernel function it models, referred
// to by index). Format 1 (every record self-contained) is still read. Pure: no I/O.
import { EXHAUSTED_RANGE, ROOMY_RANGE, type OpResult } from '../core/cell.js';
import type { CellDims, GuestKind, PlannedCell } from '../core/planned.js';
import type { CellRecord } from '../core/record.js';
import type { SelftestResult } from '../selftests/run.js';
import type { RunFacts } from '../run/facts.js';
import type { OracleAnswer } from '../core/verdict.js';

/** A cell record as the outputs see it: with its measured time when there is one. */
export type OutputRecord = CellRecord & { ms?: number; at?: number };

/**
 * A cell's dimensions as results.json keeps them, each fact once: reuse, fam and addr are the
 * cell's autobindReuse, family and addr; `range` only when the case did not write the range the
 * way rangeName() names it; `extra` only when there are any.
 */
export interface StoredDims { range?: string; extra?: CellDims['extra'] }

/** A cell's parameters: the cell without what the record itself names, with its stored dimensions. */
export type CellParams = Omit<CellRecord['cell'], 'id' | 'case' | 'title' | 'guests' | 'dims'> & { dims: StoredDims };

/** How a case names a port range: one-port, roomy, or LO-HI. */
export function rangeName(range: readonly [number, number]): string {
  if (range[0] === EXHAUSTED_RANGE[0] && range[1] === EXHAUSTED_RANGE[1]) return 'one-port';
  if (range[0] === ROOMY_RANGE[0] && range[1] === ROOMY_RANGE[1]) return 'roomy';
  return `${range[0]}-${range[1]}`;
}

/** The parameters results.json keeps for a cell. */
export function cellParams(cell: PlannedCell): CellParams {
  const { id: _id, case: _case, title: _title, guests: _guests, dims, ...params } = cell;
  const stored: StoredDims = {
    ...(dims.range !== rangeName(cell.portRange) ? { range: dims.range } : {}),
    ...(dims.extra.length ? { extra: dims.extra } : {}),
  };
  return { ...params, dims: stored };
}

/** A cell's whole dimensions from its stored parameters. */
export function dimsOf(params: CellParams): CellDims {
  return { reuse: params.autobindReuse, range: params.dims.range ?? rangeName(params.portRange), fam: params.family, addr: params.addr, extra: params.dims.extra ?? [] };
}

/** The planned cell of a record, from its stored parameters. */
function cellOf(params: CellParams, r: { id: string; case: string; title: string; guest: GuestKind }): PlannedCell {
  const { dims: _dims, ...rest } = params;
  return { ...rest, id: r.id, case: r.case, title: r.title, guests: [r.guest], dims: dimsOf(params) };
}

/** An oracle answer as results.json stores it: each predicted op's rule is an index into `rules`. */
export type StoredAnswer =
  | { kind: 'predicted'; profile: string; ops: Array<{ result: OpResult; rule: number }>; enoent?: string[] }
  | { kind: 'not-applicable'; reason?: string }
  | { kind: 'oracle-error'; message: string };

/** One record of results.json (format 2). */
export interface StoredRecord extends Omit<CellRecord, 'cell' | 'release' | 'profile' | 'title' | 'expected' | 'observed'> {
  expected: StoredAnswer;
  /** The guest's answer, without its id (the record's). */
  observed?: { status: 'done'; results: OpResult[] } | { status: 'unsupported' | 'error'; reason: string };
  /** Set only when the cell's title is not its case's. */
  title?: string;
  /** Host-measured duration of the cell (ms) and its start (Unix time, ms). */
  ms?: number;
  at?: number;
}

/** The serialisable whole of a run: what results.json holds. */
export interface ResultsDoc {
  /** 2: records refer to the `cases`, `cells` and `rules` tables (1 = every record self-contained). */
  format?: 2;
  runId: string;
  complete: boolean;
  exitCode: number;
  accel: { requested: string; reason: string; timeScale: number; used: Array<{ kernel: string; kvm?: { enabled: boolean; present: boolean } }> };
  facts?: RunFacts;
  kernels: Array<{ name: string; release: string; profile: string; unameR?: string; bootMs?: number; kvm?: { enabled: boolean; present: boolean }; attempts: unknown[]; infraError?: string; bootCrash?: { kind: string; title: string; excerpt?: string }; timings: Record<string, number>; built?: { cached: boolean; seconds: number; bzImage?: string }; buildFailure?: { log: string; tail: string }; selftests?: Array<Omit<SelftestResult, 'output'> & { outputTail: string }> }>;
  image: unknown;
  timings: Record<string, number>;
  /** Case name → title. */
  cases?: Record<string, string>;
  /** Cell id → its parameters and dimensions (the same for every kernel and guest). */
  cells?: Record<string, CellParams>;
  /** The oracle's rules, each once: [rule, the kernel function it models]. */
  rules?: Array<[string, string]>;
  records: StoredRecord[];
  /** Set on a merged run: the run directories it was made from. */
  mergedFrom?: string[];
  /** Set on a merge with --allow-partial: the shards ("2/4") whose cells are not in it. */
  missingShards?: string[];
}

/** A record of a format-1 results.json (before the tables): everything inline. */
type InlineRecord = Omit<CellRecord, 'cell'> & { params: CellParams };

/** Records in results.json's form, with the tables they refer to. */
export function storedTables(records: readonly OutputRecord[]): Pick<ResultsDoc, 'format' | 'cases' | 'cells' | 'rules' | 'records'> {
  const cases: Record<string, string> = {};
  const cells: Record<string, CellParams> = {};
  const rules: Array<[string, string]> = [];
  const ruleIndex = new Map<string, number>();
  const ruleOf = (rule: string, models: string): number => {
    const k = `${rule}\u0000${models}`;
    let i = ruleIndex.get(k);
    if (i === undefined) { i = rules.length; rules.push([rule, models]); ruleIndex.set(k, i); }
    return i;
  };
  const stored = records.map((r): StoredRecord => {
    const { cell, release: _release, profile: _profile, title, expected, observed, ...rest } = r;
    if (!(r.case in cases)) cases[r.case] = title;
    if (!(r.id in cells)) cells[r.id] = cellParams(cell);
    const e: StoredAnswer = expected.kind === 'predicted'
      ? { kind: 'predicted', profile: expected.profile, ops: expected.ops.map((o) => ({ result: o.result, rule: ruleOf(o.rule, o.models) })), ...(expected.enoent ? { enoent: expected.enoent } : {}) }
      : expected.kind === 'not-applicable' && expected.reason === r.reason ? { kind: 'not-applicable' } : expected;
    const { id: _oid, ...obs } = observed ?? { id: '' };
    return {
      ...rest,
      ...(title !== cases[r.case] ? { title } : {}),
      expected: e,
      ...(observed ? { observed: obs as StoredRecord['observed'] } : {}),
    };
  });
  return { format: 2, cases, cells, rules, records: stored };
}

/** The cell records of a results.json (format 1 or 2), each whole again. */
export function recordsOf(doc: ResultsDoc): OutputRecord[] {
  const kernels = new Map(doc.kernels.map((k) => [k.name, k]));
  const where = (r: { kernel: string; guest: string; id: string }, what: string): string => `results.json of run ${doc.runId}: record ${r.kernel}/${r.guest}/${r.id}: ${what}`;
  const noDims = 'its cell has no "dims" (written by a harness before cells kept their dimensions; run it again)';
  if (doc.format !== 2) {
    return (doc.records as unknown as InlineRecord[]).map(({ params, ...r }) => {
      if (!params.dims) throw new Error(where(r, noDims));
      return { ...r, cell: cellOf(params, r) };
    });
  }
  return doc.records.map((r) => {
    const params = doc.cells?.[r.id];
    if (!params) throw new Error(where(r, 'no entry in "cells" (expected the cell\'s parameters)'));
    if (!params.dims) throw new Error(where(r, noDims));
    const k = kernels.get(r.kernel);
    const title = r.title ?? doc.cases?.[r.case] ?? '';
    let expected: OracleAnswer;
    if (r.expected.kind === 'predicted') {
      expected = {
        kind: 'predicted', profile: r.expected.profile, ops: r.expected.ops.map((o) => {
          const rule = doc.rules?.[o.rule];
          if (!rule) throw new Error(where(r, `rule ${o.rule} is not in "rules" (${doc.rules?.length ?? 0} entries)`));
          return { result: o.result, rule: rule[0], models: rule[1] };
        }),
        ...(r.expected.enoent ? { enoent: r.expected.enoent } : {}),
      };
    } else if (r.expected.kind === 'not-applicable') {
      expected = { kind: 'not-applicable', reason: r.expected.reason ?? r.reason };
    } else {
      expected = r.expected;
    }
    const { expected: _e, observed, title: _t, ...rest } = r;
    return {
      ...rest,
      release: k?.release ?? '', profile: k?.profile ?? '', title,
      expected,
      ...(observed ? { observed: { id: r.id, ...observed } } : {}),
      cell: cellOf(params, { ...r, title }),
    } as OutputRecord;
  });
}

/** A results.json made self-contained (format 1: every record inline), e.g. for a merge of shards. */
export function inlineResults(doc: ResultsDoc): ResultsDoc {
  if (doc.format !== 2) return doc;
  const records = recordsOf(doc).map(({ cell, ...r }) => {
    return { ...r, params: cellParams(cell) };
  });
  const { format: _f, cases: _c, cells: _cl, rules: _r, ...rest } = doc;
  return { ...rest, records: records as unknown as StoredRecord[] };
}

/**
 * JSON of an object with the items of its big arrays and the entries of its big tables
 * (`listed` keys) one per line, and everything else compact: small, and still greppable and
 * diffable record by record.
 */
export function documentJson(doc: object, listed: ReadonlySet<string>): string {
  const lines: string[] = ['{'];
  const entries = Object.entries(doc).filter(([, v]) => v !== undefined);
  entries.forEach(([k, v], i) => {
    const comma = i < entries.length - 1 ? ',' : '';
    if (listed.has(k) && Array.isArray(v)) {
      lines.push(`${JSON.stringify(k)}: [`);
      v.forEach((x, j) => lines.push(`${JSON.stringify(x)}${j < v.length - 1 ? ',' : ''}`));
      lines.push(`]${comma}`);
    } else if (listed.has(k) && v && typeof v === 'object') {
      const obj = Object.entries(v);
      lines.push(`${JSON.stringify(k)}: {`);
      obj.forEach(([id, x], j) => lines.push(`${JSON.stringify(id)}: ${JSON.stringify(x)}${j < obj.length - 1 ? ',' : ''}`));
      lines.push(`}${comma}`);
    } else {
      lines.push(`${JSON.stringify(k)}: ${JSON.stringify(v)}${comma}`);
    }
  });
  lines.push('}', '');
  return lines.join('\n');
}

/** The keys of results.json written one item per line. */
export const RESULTS_LISTED: ReadonlySet<string> = new Set(['kernels', 'records', 'rules', 'cells', 'cases']);
