// The emitted kselftest for a script of the wider case language, run for real: its expected
// results are the oracle's prediction for the after kernel (families, IPV6_V6ONLY, explicit and
// borrowed ports, destination listeners inside the range, tcp_tw_reuse, reserved ports,
// autobind_reuse try-1), compiled static, pushed to a fresh VM of debian-6.1-after: it passes
// there, so every key the C file sets means what the case language says; the same test with one
// port after a failed op wrong fails there, so those asserts bite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { kselftestC } from '../../harness/src/fuzz/emit-kselftest.js';
import { compileKselftest, kselftestHeaders } from '../../harness/src/fuzz/kselftest-build.js';
import { cellOf, scriptProblem, type Script } from '../../harness/src/fuzz/script.js';
import { flippedProfiles, oracleAnswer } from '../../harness/src/oracle/adapter.js';
import { runKselftestOn } from '../helpers/kselftest-vm.js';

/** Every wider key at once; ranges of two ports, so the oracle is certain of each port. */
const WIDE: Script = {
  reuse: 'try-1', range: 'two-ports', family: 'inet', addr: 'loopback',
  sockets: [
    { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0, family: 'inet6', addr: 'any', v6only: true },
    { reuseaddr: false, reuseport: true, bindAddressNoPort: false, euid: 1000, family: 'v4mapped' },
    { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 },
    { reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0, family: 'v4mapped', v6only: true },
  ],
  ops: [
    { op: 'bind', sock: 0, port: 32769 }, { op: 'bind', sock: 2, portOf: 0 }, { op: 'connect', sock: 0, dst: 1 }, { op: 'connect', sock: 1, dst: 0 },
    { op: 'bind', sock: 3 }, { op: 'close', sock: 2 }, { op: 'bind', sock: 2 }, { op: 'listen', sock: 1 },
  ],
  dests: [{ family: 'inet', reuseaddr: true, port: 32768 }, { family: 'inet6', reuseaddr: false, port: 20000 }],
  twReuse: 0, reservedPorts: [32769, 32769],
};

test('the kselftest emitted for a script using every wider key passes on the kernel whose (oracle-predicted) results it asserts', async (t) => {
  t.is(scriptProblem(WIDE), undefined);
  const a = oracleAnswer(cellOf(WIDE, 'fuzz/wide', true), '4b01a967+followup', flippedProfiles([]));
  if (a.kind !== 'predicted') return t.fail(`the oracle gave no prediction: ${JSON.stringify(a)}`);
  const expected = a.ops.map((p) => p.result);
  t.log(expected.map((r) => (r.ok ? `ok ${r.port}` : `${r.errno} ${r.port}`)).join(', '));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-fuzz-lang-vm-'));
  const cFile = path.join(dir, 'fuzz_wide_001.c');
  fs.writeFileSync(cFile, kselftestC('fuzz-wide-001', WIDE, expected, 'the oracle (4b01a967+followup)', ['every wider key']));
  const built = await compileKselftest(cFile, await kselftestHeaders(dir), path.join(dir, 'gcc.log'));
  const ran = await runKselftestOn(['debian-6.1-after'], built.binary);
  t.is(ran['debian-6.1-after'].verdict, 'pass', ran['debian-6.1-after'].output);
  t.regex(ran['debian-6.1-after'].output, /^ok 1 global\.fuzz_wide_001$/m);
  // op 3, the connect that found no port, leaves port 0: assert 32768 instead and the test must fail.
  t.like(expected[3], { ok: false, errno: 'EADDRNOTAVAIL', port: 0 });
  const wrong = expected.map((r, k) => (k === 3 ? { ...r, port: 32768 } : r));
  const wFile = path.join(dir, 'fuzz_wide_002.c');
  fs.writeFileSync(wFile, kselftestC('fuzz-wide-002', WIDE, wrong, 'nobody', ['a wrong port after a failed connect']));
  const wBuilt = await compileKselftest(wFile, await kselftestHeaders(dir), path.join(dir, 'gcc2.log'));
  const wRan = await runKselftestOn(['debian-6.1-after'], wBuilt.binary);
  t.is(wRan['debian-6.1-after'].verdict, 'fail', wRan['debian-6.1-after'].output);
  t.regex(wRan['debian-6.1-after'].output, /^not ok 1 global\.fuzz_wide_002$/m);
});
