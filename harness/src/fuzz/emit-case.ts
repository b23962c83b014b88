// A finding as a case file (cases/README.md format), so the main job reproduces it with
// `--cases DIR --case NAME`: the minimal script, at the ip_autobind_reuse values the kernels ran.
import type { AutobindReuse, SocketSpec } from '../core/cell.js';
import { FUZZ_RANGES, opText, type Script } from './script.js';

const REUSE_ORDER: AutobindReuse[] = ['absent', 0, 1];

/** A socket as a flow map with only the options that are on, e.g. `{ reuseaddr: true, euid: 1000 }`. */
function socketYaml(k: SocketSpec): string {
  const parts = [k.reuseaddr && 'reuseaddr: true', k.reuseport && 'reuseport: true', k.bindAddressNoPort && 'bind_address_no_port: true', k.euid !== 0 && `euid: ${k.euid}`].filter(Boolean);
  return parts.length ? `{ ${parts.join(', ')} }` : '{}';
}

/** The case file's port_range value: the named ranges the case language knows, else "LO-HI". */
function rangeYaml(s: Script): string {
  if (s.range === 'one-port') return 'one-port';
  if (s.range === 'roomy') return 'roomy';
  const [lo, hi] = FUZZ_RANGES[s.range];
  return `"${lo}-${hi}"`;
}

/** The YAML text of a case reproducing `script`; `comment` lines go on top (each prefixed with "# "). */
export function caseYaml(name: string, title: string, s: Script, reuse: AutobindReuse[], comment: string[]): string {
  const values = REUSE_ORDER.filter((v) => reuse.includes(v));
  return [
    ...comment.map((l) => `# ${l}`),
    `name: ${name}`,
    `title: ${JSON.stringify(title)}`,
    'sockets:',
    ...s.sockets.map((k) => `  - ${socketYaml(k)}`),
    `ops: [${s.ops.map(opText).join(', ')}]`,
    'matrix:',
    `  autobind_reuse: [${values.join(', ')}]`,
    `  port_range: [${rangeYaml(s)}]`,
    `  family: [${s.family}]`,
    `  addr: [${s.addr}]`,
    '',
  ].join('\n');
}
