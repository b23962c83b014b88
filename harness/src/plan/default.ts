// The first plan: the commit message's claims as cells, each at every ip_autobind_reuse value
// (absent / 0 / 1); the kernel's profile decides which values apply.
import { EXHAUSTED_RANGE, ROOMY_RANGE, type AutobindReuse, type Cell, type Op, type SocketSpec } from '../model/cell.js';

/** Which guest runs a cell: the C interpreter or the TypeScript application guest. */
export type GuestKind = 'c' | 'ts';

export interface PlannedCell extends Cell {
  guests: GuestKind[];
  /** One sentence: what the cell reproduces. */
  title: string;
}

const REUSE_VALUES: AutobindReuse[] = ['absent', 0, 1];
const reuseaddr: SocketSpec = { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 };

/** Stable cell id from the case name and the parameters that vary within it. */
export function cellId(caseName: string, c: Pick<Cell, 'autobindReuse' | 'portRange' | 'family' | 'addr'>): string {
  const range = c.portRange[0] === c.portRange[1] ? 'one-port' : `${c.portRange[0]}-${c.portRange[1]}`;
  return `${caseName}/reuse=${c.autobindReuse},range=${range},fam=${c.family},addr=${c.addr}`;
}

interface CaseSpec {
  name: string;
  title: string;
  sockets: SocketSpec[];
  ops: Op[];
  destinations: number;
  range: readonly [number, number];
  guests: GuestKind[];
}

const CASES: CaseSpec[] = [
  {
    name: 'commit-repro',
    title: 'commit message: one-port range, two SO_REUSEADDR sockets, both bind(127.0.0.1, 0)',
    sockets: [reuseaddr, reuseaddr],
    ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }],
    destinations: 0,
    range: EXHAUSTED_RANGE,
    guests: ['c'],
  },
  {
    name: 'commit-6-step',
    title: 'commit message: bind, bind, connect(s0), listen(s1) sharing one port',
    sockets: [reuseaddr, reuseaddr],
    ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }, { op: 'connect', sock: 0, dst: 0 }, { op: 'listen', sock: 1 }],
    destinations: 1,
    range: EXHAUSTED_RANGE,
    guests: ['c'],
  },
  {
    name: 'app-two-clients',
    title: 'application: two connections with localAddress 127.0.0.1 to two servers through a one-port range',
    sockets: [reuseaddr, reuseaddr],
    ops: [{ op: 'bind', sock: 0 }, { op: 'connect', sock: 0, dst: 0 }, { op: 'bind', sock: 1 }, { op: 'connect', sock: 1, dst: 1 }],
    destinations: 2,
    range: EXHAUSTED_RANGE,
    guests: ['c', 'ts'],
  },
  {
    name: 'roomy-control',
    title: 'control: the same two binds with the default range get two different ports',
    sockets: [reuseaddr, reuseaddr],
    ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }],
    destinations: 0,
    range: ROOMY_RANGE,
    guests: ['c'],
  },
];

/** Every cell of the default plan. */
export function defaultPlan(): PlannedCell[] {
  const cells: PlannedCell[] = [];
  for (const c of CASES) {
    for (const autobindReuse of REUSE_VALUES) {
      const params = { autobindReuse, portRange: c.range, family: 'inet' as const, addr: 'loopback' as const };
      cells.push({
        ...params,
        id: cellId(c.name, params),
        case: c.name,
        title: c.title,
        sockets: c.sockets,
        ops: c.ops,
        destinations: c.destinations,
        guests: c.guests,
      });
    }
  }
  return cells;
}
