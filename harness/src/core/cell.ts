// The reproduction matrix's unit: one cell = one network namespace as fresh (no socket, the
// sysctls at their start values), a few sockets, an operation script. Shared by the planner, the oracle, the guest wire format and reports.

/** Address family of every test socket in a cell. `v4mapped` = AF_INET6 sockets using ::ffff:127.0.0.1 / :: without IPV6_V6ONLY. */
export type Family = 'inet' | 'inet6' | 'v4mapped';

/** Where test sockets bind: the loopback address of the family, or the wildcard address. */
export type BindAddr = 'loopback' | 'any';

/**
 * Value of net.ipv4.ip_autobind_reuse a cell needs: the sysctl must not exist, or must be set to
 * 0 / 1; `keep` leaves the namespace's default alone (0, or no sysctl); `try-0` / `try-1` write
 * the value when the sysctl exists and otherwise record ENOENT and carry on.
 */
export type AutobindReuse = 'absent' | 0 | 1 | 'keep' | 'try-0' | 'try-1';

/** net.ipv4.tcp_tw_reuse: `keep` = the namespace default (2, loopback only). */
export type TwReuse = 'keep' | 0 | 1 | 2;

/** net.ipv4.ip_local_reserved_ports: `keep` = the default (none), `none` = write an empty list, or [lo, hi]. */
export type ReservedPorts = 'keep' | 'none' | readonly [number, number];

/** A destination listener: family, SO_REUSEADDR and its explicit port (on the family's loopback address). */
export interface DestSpec { family: 'inet' | 'inet6'; reuseaddr: boolean; port: number }

/** Socket options and credentials applied before the socket's first operation. */
export interface SocketSpec {
  reuseaddr: boolean;
  reuseport: boolean;
  /** IP_BIND_ADDRESS_NO_PORT: bind(port 0) defers the port choice to connect(). */
  bindAddressNoPort: boolean;
  /** Effective uid the socket is created with (its sk_uid). */
  euid: number;
  /** The socket's own family (else the cell's). */
  family?: Family;
  /** The socket's own bind address (else the cell's). */
  addr?: BindAddr;
  /** IPV6_V6ONLY set explicitly on an AF_INET6 socket (else the kernel default, 0). */
  v6only?: boolean;
}

/** One step of a cell's script. `dst` indexes the cell's destination listeners. */
export type Op =
  | { op: 'bind'; sock: number; port?: number; portOf?: number }
  | { op: 'connect'; sock: number; dst: number }
  | { op: 'listen'; sock: number }
  | { op: 'close'; sock: number };

export interface Cell {
  /** Stable id derived from the parameters (see cellId). */
  id: string;
  /** Name of the case the cell comes from. */
  case: string;
  autobindReuse: AutobindReuse;
  /** net.ipv4.ip_local_port_range, inclusive. */
  portRange: readonly [number, number];
  family: Family;
  addr: BindAddr;
  sockets: SocketSpec[];
  ops: Op[];
  /** Number of destination listeners the guest starts in the cell's namespace (ports DST_PORT_BASE + j). */
  destinations: number;
  /** The destination listeners' own family, SO_REUSEADDR and port (else the defaults, see destSpecs). */
  dests?: DestSpec[];
  /** net.ipv4.tcp_tw_reuse (absent: keep). */
  twReuse?: TwReuse;
  /** net.ipv4.ip_local_reserved_ports (absent: keep). */
  reservedPorts?: ReservedPorts;
}

/** A socket's family and bind address, its own or the cell's. */
export function socketFamily(cell: Cell, i: number): Family {
  return cell.sockets[i]?.family ?? cell.family;
}
export function socketAddr(cell: Cell, i: number): BindAddr {
  return cell.sockets[i]?.addr ?? cell.addr;
}

/** Every destination listener of a cell: its own spec, or the default (the cell's family, no option, port DST_PORT_BASE + j). */
export function destSpecs(cell: Cell): DestSpec[] {
  if (cell.dests) return cell.dests;
  const family = cell.family === 'inet6' ? 'inet6' : 'inet';
  return Array.from({ length: cell.destinations }, (_, j) => ({ family, reuseaddr: false, port: DST_PORT_BASE + j }));
}

/** Destination listeners sit on explicit ports far below any ephemeral range. */
export const DST_PORT_BASE = 10000;

export const EXHAUSTED_RANGE: readonly [number, number] = [32768, 32768];
export const ROOMY_RANGE: readonly [number, number] = [32768, 60999];

/** What one operation returned inside the guest (or what the oracle predicts it returns). */
export type OpResult =
  | { ok: true; port: number | null }
  | { ok: false; errno: string; port?: number | null };

/** One cell's outcome as reported by a guest. */
export type GuestCellReport =
  | { id: string; status: 'done'; results: OpResult[]; enoent?: string[] }
  | { id: string; status: 'unsupported'; reason: string }
  | { id: string; status: 'error'; reason: string };

/** Short human form of an op, e.g. "bind(s0)", "connect(s1→d0)". */
export function describeOp(op: Op): string {
  switch (op.op) {
    case 'bind': return `bind(s${op.sock}${op.port !== undefined ? `, ${op.port}` : op.portOf !== undefined ? `, port of s${op.portOf}` : ''})`;
    case 'listen': return `listen(s${op.sock})`;
    case 'close': return `close(s${op.sock})`;
    case 'connect': return `connect(s${op.sock}→d${op.dst})`;
  }
}
