// Expands validated case files into cells: the cartesian product of each matrix, minus its
// exclusions, each cell with its dimensions and the id core/planned.ts derives from them. The
// plan's size is counted (product of the dimension sizes) before anything is allocated, and
// refused beyond a limit (--max-cells).
import { destSpecs, DST_PORT_BASE, EXHAUSTED_RANGE, ROOMY_RANGE, socketFamily, type AutobindReuse, type BindAddr, type Cell, type DestSpec, type Family, type Op, type ReservedPorts, type SocketSpec, type TwReuse } from '../core/cell.js';
import { cellId, type CellDims, type GuestKind, type PlannedCell } from '../core/planned.js';
import { SourceError, SourceErrors } from '../core/source-error.js';
import type { CaseSocket, LoadedCase } from './load.js';
import { BASE_DIMENSIONS } from './schema.js';
import { DEFAULT_MAX_CELLS } from '../util/args.js';

type Value = string | number | boolean;

const DEFAULTS: Record<(typeof BASE_DIMENSIONS)[number], Value[]> = {
  autobind_reuse: ['absent', 0, 1],
  port_range: ['one-port'],
  family: ['inet'],
  addr: ['loopback'],
};
const SHORT: Record<string, string> = { autobind_reuse: 'reuse', port_range: 'range', family: 'fam', addr: 'addr', tcp_tw_reuse: 'tw', reserved_ports: 'resv' };
const SOCKET_KEY: Record<string, keyof SocketSpec> = {
  reuseaddr: 'reuseaddr', reuseport: 'reuseport', bind_address_no_port: 'bindAddressNoPort', euid: 'euid', family: 'family', addr: 'addr', v6only: 'v6only',
};

/** Parses "bind s0" / "bind s1 port 40000" / "bind s1 port s0" / "connect s1 d0" (already schema-checked). */
export function parseOp(text: string): Op {
  const [verb, s, d, p] = text.split(' ');
  const sock = Number(s.slice(1));
  if (verb === 'connect') return { op: 'connect', sock, dst: Number(d.slice(1)) };
  if (verb === 'bind' && d === 'port') return p.startsWith('s') ? { op: 'bind', sock, portOf: Number(p.slice(1)) } : { op: 'bind', sock, port: Number(p) };
  return { op: verb as 'bind' | 'listen' | 'close', sock };
}

/** reserved_ports as a cell value: keep, none, or [lo, hi]. */
function reservedPorts(v: Value): ReservedPorts {
  if (v === 'keep' || v === 'none') return v;
  const [lo, hi] = String(v).split('-').map(Number);
  return [lo, hi ?? lo];
}

/** The cell's destination listeners from the case's `destinations` (undefined: the defaults). */
function caseDests(c: LoadedCase, family: Family): DestSpec[] | undefined {
  const list = c.data.destinations;
  if (!list) return undefined;
  return list.map((d, j) => ({ family: d.family ?? (family === 'inet6' ? 'inet6' : 'inet'), reuseaddr: d.reuseaddr ?? false, port: d.port ?? DST_PORT_BASE + j }));
}

/** The keys of the wider case language a cell uses (only the C guest runs them). */
export function widerKeys(cell: Cell): string[] {
  const keys: string[] = [];
  for (const k of ['family', 'addr', 'v6only'] as const) if (cell.sockets.some((s) => s[k] !== undefined)) keys.push(`sockets[i].${k}`);
  if (cell.ops.some((o) => o.op === 'bind' && (o.port !== undefined || o.portOf !== undefined))) keys.push('bind sI port …');
  if (cell.dests) keys.push('destinations');
  if (cell.autobindReuse === 'keep' || cell.autobindReuse === 'try-0' || cell.autobindReuse === 'try-1') keys.push(`autobind_reuse ${cell.autobindReuse}`);
  if (cell.twReuse !== undefined) keys.push('tcp_tw_reuse');
  if (cell.reservedPorts !== undefined) keys.push('reserved_ports');
  return keys;
}

