// End to end on real kernels in real QEMU: the README's main command, a wrong oracle being
// caught, a kernel that panics at boot, and no QEMU left after Ctrl-C or kill -9.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { chooseAccel } from '../../harness/src/vm/accel.js';
import { qemuGone, runCli, startCli, tempResults, waitFor } from '../helpers/cli.js';

interface Rec { kernel: string; guest: string; id: string; case: string; outcome: string; reason: string; observed?: { status: string; results?: Array<{ ok: boolean; port?: number | null; errno?: string }> } }

interface VmTry { attempt: number; kind: string; accel?: string; kvm?: { enabled: boolean; present: boolean } }
const readResults = (runDir: string): { exitCode: number; complete: boolean; kernels: Array<{ name: string; unameR?: string; bootMs?: number; kvm?: { enabled: boolean; present: boolean }; attempts: VmTry[] }>; accel: { requested: string; reason: string }; records: Rec[] } =>
  JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8'));

test.serial('main job reproduces 4b01a967 on both kernels and matches the oracle', async (t) => {
  const run = await runCli(['--results', tempResults()]);
  t.log(run.stdout.split('\n').slice(-6).join('\n'));
  t.is(run.code, 0, run.stderr.slice(-3000));
  t.truthy(run.runDir);
  const res = readResults(run.runDir!);
  t.true(res.complete);
  t.is(res.exitCode, 0);
  t.deepEqual(res.kernels.map((k) => k.unameR?.replace(/^[\d.]+/, '')), ['-kph-after', '-kph-before']);
  // The accelerator is what the harness probed on this host (the same probe here), and QEMU's
  // own answer (query-kvm) agrees with the accelerator each VM was started with.
  const probed = chooseAccel();
  t.is(res.accel.requested, probed.accel, res.accel.reason);
  t.is(res.accel.reason, probed.reason);
  for (const k of res.kernels) {
    const ran = k.attempts.filter((a) => a.kind === 'ready').at(-1);
    t.truthy(ran?.accel, `${k.name}: the VM that ran the cells records its accelerator`);
    t.is(k.kvm?.enabled, ran?.accel === 'kvm', `${k.name}: query-kvm says ${JSON.stringify(k.kvm)}, the VM was started with ${ran?.accel}`);
    t.deepEqual(k.kvm, ran?.kvm);
  }
  const repro = (kernel: string, reuse: string | number, guest = 'c') =>
    res.records.find((r) => r.kernel === kernel && r.guest === guest && r.case === 'commit-repro' && r.id.includes(`/reuse=${reuse},`) && r.id.includes('range=one-port'))!;
  // before: the sysctl does not exist, and the second bind fails.
  t.is(repro('before', 'absent').outcome, 'PASS');
  t.like(repro('before', 'absent').observed?.results?.[1], { ok: false, errno: 'EADDRINUSE' });
  t.is(repro('before', 0).outcome, 'NA');
  // after, sysctl 0: still fails; sysctl 1: both sockets hold the same port.
  t.like(repro('after', 0).observed?.results?.[1], { ok: false, errno: 'EADDRINUSE' });
  const r1 = repro('after', 1).observed!.results!;
  t.true(r1[0].ok && r1[1].ok);
  t.is(r1[0].port, r1[1].port);
  t.is(repro('after', 'absent').outcome, 'NA');
  // The TypeScript guest sees what the C guest sees.
  for (const kernel of ['before', 'after']) {
    for (const rec of res.records.filter((r) => r.kernel === kernel && r.guest === 'ts')) {
      const c = res.records.find((r) => r.kernel === kernel && r.guest === 'c' && r.id === rec.id)!;
      t.is(rec.outcome, c.outcome, rec.id);
      t.deepEqual(rec.observed?.results?.map((x) => x.ok), c.observed?.results?.map((x) => x.ok), rec.id);
    }
  }
  t.true(res.records.some((r) => r.guest === 'ts' && r.outcome === 'PASS'));
  // The cells mirroring the kernel selftest's 20 combinations agree with its own expectations.
  const mirrored = selftestExpectations();
  t.is(mirrored.length, 20);
  for (const e of mirrored) {
    const rec = res.records.find((r) => r.kernel === 'after' && r.guest === 'c' && r.id === e.id);
    t.truthy(rec, e.id);
    const got = rec!.observed?.results ?? [];
    t.true(got[0]?.ok, `${e.id}: first bind`);
    t.is(got[1]?.ok, e.secondBind, `${e.id}: second bind`);
    if (e.secondListen !== undefined) t.is(got[3]?.ok, e.secondListen, `${e.id}: second listen`);
  }
  // The kernel's own selftest, built from its source and run in each guest, beside the matrix.
  const st = (k: string) => (res.kernels.find((x) => x.name === k) as unknown as { selftests: Array<{ name: string; verdict: string; tests: Array<{ verdict: string }> }> }).selftests[0];
  t.is(st('after').verdict, 'pass');
  t.deepEqual(st('after').tests.map((x) => x.verdict), ['pass', 'pass', 'pass']);
  t.deepEqual(st('before').tests.map((x) => x.verdict), ['pass', 'fail', 'fail']);
  t.regex(fs.readFileSync(path.join(run.runDir!, 'summary.md'), 'utf8'), /\| before \| `net\/reuseaddr_ports_exhausted` \| fail \(exit 1\) \| 1 pass, 2 fail, 3 fail \|/);
  for (const f of ['summary.md', 'results.json', 'kcidb.json', 'junit.xml', 'events.jsonl', 'console-after-1.log', 'console-before-1.log']) {
    t.true(fs.existsSync(path.join(run.runDir!, f)), f);
  }
});

