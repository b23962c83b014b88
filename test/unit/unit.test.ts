import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { HELP, parseOptions, UsageError } from '../../harness/src/cli.js';
import { encodeCell, parseReportLine } from '../../harness/src/core/wire.js';
import { defaultPlan } from '../../harness/src/plan/default.js';
import { classify, exitCodeFor, rollUp } from '../../harness/src/core/verdict.js';
import { compactResults } from '../../harness/src/core/format.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { scanConsole } from '../../harness/src/vm/console.js';
import { parseHostFwdPort } from '../../harness/src/vm/qmp.js';
import { qemuArgs } from '../../harness/src/vm/qemu.js';

const fixture = (name: string): string => fs.readFileSync(path.join(projectRoot, 'test', 'fixtures', name), 'utf8');

test('console scanner finds a boot panic and keeps the excerpt', (t) => {
  const found = scanConsole(fixture('console-panic.txt'));
  t.is(found.length, 1);
  t.is(found[0].kind, 'panic');
  t.regex(found[0].title, /^Kernel panic - not syncing: No working init found/);
  t.regex(found[0].excerpt, /kernel_init/);
});

test('console scanner finds a WARNING splat and a second boot banner', (t) => {
  const text = fixture('console-warning.txt');
  t.deepEqual(scanConsole(text).map((c) => c.kind), ['warning']);
  t.deepEqual(scanConsole(text + text).map((c) => c.kind), ['warning', 'reboot', 'warning']);
  t.deepEqual(scanConsole('[ 1.0] Linux version 6.1\nkph: sshd ready\nall fine\n'), []);
});

test('hostfwd port is read from QEMU 7.2 "info usernet"', (t) => {
  const text = 'Hub -1 (#net085):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n  TCP[HOST_FORWARD]   8       127.0.0.1 39717       10.0.2.15    22     0     0\r\n';
  t.is(parseHostFwdPort(text), 39717);
  t.is(parseHostFwdPort(text.replace(' 22 ', ' 23 ')), undefined);
});

test('QEMU is isolated: restrict=on, SSH forwarded to 127.0.0.1 only, no reboot, panic=-1', (t) => {
  const args = qemuArgs({ name: 'x', runId: 'r', runDir: '/tmp', kernel: 'k', initramfs: 'i', cmdline: ['kph.key=AAA'], memoryMiB: 256, accel: { accel: 'tcg', reason: '', timeScale: 3 } }, '/tmp/q', '/tmp/p');
  const nic = args[args.indexOf('-nic') + 1];
  t.regex(nic, /restrict=on/);
  t.regex(nic, /hostfwd=tcp:127\.0\.0\.1:0-:22/);
  t.true(args.includes('-no-reboot'));
  t.regex(args[args.indexOf('-append') + 1], /panic=-1 .*kph\.key=AAA/);
  t.deepEqual(args.slice(args.indexOf('-accel'), args.indexOf('-accel') + 4), ['-accel', 'tcg', '-cpu', 'max']);
});

test('wire format round trip: a cell line and report lines', (t) => {
  const cell = defaultPlan().find((c) => c.case === 'commit-6-step' && c.autobindReuse === 1)!;
  t.is(encodeCell(cell), `cell id=${cell.id} fam=4 addr=lo range=32768-32768 reuse=1 dst=1 s=100:0 s=100:0 op=b0 op=b1 op=c0.0 op=l1`);
  t.deepEqual(parseReportLine('{"id":"a","status":"done","results":[{"ok":true,"port":5},{"ok":false,"errno":"EADDRINUSE"}]}'),
    { id: 'a', status: 'done', results: [{ ok: true, port: 5 }, { ok: false, errno: 'EADDRINUSE' }] });
  t.is(parseReportLine('[ 3.1] random kernel noise'), undefined);
  t.is(parseReportLine('{"id":"a","status":"done","results":[{"ok":"yes"}]}'), undefined);
  t.throws(() => encodeCell({ ...cell, id: 'has space' }), { message: /characters outside/ });
});