/** Checks one cell for what depends on its matrix values: IPV6_V6ONLY only on AF_INET6, connect families that can reach their destination. */
function checkCell(c: LoadedCase, cell: Cell, dests: DestSpec[]): SourceError[] {
  const errs: SourceError[] = [];
  const err = (p: Array<string | number>, key: string, problem: string): void => {
    const { line, col } = c.at(p);
    errs.push(new SourceError(c.file, line, col, key, `${problem} (in cell ${cell.id})`));
  };
  cell.sockets.forEach((s, i) => {
    if (s.v6only !== undefined && socketFamily(cell, i) === 'inet') {
      const where = c.data.sockets[i]?.v6only !== undefined ? ['sockets', i, 'v6only'] : ['matrix'];
      err(where, `sockets[${i}].v6only`, 'expected IPV6_V6ONLY only on an inet6 or v4mapped socket, found it on an inet socket');
    }
  });
  const wider = widerKeys(cell);
  if (wider.length && (c.data.guests ?? []).includes('ts')) {
    err(['guests'], 'guests', `expected guests [c] for a case using ${wider.join(', ')} (the TS guest's Node net API cannot express them), found ${JSON.stringify(c.data.guests)}`);
  }
  cell.ops.forEach((op, i) => {
    if (op.op !== 'connect') return;
    const fam = socketFamily(cell, op.sock);
    const want = fam === 'inet6' ? 'inet6' : 'inet';
    if (dests[op.dst] && dests[op.dst].family !== want) {
      err(['ops', i], `ops[${i}]`, `expected d${op.dst} of family ${want} for s${op.sock} (${fam}: ${fam === 'inet6' ? 'connects to ::1' : fam === 'v4mapped' ? 'connects to ::ffff:127.0.0.1' : 'connects to 127.0.0.1'}), found ${dests[op.dst].family}`);
    }
  });
  return errs;
}

function portRange(v: string): readonly [number, number] {
  if (v === 'one-port') return EXHAUSTED_RANGE;
  if (v === 'roomy') return ROOMY_RANGE;
  const [lo, hi] = v.split('-').map(Number);
  return [lo, hi];
}

function baseSocket(s: CaseSocket): SocketSpec {
  return {
    reuseaddr: s.reuseaddr ?? false, reuseport: s.reuseport ?? false, bindAddressNoPort: s.bind_address_no_port ?? false, euid: s.euid ?? 0,
    ...(s.family !== undefined ? { family: s.family } : {}), ...(s.addr !== undefined ? { addr: s.addr } : {}), ...(s.v6only !== undefined ? { v6only: s.v6only } : {}),
  };
}

/** Every assignment of one value per dimension, in dimension order (last dimension fastest). */
function* product(dims: Array<[string, Value[]]>, at = 0, prefix: Array<[string, Value]> = []): Generator<Map<string, Value>> {
  if (at === dims.length) { yield new Map(prefix); return; }
  const [name, values] = dims[at];
  for (const v of values) yield* product(dims, at + 1, [...prefix, [name, v]]);
}

/** How many assignments the matrix has before exclusions: the product of the dimension sizes. */
function productSize(dims: Array<[string, Value[]]>): number {
  return dims.reduce((n, [, values]) => n * values.length, 1);
}