/** reuseaddr_ports_exhausted.c's three tests as (cell id, expected outcome) on the after kernel at ip_autobind_reuse=1. */
function selftestExpectations(): Array<{ id: string; secondBind: boolean; secondListen?: boolean }> {
  const id = (ra: number[], rp: number[], euid: number[]) =>
    `selftest-mirror/reuse=1,range=one-port,fam=inet,addr=loopback,s0.reuseaddr=${!!ra[0]},s0.reuseport=${!!rp[0]},s1.reuseaddr=${!!ra[1]},s1.reuseport=${!!rp[1]},s0.euid=${euid[0]},s1.euid=${euid[1]}`;
  const out: Array<{ id: string; secondBind: boolean; secondListen?: boolean }> = [];
  const bits = [[0, 0], [0, 1], [1, 0], [1, 1]];
  // Test 1, "unreusable": at least one socket lacks SO_REUSEADDR → the second bind fails.
  for (const ra of bits.slice(0, 3)) for (const rp of bits) out.push({ id: id(ra, rp, [0, 0]), secondBind: false });
  // Test 2, same euid: both SO_REUSEADDR → shares, unless both also have SO_REUSEPORT.
  for (const rp of bits) out.push({ id: id([1, 1], rp, [0, 0]), secondBind: !(rp[0] && rp[1]) });
  // Test 3, euids 10 and 20: the second bind succeeds, and only one of them may listen.
  for (const rp of bits) out.push({ id: id([1, 1], rp, [10, 20]), secondBind: true, secondListen: false });
  return out;
}

test.serial('a flipped oracle rule makes the run exit 1 and name the mismatching cell', async (t) => {
  // commit-repro alone: the flipped rule decides its cells; the other ~3,000 would only cost boots' time.
  const run = await runCli(['--results', tempResults(), '--oracle-flip', 'autobindReuseSysctl', '--case', 'commit-repro', '--no-ts']);
  t.is(run.code, 1, run.stderr.slice(-2000));
  t.regex(run.stdout, /FAIL (before|after) c commit-repro\/reuse=/);
});

test.serial('flipping the follow-up rule of the oracle is caught by the follow-up cells', async (t) => {
  const run = await runCli(['--results', tempResults(), '--oracle-flip', 'followupSameEuidConflict', '--case', 'follow-up-euid', '--no-ts']);
  t.is(run.code, 1, run.stderr.slice(-2000));
  t.regex(run.stdout, /FAIL after c follow-up-euid\/reuse=1,range=one-port,fam=inet,addr=loopback,s0\.euid=0,s1\.euid=0: op 2: observed EADDRINUSE, predicted ok/);
  t.notRegex(run.stdout, /FAIL before/, 'the before kernel never runs the relaxed scan, so the flag cannot matter there');
});