test('default plan: stable unique ids, every cell at absent/0/1 (the wider cases: keep / try-N, which run on every kernel)', (t) => {
  const plan = defaultPlan();
  t.is(new Set(plan.map((c) => c.id)).size, plan.length);
  t.deepEqual(defaultPlan().map((c) => c.id), plan.map((c) => c.id));
  for (const name of new Set(plan.map((c) => c.case))) {
    const values = [...new Set(plan.filter((c) => c.case === name).map((c) => c.autobindReuse))];
    if (name.startsWith('wide-')) t.true(values.every((v) => v === 'keep' || v === 'try-0' || v === 'try-1'), `${name}: ${values.join(', ')}`);
    else t.deepEqual(values, ['absent', 0, 1]);
  }
});

const same = (o: unknown[], p: unknown[]) => ({ match: JSON.stringify(o) === JSON.stringify(p), firstMismatch: JSON.stringify(o) === JSON.stringify(p) ? undefined : { index: 0, reason: 'differs' } });

test('classification follows the outcome taxonomy', (t) => {
  const predicted = { kind: 'predicted' as const, profile: 'p', ops: [{ result: { ok: true as const, port: 1 }, rule: 'r1', models: 'f()' }] };
  const done = { id: 'x', status: 'done' as const, results: [{ ok: true as const, port: 1 }] };
  t.is(classify(predicted, done, undefined, same).outcome, 'PASS');
  t.is(classify(predicted, { ...done, results: [{ ok: false, errno: 'EADDRINUSE' }] }, undefined, same).outcome, 'FAIL');
  t.regex(classify(predicted, { ...done, results: [{ ok: false, errno: 'EADDRINUSE' }] }, undefined, same).reason, /rule r1/);
  t.is(classify(predicted, undefined, undefined, same).outcome, 'MISS');
  t.is(classify(predicted, { id: 'x', status: 'error', reason: 'timeout' }, undefined, same).outcome, 'ERROR');
  t.is(classify({ kind: 'not-applicable', reason: 'no sysctl' }, { id: 'x', status: 'unsupported', reason: 'sysctl absent' }, undefined, same).outcome, 'NA');
  t.is(classify({ kind: 'not-applicable', reason: 'no sysctl' }, done, undefined, same).outcome, 'FAIL');
  t.is(classify(predicted, done, { kind: 'oops', title: 'Oops: 0000', offset: 0, excerpt: '' }, same).outcome, 'FAIL');
  t.is(classify({ kind: 'oracle-error', message: 'boom' }, done, undefined, same).outcome, 'ERROR');
  t.is(rollUp(['PASS', 'SKIP', 'MISS', 'ERROR']), 'ERROR');
  t.is(exitCodeFor(['PASS', 'SKIP']), 0);
  t.is(exitCodeFor(['PASS', 'ERROR']), 3);
  t.is(exitCodeFor(['ERROR', 'FAIL']), 1);
});

test('compact results rename ephemeral ports in order of appearance', (t) => {
  const ops = [{ op: 'bind' as const, sock: 0 }, { op: 'bind' as const, sock: 1 }, { op: 'connect' as const, sock: 1, dst: 0 }];
  t.is(compactResults(ops, [{ ok: true, port: 40001 }, { ok: true, port: 40001 }, { ok: false, errno: 'EADDRNOTAVAIL' }], [32768, 60999]),
    'bind(s0)=p1 bind(s1)=p1 connect(s1→d0)=EADDRNOTAVAIL');
});

test('CLI: bad options name the option and what was expected', (t) => {
  t.throws(() => parseOptions(['--jobs', 'zero']), { instanceOf: UsageError, message: /--jobs expects an integer from 1 to 64 \(decimal digits only\), got "zero"/ });
  t.throws(() => parseOptions(['--accel', 'hvf']), { instanceOf: UsageError, message: /--accel expects auto, kvm or tcg/ });
  t.throws(() => parseOptions(['--bogus']), { instanceOf: UsageError, message: /bogus/ });
  t.is(parseOptions([]).jobs, os.availableParallelism());
  t.regex(HELP, /--oracle-flip/);
});