/** Checks what the schema cannot: indices in range, ranges sane, exclusions naming real dimensions. */
function check(c: LoadedCase, dims: Array<[string, Value[]]>): SourceError[] {
  const errs: SourceError[] = [];
  const n = c.data.sockets.length;
  const err = (p: Array<string | number>, key: string, problem: string): void => {
    const { line, col } = c.at(p);
    errs.push(new SourceError(c.file, line, col, key, problem));
  };
  const nd = c.data.destinations?.length;
  c.data.ops.forEach((o, i) => {
    const op = parseOp(o);
    if (op.sock >= n) err(['ops', i], `ops[${i}]`, `expected a socket index below ${n} (the case has ${n} sockets), found s${op.sock}`);
    if (op.op === 'bind' && op.portOf !== undefined && op.portOf >= n) err(['ops', i], `ops[${i}]`, `expected a socket index below ${n} after "port", found s${op.portOf}`);
    if (op.op === 'bind' && op.port !== undefined && (op.port < 1 || op.port > 65535)) err(['ops', i], `ops[${i}]`, `expected a port 1-65535 after "port", found ${op.port}`);
    if (op.op === 'connect' && nd !== undefined && op.dst >= nd) err(['ops', i], `ops[${i}]`, `expected a destination index below ${nd} (the case lists ${nd} destinations), found d${op.dst}`);
  });
  const dstPorts = new Map<string, number>();
  (c.data.destinations ?? []).forEach((d, j) => {
    const key = `${d.family ?? 'default'}:${d.port ?? DST_PORT_BASE + j}`;
    if (dstPorts.has(key)) err(['destinations', j], `destinations[${j}]`, `expected each destination on its own port, found port ${d.port ?? DST_PORT_BASE + j} again (first at destinations[${dstPorts.get(key)}])`);
    else dstPorts.set(key, j);
  });
  for (const [name, values] of dims) {
    if (c.data.matrix?.[name]) {
      // A repeated value would make two cells with one id (and run the same cell twice).
      const first = new Map<Value, number>();
      values.forEach((v, i) => {
        if (first.has(v)) err(['matrix', name, i], `matrix.${name}[${i}]`, `expected each value once, found ${JSON.stringify(v)} again (first at matrix.${name}[${first.get(v)}])`);
        else first.set(v, i);
      });
    }
    const m = /^s(\d)\./.exec(name);
    if (m && Number(m[1]) >= n) err(['matrix', name], `matrix.${name}`, `expected a socket index below ${n}, found s${m[1]}`);
    if (name === 'reserved_ports') {
      values.forEach((v, i) => {
        const r = reservedPorts(v);
        if (typeof r !== 'string' && !(r[0] >= 1 && r[1] <= 65535 && r[0] <= r[1])) err(['matrix', name, i], `matrix.reserved_ports[${i}]`, `expected keep, none, PORT or LO-HI with 1 <= LO <= HI <= 65535, found ${JSON.stringify(v)}`);
      });
    }
    if (name === 'port_range') {
      values.forEach((v, i) => {
        const [lo, hi] = portRange(String(v));
        if (!(lo >= 1024 && hi <= 65535 && lo <= hi && lo > 10_007)) err(['matrix', name, i], `matrix.port_range[${i}]`, `expected LO-HI with 10008 <= LO <= HI <= 65535 (destinations use 10000-10007), found ${JSON.stringify(v)}`);
      });
    }
  }
  (c.data.exclude ?? []).forEach((ex, i) => {
    for (const k of Object.keys(ex)) {
      if (!dims.some(([d]) => d === k)) err(['exclude', i, k], `exclude[${i}].${k}`, `expected one of the matrix dimensions (${dims.map(([d]) => d).join(', ')}), found ${JSON.stringify(k)}`);
    }
  });
  return errs;
}

export interface ExpandOptions {
  /** Refuse a plan of more cells than this (default 100,000), before allocating them. */
  maxCells?: number;
}

