// The fuzzer over the wider case language (cases/README.md): the generator draws every new key
// (socket family / addr / v6only, explicit bind ports, destination listeners, autobind_reuse
// keep / try-N, tcp_tw_reuse, reserved_ports) and every script it draws goes through the case
// loader unchanged (emit-case → load → expand); the shrinker takes each new key back to its
// simplest value and never offers a script the loader would refuse; the emitted kselftest
// expresses every new key and compiles static.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { expandCases } from '../../harness/src/cases/expand.js';
import { loadCaseFile } from '../../harness/src/cases/load.js';
import { DEFAULT_TARBALL } from '../../harness/src/kernel/keys.js';
import { caseYaml } from '../../harness/src/fuzz/emit-case.js';
import { kselftestC } from '../../harness/src/fuzz/emit-kselftest.js';
import { scriptAt } from '../../harness/src/fuzz/generate.js';
import { compileKselftest, kselftestHeaders } from '../../harness/src/fuzz/kselftest-build.js';
import { cellOf, destinationsOf, scriptKey, scriptProblem, type Script } from '../../harness/src/fuzz/script.js';
import { candidates, shrink } from '../../harness/src/fuzz/shrink.js';
import type { OpResult } from '../../harness/src/core/cell.js';
import { command, file, needs } from '../helpers/needs.js';

/** The wider keys a script uses, as names. */
function widerKeys(s: Script): string[] {
  const keys = [`autobind_reuse=${s.reuse}`];
  for (const k of s.sockets) {
    if (k.family !== undefined) keys.push(`sockets.family=${k.family}`);
    if (k.addr !== undefined) keys.push(`sockets.addr=${k.addr}`);
    if (k.v6only !== undefined) keys.push(`sockets.v6only=${k.v6only}`);
  }
  for (const o of s.ops) {
    if (o.op === 'bind' && o.port !== undefined) keys.push('bind port N');
    if (o.op === 'bind' && o.portOf !== undefined) keys.push('bind port sJ');
  }
  for (const d of s.dests ?? []) keys.push(`destinations.family=${d.family}`, `destinations.reuseaddr=${d.reuseaddr}`, d.port === 10000 || d.port === 10001 || d.port === 10002 ? 'destinations.port default' : 'destinations.port other');
  if (s.twReuse !== undefined) keys.push(`tcp_tw_reuse=${s.twReuse}`);
  const r = s.reservedPorts;
  if (r !== undefined) keys.push(r === 'none' ? 'reserved_ports=none' : r[0] === r[1] ? 'reserved_ports=PORT' : 'reserved_ports=LO-HI');
  return keys;
}

const ALL_KEYS = [
  ...['absent', 0, 1, 'keep', 'try-0', 'try-1'].map((v) => `autobind_reuse=${v}`),
  ...['inet', 'inet6', 'v4mapped'].map((v) => `sockets.family=${v}`), 'sockets.addr=loopback', 'sockets.addr=any', 'sockets.v6only=true', 'sockets.v6only=false',
  'bind port N', 'bind port sJ',
  'destinations.family=inet', 'destinations.family=inet6', 'destinations.reuseaddr=true', 'destinations.reuseaddr=false', 'destinations.port default', 'destinations.port other',
  'tcp_tw_reuse=0', 'tcp_tw_reuse=1', 'tcp_tw_reuse=2', 'reserved_ports=none', 'reserved_ports=PORT', 'reserved_ports=LO-HI',
];

