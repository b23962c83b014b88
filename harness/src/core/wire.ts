// The line protocol between host and guest. Host → guest: one text line per cell (below).
// Guest → host: one JSON line per cell (GuestCellReport), optionally with "kernel_warned": <n>
// (the C guest: the kernel's WARNING/oops counters moved during the cell). Anything else the
// guest prints is ignored.
//
//   cell id=<id> fam=4|6|m addr=lo|any range=<lo>-<hi> reuse=absent|0|1|keep|try-0|try-1 dst=<n>
//        [tw=0|1|2] [resv=none|<lo>-<hi>] [d=<F><R>:<port>...] s=<R><P><N>:<euid>[:<F><A><V>]... op=<op>...
//
// s= appears once per socket, in order; R, P, N are 0/1 for SO_REUSEADDR, SO_REUSEPORT,
// IP_BIND_ADDRESS_NO_PORT; the optional :<F><A><V> gives the socket's own family (4, 6, m),
// bind address (l = loopback, a = any) and IPV6_V6ONLY (0, 1), each '-' for the cell's default.
// op= appears once per step, in order: b<i> bind(sock i, port 0), b<i>p<port> bind to an
// explicit port, b<i>s<j> bind to the port socket j's getsockname() shows (0 when j is closed),
// c<i>.<j> connect(sock i, destination j), l<i> listen(sock i), x<i> close(sock i).
// tw= (net.ipv4.tcp_tw_reuse) and resv= (net.ipv4.ip_local_reserved_ports) are absent when the
// namespace default is kept. d= appears once per destination listener when they are not the
// defaults: family (4, 6), SO_REUSEADDR (0, 1) and port. reuse=try-N writes N if the sysctl
// exists; a missing one is listed in the report's "enoent".
import type { Cell, GuestCellReport, Op, OpResult } from './cell.js';

const ID_CHARS = /^[A-Za-z0-9._:/=,+@-]+$/;
const FAMILY_CODE = { inet: '4', inet6: '6', v4mapped: 'm' } as const;

const bit = (b: boolean): string => (b ? '1' : '0');

// The optional :<F><A><V> part of a socket token ('' when the socket has no family, address or IPV6_V6ONLY of its own).
function ownPart(s: Cell['sockets'][number]): string {
  if (s.family === undefined && s.addr === undefined && s.v6only === undefined) return '';
  const f = s.family ? FAMILY_CODE[s.family] : '-';
  const a = s.addr ? (s.addr === 'any' ? 'a' : 'l') : '-';
  const v = s.v6only === undefined ? '-' : bit(s.v6only);
  return `:${f}${a}${v}`;
}

function encodeOp(op: Op): string {
  switch (op.op) {
    case 'bind': return `b${op.sock}${op.port !== undefined ? `p${op.port}` : op.portOf !== undefined ? `s${op.portOf}` : ''}`;
    case 'listen': return `l${op.sock}`;
    case 'close': return `x${op.sock}`;
    case 'connect': return `c${op.sock}.${op.dst}`;
  }
}

/** Encodes a cell as the guest's input line (no trailing newline). */
export function encodeCell(cell: Cell): string {
  if (!ID_CHARS.test(cell.id)) throw new Error(`cell id ${JSON.stringify(cell.id)} has characters outside ${ID_CHARS}`);
  const parts = [
    'cell',
    `id=${cell.id}`,
    `fam=${FAMILY_CODE[cell.family]}`,
    `addr=${cell.addr === 'loopback' ? 'lo' : 'any'}`,
    `range=${cell.portRange[0]}-${cell.portRange[1]}`,
    `reuse=${cell.autobindReuse}`,
    `dst=${cell.destinations}`,
    ...(cell.twReuse !== undefined && cell.twReuse !== 'keep' ? [`tw=${cell.twReuse}`] : []),
    ...(cell.reservedPorts !== undefined && cell.reservedPorts !== 'keep' ? [`resv=${cell.reservedPorts === 'none' ? 'none' : cell.reservedPorts.join('-')}`] : []),
    ...(cell.dests ?? []).map((d) => `d=${d.family === 'inet6' ? '6' : '4'}${bit(d.reuseaddr)}:${d.port}`),
    ...cell.sockets.map((s) => `s=${bit(s.reuseaddr)}${bit(s.reuseport)}${bit(s.bindAddressNoPort)}:${s.euid}${ownPart(s)}`),
    ...cell.ops.map((op) => `op=${encodeOp(op)}`),
  ];
  return parts.join(' ');
}

function isOpResult(v: unknown): v is OpResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (r.ok === true) return r.port === null || typeof r.port === 'number';
  return r.ok === false && typeof r.errno === 'string' && (r.port === undefined || r.port === null || typeof r.port === 'number');
}

/** Parses one guest output line; returns undefined for lines that are not cell reports. */
export function parseReportLine(line: string): GuestCellReport | undefined {
  return parseGuestLine(line)?.report;
}

/**
 * Parses one guest output line with what the guest adds beside the report: `kernel_warned`,
 * how many WARNINGs/oopses the kernel counted while the cell ran (0 when absent; kph-cells
 * writes it only when its counters moved), and `us`, the cell's own duration in microseconds
 * as the guest timed it (absent from guests that do not time cells). Undefined for lines that
 * are not cell reports.
 */
export function parseGuestLine(line: string): { report: GuestCellReport; kernelWarned: number; us?: number } | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  let v: unknown;
  try { v = JSON.parse(t); } catch { return undefined; }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.id !== 'string') return undefined;
  const w = r.kernel_warned;
  const kernelWarned = typeof w === 'number' && Number.isInteger(w) && w > 0 ? w : 0;
  const us = typeof r.us === 'number' && Number.isInteger(r.us) && r.us >= 0 ? { us: r.us } : {};
  if (r.status === 'done' && Array.isArray(r.results) && r.results.every(isOpResult)) {
    const enoent = Array.isArray(r.enoent) && r.enoent.every((x) => typeof x === 'string') && r.enoent.length ? { enoent: r.enoent as string[] } : {};
    return { report: { id: r.id, status: 'done', results: r.results as OpResult[], ...enoent }, kernelWarned, ...us };
  }
  if ((r.status === 'unsupported' || r.status === 'error') && typeof r.reason === 'string') {
    return { report: { id: r.id, status: r.status, reason: r.reason }, kernelWarned, ...us };
  }
  return undefined;
}

/** The console mark name of a cell: 32-bit FNV-1a of its id as 8 hex digits (kph-cells marks, and its child's name kc-<mark>). */
export function markOf(id: string): string {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(id, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
