// A cell of the plan: a cell with the guests that run it, its case's title and the dimensions
// it was expanded from (cases/expand.ts). Its id is made from the case name and those
// dimensions here, by cellId(), and never read back: whoever needs a dimension reads `dims`.
import type { AutobindReuse, BindAddr, Cell, Family } from './cell.js';

/** Which guest runs a cell: the C interpreter or the TypeScript application guest. */
export type GuestKind = 'c' | 'ts';

/** A socket dimension of a case's matrix: one option or the euid of socket i (s<i>) or of every socket (all). */
export type SocketDimension = `${'all' | `s${number}`}.${string}`;

/** A matrix dimension beyond the four every cell has, by its name in the id: a socket dimension or a sysctl's short name. */
export type MatrixDimension = SocketDimension | (string & {});

/** The values a cell took from its case's matrix (or the defaults), as the case file writes them. */
export interface CellDims {
  reuse: AutobindReuse;
  /** The port range as written: 'one-port', 'roomy' or 'LO-HI'. */
  range: string;
  fam: Family;
  addr: BindAddr;
  /** The case's other matrix dimensions (s0.reuseaddr, all.euid…), in the order of its matrix. */
  extra: Array<[MatrixDimension, string | number | boolean]>;
}

export interface PlannedCell extends Cell {
  guests: GuestKind[];
  /** One sentence: what the cell reproduces. */
  title: string;
  /** What the cell was expanded from; `id` is cellId(case, dims). */
  dims: CellDims;
}

/** Every dimension as [name, value] in id order: reuse, range, fam, addr, then the others in matrix order. */
export function dimensionList(dims: CellDims): Array<[string, string]> {
  return [
    ['reuse', String(dims.reuse)],
    ['range', dims.range],
    ['fam', dims.fam],
    ['addr', dims.addr],
    ...dims.extra.map(([k, v]): [string, string] => [k, String(v)]),
  ];
}

/** The dimensions but reuse=, as [name, value]: what the cells of one group share. */
export function groupDimensions(dims: CellDims): Array<[string, string]> {
  return dimensionList(dims).filter(([k]) => k !== 'reuse');
}

const joined = (list: Array<[string, string]>): string => list.map(([k, v]) => `${k}=${v}`).join(',');

/** "reuse=absent,range=one-port,fam=inet,addr=loopback[,s0.reuseaddr=true…]". */
export function dimensionText(dims: CellDims): string {
  return joined(dimensionList(dims));
}

/** A cell's id, e.g. "commit-repro/reuse=absent,range=one-port,fam=inet,addr=loopback": the only place ids are made. */
export function cellId(caseName: string, dims: CellDims): string {
  return `${caseName}/${dimensionText(dims)}`;
}

/**
 * A cell's group: its id without reuse=, e.g. "commit-repro/range=one-port,fam=inet,addr=loopback"
 * (the cells a behaviour change compares across kernels and sysctl values).
 */
export function cellGroup(caseName: string, dims: CellDims): string {
  return `${caseName}/${joined(groupDimensions(dims))}`;
}