test('generator: every key of the wider language is drawn within 300 scripts, and every script goes through the case loader unchanged', (t) => {
  const seen = new Set<string>();
  let wide = 0;
  for (let k = 0; k < 300; k++) {
    const s = scriptAt(5, k);
    const keys = widerKeys(s);
    keys.forEach((x) => seen.add(x));
    if (keys.length > 1 || !['absent', 0, 1].includes(s.reuse as never)) wide++;
    t.is(scriptProblem(s), undefined, `script ${k}`);
    // The values both kernels of the embedded pair run at, as a finding's case file lists them.
    const reuse = [cellOf(s, 'x', false).autobindReuse, cellOf(s, 'x', true).autobindReuse];
    const cells = expandCases([loadCaseFile(`fuzz-${k}.yaml`, caseYaml(`fuzz-lang-${k}`, 'a generated script', s, reuse, []))]);
    t.deepEqual(cells.map((c) => c.autobindReuse), [...new Set(reuse)].sort((a, b) => ['absent', 0, 1, 'keep', 'try-0', 'try-1'].indexOf(a) - ['absent', 0, 1, 'keep', 'try-0', 'try-1'].indexOf(b)), `script ${k}: reuse`);
    for (const c of cells) {
      const want = cellOf(s, c.id, c.autobindReuse !== 'absent');
      t.deepEqual(c.sockets, want.sockets, `script ${k}: sockets`);
      t.deepEqual(c.ops, want.ops, `script ${k}: ops`);
      t.is(c.destinations, destinationsOf(s), `script ${k}: destinations`);
      t.deepEqual(c.dests, want.dests, `script ${k}: destination specs`);
      t.deepEqual([c.portRange, c.family, c.addr, c.twReuse, c.reservedPorts], [want.portRange, want.family, want.addr, want.twReuse, want.reservedPorts], `script ${k}: dimensions`);
    }
  }
  t.deepEqual(ALL_KEYS.filter((x) => !seen.has(x)), [], 'every new key drawn');
  // The old language keeps most of the weight: the known findings must still come early.
  t.true(wide > 60 && wide < 270, `${wide} of 300 scripts use a wider key`);
});

test('shrinker: no candidate is a script the case loader would refuse, and each new key has a simpler candidate', (t) => {
  for (let k = 0; k < 150; k++) {
    const s = scriptAt(9, k);
    const cands = candidates(s);
    for (const c of cands) t.is(scriptProblem(c.script), undefined, `script ${k}: ${c.step}`);
    t.is(new Set(cands.map((c) => scriptKey(c.script))).size, cands.length, `script ${k}: no candidate twice`);
    if (s.twReuse !== undefined) t.true(cands.some((c) => c.script.twReuse === undefined && c.step === 'tcp_tw_reuse keep'));
    if (s.reservedPorts !== undefined) t.true(cands.some((c) => c.script.reservedPorts === undefined));
    if (s.dests) t.true(cands.some((c) => c.step === 'default destinations') || s.ops.some((o) => o.op === 'connect' && (s.sockets[o.sock].family ?? s.family) !== s.family));
  }
});

test('shrinker: every new dimension goes back to its simplest value (inet, loopback, bind port 0, default destinations, keep, reuse absent)', async (t) => {
  const s: Script = {
    reuse: 'try-1', range: 'three-ports', family: 'v4mapped', addr: 'any',
    sockets: [
      { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0, family: 'inet6', addr: 'loopback', v6only: true },
      { reuseaddr: false, reuseport: true, bindAddressNoPort: false, euid: 1000, v6only: false },
    ],
    ops: [{ op: 'bind', sock: 0, port: 32769 }, { op: 'bind', sock: 1, portOf: 0 }, { op: 'connect', sock: 0, dst: 1 }, { op: 'listen', sock: 1 }],
    dests: [{ family: 'inet', reuseaddr: true, port: 32768 }, { family: 'inet6', reuseaddr: true, port: 20000 }],
    twReuse: 1, reservedPorts: [32768, 32770],
  };
  t.is(scriptProblem(s), undefined);
  // A property every script with a bind has: everything else goes.
  const any = await shrink(s, async (xs) => xs.map((x) => x.ops.some((o) => o.op === 'bind')));
  t.deepEqual(any.script, {
    reuse: 'absent', range: 'one-port', family: 'inet', addr: 'loopback',
    sockets: [{ reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0 }], ops: [{ op: 'bind', sock: 0 }],
  }, any.steps.join('; '));
  // A property that needs an explicit port on an inet6 socket with IPV6_V6ONLY: those stay, the rest goes.
  const need = (x: Script): boolean => x.ops.some((o) => o.op === 'bind' && o.port === 32769 && x.sockets[o.sock].v6only === true && (x.sockets[o.sock].family ?? x.family) === 'inet6');
  const kept = await shrink(s, async (xs) => xs.map(need));
  t.true(need(kept.script));
  t.like(kept.script, { reuse: 'absent', range: 'one-port', addr: 'loopback', ops: [{ op: 'bind', sock: 0, port: 32769 }] });
  t.is(kept.script.sockets.length, 1);
  t.deepEqual([kept.script.dests, kept.script.twReuse, kept.script.reservedPorts, kept.script.sockets[0].addr], [undefined, undefined, undefined, undefined]);
  t.true(kept.steps.includes('tcp_tw_reuse keep') && kept.steps.includes('ip_local_reserved_ports keep') && kept.steps.includes('ip_autobind_reuse 1 (not try-1)'), kept.steps.join('; '));
});