test.serial('a case file written by someone else runs without code changes, and the oracle predicts it', async (t) => {
  const dir = fs.mkdtempSync(path.join(tempResults(), 'cases-'));
  fs.writeFileSync(path.join(dir, 'three-way.yaml'), [
    'name: three-way-share',
    'title: three SO_REUSEADDR sockets bind(0) in a one-port range, the third listens, the first two connect',
    'sockets: [{reuseaddr: true}, {reuseaddr: true}, {reuseaddr: true, euid: 1001}]',
    'ops: [bind s0, bind s1, bind s2, listen s2, connect s0 d0, connect s1 d1]',
    'matrix:',
    '  family: [inet, v4mapped]',
    '  s2.reuseport: [false, true]',
    '',
  ].join('\n'));
  const run = await runCli(['--results', tempResults(), '--cases', dir, '--no-ts']);
  t.is(run.code, 0, run.stdout.slice(-2000));
  const res = readResults(run.runDir!);
  t.is(res.records.length, 2 * 12);
  t.true(res.records.every((r) => r.case === 'three-way-share' && (r.outcome === 'PASS' || r.outcome === 'NA')));
  t.is(res.records.filter((r) => r.outcome === 'PASS').length, 12);
});

test.serial('a kernel that panics at boot is a FAIL with the panic excerpt, within the boot deadline', async (t) => {
  const started = Date.now();
  const run = await runCli(['--results', tempResults(), '--append', 'rdinit=/nonexistent', '--no-ts']);
  t.is(run.code, 1);
  t.true(Date.now() - started < 120_000);
  t.regex(run.stdout, /FAIL after c commit-repro.*kernel panic: Kernel panic - not syncing/);
  const res = readResults(run.runDir!);
  // Cells the oracle says do not apply to a kernel were never going to be sent: NA, not FAIL.
  t.true(res.records.every((r) => r.outcome === 'FAIL' || r.outcome === 'NA'));
  t.true(res.records.some((r) => r.outcome === 'FAIL'));
});

for (const sig of ['SIGINT', 'SIGKILL'] as const) {
  test.serial(`no QEMU is left after ${sig} of the harness mid-run`, async (t) => {
    const cli = startCli(['--results', tempResults(), '--no-ts']);
    await waitFor(cli.output, (s) => /booting/.test(s), 600_000);
    await new Promise((r) => setTimeout(r, 1500));
    cli.child.kill(sig);
    const run = await cli.done;
    if (sig === 'SIGINT') t.is(run.code, 130, run.stderr.slice(-1500));
    else t.is(run.signal, 'SIGKILL');
    t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
  });
}

test.serial('a run killed with SIGKILL mid-matrix is readable, marked incomplete, and --resume finishes only the rest', async (t) => {
  const results = tempResults();
  const cli = startCli(['--results', results, '--no-ts']);
  const events = () => {
    const dir = fs.readdirSync(results)[0];
    return dir && fs.existsSync(path.join(results, dir, 'events.jsonl')) ? fs.readFileSync(path.join(results, dir, 'events.jsonl'), 'utf8') : '';
  };
  await waitFor(events, (s) => (s.match(/"cell-observed"/g) ?? []).length >= 50, 600_000);
  cli.child.kill('SIGKILL');
  await cli.done;
  t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
  const runDir = path.join(results, fs.readdirSync(results)[0]);
  t.false(readResults(runDir).complete);
  const resumed = await runCli(['--resume', runDir]);
  t.is(resumed.code, 0, resumed.stderr.slice(-2000));
  const m = /resuming: (\d+) of (\d+) cells still to run/.exec(resumed.stderr);
  t.truthy(m, 'the resumed run says how much is left');
  t.true(Number(m![1]) < Number(m![2]));
  const res = readResults(runDir);
  t.true(res.complete);
  t.true(res.records.length > 3000);
  t.true(res.records.every((r) => r.outcome === 'PASS' || r.outcome === 'NA'));
});