/** Expands loaded cases into planned cells; throws SourceErrors for meaning errors. */
export function expandCases(cases: LoadedCase[], opts: ExpandOptions = {}): PlannedCell[] {
  const maxCells = opts.maxCells ?? DEFAULT_MAX_CELLS;
  const cells: PlannedCell[] = [];
  const errors: SourceError[] = [];
  const names = new Map<string, string>();
  /** Where each cell id was made: "file:line:col" of its case's name. */
  const idPlace = new Map<string, string>();
  let planned = 0;
  for (const c of cases) {
    const d = c.data;
    if (names.has(d.name)) {
      const { line, col } = c.at(['name']);
      errors.push(new SourceError(c.file, line, col, 'name', `expected a case name unique across files, found ${JSON.stringify(d.name)} (also in ${names.get(d.name)})`));
      continue; // its cells would repeat the other file's ids
    }
    names.set(d.name, c.file);
    const matrix = d.matrix ?? {};
    const dims: Array<[string, Value[]]> = [
      ...BASE_DIMENSIONS.map((k) => [k, matrix[k] ?? DEFAULTS[k]] as [string, Value[]]),
      ...Object.entries(matrix).filter(([k]) => !(BASE_DIMENSIONS as readonly string[]).includes(k)),
    ];
    const errs = check(c, dims);
    if (errs.length) { errors.push(...errs); continue; }
    // Counted before the product is made: a huge matrix is refused, never allocated.
    const size = productSize(dims);
    if (planned + size > maxCells) {
      const { line, col } = c.at(d.matrix ? ['matrix'] : ['name']);
      errors.push(new SourceError(c.file, line, col, 'matrix', `expected a plan of at most ${maxCells.toLocaleString('en-US')} cells (--max-cells), found ${size.toLocaleString('en-US')} in this case (${dims.map(([k, v]) => `${k} ${v.length}`).join(' × ')}, before exclusions)${planned ? ` after ${planned.toLocaleString('en-US')} in the files before it` : ''}`));
      throw new SourceErrors(errors);
    }
    planned += size;
    const ops = d.ops.map(parseOp);
    const destinations = d.destinations?.length ?? Math.max(0, ...ops.map((o) => (o.op === 'connect' ? o.dst + 1 : 0)));
    const excluded = (a: Map<string, Value>): boolean => (d.exclude ?? []).some((ex) => Object.entries(ex).every(([k, v]) => a.get(k) === v));
    const assignments = [...product(dims)].filter((a) => !excluded(a));
    const namePos = c.at(['name']);
    const here = `${c.file}:${namePos.line}:${namePos.col}`;
    if (assignments.length === 0) {
      const { line, col } = c.at(d.exclude ? ['exclude'] : ['matrix']);
      errors.push(new SourceError(c.file, line, col, 'exclude', 'expected at least one cell, found an empty matrix after exclusions'));
      continue;
    }
    for (const a of assignments) {
      const sockets = d.sockets.map(baseSocket);
      for (const [k, v] of a) {
        const m = /^(s(\d)|all)\.(\w+)$/.exec(k);
        if (!m) continue;
        const targets = m[2] !== undefined ? [Number(m[2])] : sockets.map((_, i) => i);
        for (const i of targets) (sockets[i] as unknown as Record<string, Value>)[SOCKET_KEY[m[3]]] = v;
      }
      const dims: CellDims = {
        reuse: a.get('autobind_reuse') as AutobindReuse,
        range: String(a.get('port_range')),
        fam: a.get('family') as Family,
        addr: a.get('addr') as BindAddr,
        extra: [...a].filter(([k]) => !(BASE_DIMENSIONS as readonly string[]).includes(k)).map(([k, v]) => [SHORT[k] ?? k, v]),
      };
      const id = cellId(d.name, dims);
      if (idPlace.has(id)) {
        errors.push(new SourceError(c.file, namePos.line, namePos.col, 'name', `expected every cell id to be unique in the plan, found ${JSON.stringify(id)} twice (also made by ${idPlace.get(id)})`));
        continue;
      }
      idPlace.set(id, here);
      const family = dims.fam;
      const dests = caseDests(c, family);
      const tw = a.get('tcp_tw_reuse');
      const resv = a.get('reserved_ports');
      const cell: PlannedCell = {
        id,
        case: d.name,
        title: d.title,
        autobindReuse: dims.reuse,
        portRange: portRange(dims.range),
        family,
        addr: dims.addr,
        sockets,
        ops,
        destinations,
        ...(dests ? { dests } : {}),
        ...(tw !== undefined ? { twReuse: tw as TwReuse } : {}),
        ...(resv !== undefined ? { reservedPorts: reservedPorts(resv) } : {}),
        guests: (d.guests ?? ['c']) as GuestKind[],
        dims,
      };
      const cellErrs = checkCell(c, cell, destSpecs(cell));
      if (cellErrs.length) { errors.push(...cellErrs); break; }
      cells.push(cell);
    }
  }
  if (errors.length) throw new SourceErrors(errors);
  return cells;
}