const GCC = [command('gcc'), file(DEFAULT_TARBALL, 'linux-source-6.1')];

needs(...GCC).test('the emitted kselftest sets every new key (families, v6only, explicit ports, destination listeners, tcp_tw_reuse, reserved ports, try-N) and compiles static', async (t) => {
  const s: Script = {
    reuse: 'try-1', range: 'two-ports', family: 'inet', addr: 'loopback',
    sockets: [
      { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0, family: 'inet6', addr: 'any', v6only: true },
      { reuseaddr: false, reuseport: true, bindAddressNoPort: true, euid: 1000, family: 'v4mapped' },
      { reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0 },
    ],
    ops: [{ op: 'bind', sock: 0, port: 32769 }, { op: 'bind', sock: 2, portOf: 0 }, { op: 'connect', sock: 0, dst: 1 }, { op: 'connect', sock: 1, dst: 0 }, { op: 'close', sock: 2 }, { op: 'bind', sock: 2 }],
    dests: [{ family: 'inet', reuseaddr: true, port: 32768 }, { family: 'inet6', reuseaddr: false, port: 20000 }],
    twReuse: 0, reservedPorts: [32768, 32769],
  };
  t.is(scriptProblem(s), undefined);
  const expected: OpResult[] = [
    { ok: true, port: 32769 }, { ok: false, errno: 'EADDRINUSE', port: 0 }, { ok: true, port: 32769 }, { ok: false, errno: 'EADDRNOTAVAIL', port: 0 }, { ok: true, port: null }, { ok: false, errno: 'EBADF', port: null },
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-fuzz-lang-'));
  const cFile = path.join(dir, 'fuzz_7_001.c');
  fs.writeFileSync(cFile, kselftestC('fuzz-7-001', s, expected, 'k', ['a test']));
  const c = fs.readFileSync(cFile, 'utf8');
  t.regex(c, /\{ F_INET6, 1, 1, 1, 0, 0, 0 \},\n\t\{ F_MAPPED, 0, -1, 0, 1, 1, 1000 \},\n\t\{ F_INET, 0, -1, 0, 0, 0, 0 \},/, 'per-socket family, address, v6only, options, euid');
  t.regex(c, /self_addr\(sock, 32769, &ss\)/, 'explicit port');
  t.regex(c, /self_addr\(sock, bound_port\(fd\[0\]\), &ss\)/, 'the port s0 holds');
  t.regex(c, /make_listener\(F_INET, 1, 32768\)[^]*make_listener\(F_INET6, 0, 20000\)/, 'destination listeners with family, SO_REUSEADDR, port');
  t.regex(c, /target_addr\(sock, 20000, &ss\)/);
  t.regex(c, /access\("\/proc\/sys\/net\/ipv4\/ip_autobind_reuse", F_OK\) == 0 &&\n\t    write_file\("\/proc\/sys\/net\/ipv4\/ip_autobind_reuse", "1"\)/, 'try-1: written where it exists');
  t.regex(c, /write_file\("\/proc\/sys\/net\/ipv4\/tcp_tw_reuse", "0"\)/);
  t.regex(c, /write_file\("\/proc\/sys\/net\/ipv4\/ip_local_reserved_ports", "32768-32769"\)/);
  t.regex(c, /ASSERT_EQ\(EADDRINUSE, err\);\n\tport\[1\] = local_port\(fd\[sock\]\);\n\tASSERT_EQ\(0, port\[1\]\);/, 'the port after a failed op is asserted too');
  t.regex(c, /ASSERT_EQ\(port\[0\], port\[2\]\);/);
  const keep = kselftestC('fuzz-7-002', { ...s, reuse: 'keep', twReuse: undefined, reservedPorts: 'none' }, expected, 'k', []);
  t.notRegex(keep, /write_file\("\/proc\/sys\/net\/ipv4\/(ip_autobind_reuse|tcp_tw_reuse)/, 'keep writes nothing');
  t.regex(keep, /ip_local_reserved_ports", "\\n"/, 'none writes an empty list');
  const built = await compileKselftest(cFile, await kselftestHeaders(dir), path.join(dir, 'gcc.log'));
  t.true(fs.statSync(built.binary).size > 0);
  t.is(built.name, 'fuzz/fuzz_7_001');
});
