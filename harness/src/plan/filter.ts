// Chooses cells: --case NAME and --filter KEY=V1,V2 on any dimension of a cell (case, reuse,
// range, fam, addr, the case's other matrix dimensions such as s0.reuseaddr) or on guest.
import { InputError } from '../core/errors.js';
import { dimensionList, type PlannedCell } from '../core/planned.js';

export interface CellFilter { key: string; values: string[] }

/** Parses "fam=inet6,v4mapped" into a filter; throws on a malformed one. */
export function parseFilter(text: string): CellFilter {
  const m = /^([A-Za-z0-9_.]+)=(.+)$/.exec(text);
  if (!m) throw new InputError(`--filter expects KEY=VALUE[,VALUE…], got ${JSON.stringify(text)}`);
  return { key: m[1], values: m[2].split(',') };
}

/** The dimensions of a cell as the case file writes them, plus `case`. */
export function cellDimensions(cell: PlannedCell): Map<string, string> {
  return new Map([['case', cell.case], ...dimensionList(cell.dims)]);
}

/** Applies case names and filters; a filter on a key no cell has is an error. */
export function selectCells(cells: PlannedCell[], caseNames: string[], filters: CellFilter[]): PlannedCell[] {
  const known = new Set(cells.map((c) => c.case));
  for (const n of caseNames) if (!known.has(n)) throw new InputError(`--case ${n}: no such case; known: ${[...known].join(', ')}`);
  const keys = new Set(['guest', ...cells.flatMap((c) => [...cellDimensions(c).keys()])]);
  for (const f of filters) if (!keys.has(f.key)) throw new InputError(`--filter ${f.key}=…: no cell has the dimension ${f.key}; known: ${[...keys].join(', ')}`);
  let out = caseNames.length ? cells.filter((c) => caseNames.includes(c.case)) : cells;
  for (const f of filters) {
    if (f.key === 'guest') {
      out = out.map((c) => ({ ...c, guests: c.guests.filter((g) => f.values.includes(g)) })).filter((c) => c.guests.length > 0);
    } else {
      out = out.filter((c) => f.values.includes(cellDimensions(c).get(f.key) ?? ''));
    }
  }
  return out;
}
