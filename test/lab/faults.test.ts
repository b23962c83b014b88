// Fault injection (reliability.md, "Faults the test suite should inject"): each test runs the
// real CLI on a few cells of the real kernels and injects one fault through the one seam,
// KPH_FAULT (harness/src/util/fault.ts): the harness hands an emulator fault to the fault QEMU
// that wraps the real one (harness/fault/), a guest fault to the C guest as a kernel
// command-line word (kph.cells_fault=), an oracle fault to its own oracle; then it checks the
// outcomes in results.json, the exit code, and that no QEMU of the run is left. #1 and #13 are in
// e2e.test.ts; #10, #12, #14 and #15 are tested elsewhere.
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import ssh2 from 'ssh2';
import { authorizedKeyCmdline, buildGuestImage } from '../../harness/src/image/build.js';
import { kernelSelection } from '../../harness/src/kernel/select.js';
import { newClientKey } from '../../harness/src/ssh/keys.js';
import { describeExec, GuestSession } from '../../harness/src/ssh/session.js';
import { chooseAccel } from '../../harness/src/vm/accel.js';
import { bootGuest } from '../../harness/src/vm/boot.js';
import { qemuGone, startCli, tempResults, type CliRun } from '../helpers/cli.js';

interface Attempt { attempt: number; outcome: string; reason: string }
interface Rec { kernel: string; guest: string; id: string; outcome: string; reason: string; attempt?: number; flaky?: boolean; attempts?: Attempt[]; crash?: { kind: string; excerpt: string }; expected?: { kind: string } }
interface VmTry { attempt: number; kind: string; accel?: string; kvm?: { enabled: boolean }; ended?: string; detail?: string }
interface Results { exitCode: number; kernels: Array<{ name: string; attempts: VmTry[]; kvm?: { enabled: boolean } }>; records: Rec[] }

const cell = (reuse: string, range: 'one-port' | 'roomy'): string => `commit-repro/reuse=${reuse},range=${range},fam=inet,addr=loopback`;
// The after kernel runs these in this order (commit-repro: 6 cells, reuse=absent ones are n/a there).
const ON_AFTER = [cell('0', 'one-port'), cell('0', 'roomy'), cell('1', 'one-port'), cell('1', 'roomy')];
const BASE = ['--case', 'commit-repro', '--no-ts'];

/** Runs the CLI on the commit-repro cells; returns the run, its results.json and any QEMU it left. */
async function runFault(t: ExecutionContext, args: string[], env: Record<string, string> = {}): Promise<{ run: CliRun; res: Results; ms: number }> {
  const started = Date.now();
  const cli = startCli([...BASE, '--results', tempResults(), ...args], env);
  const run = await cli.done;
  const ms = Date.now() - started;
  t.log(`exit ${run.code} in ${(ms / 1000).toFixed(1)} s`);
  t.deepEqual(await qemuGone(cli.child.pid!, 10_000), [], 'no QEMU of this run is left');
  const file = run.runDir ? path.join(run.runDir, 'results.json') : '';
  const res = file && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) as Results : { exitCode: -1, kernels: [], records: [] };
  return { run, res, ms };
}

const rec = (res: Results, kernel: string, id: string): Rec => {
  const r = res.records.find((x) => x.kernel === kernel && x.guest === 'c' && x.id === id);
  if (!r) throw new Error(`no record for ${kernel} ${id}`);
  return r;
};
const vms = (res: Results, kernel: string): VmTry[] => res.kernels.find((k) => k.name === kernel)?.attempts ?? [];
const fine = (r: Rec): boolean => r.outcome === 'PASS' || r.outcome === 'SKIP' || r.outcome === 'NA';

test.serial('#2 a WARNING during a cell: that cell FAILs with the excerpt, the batch goes on on the same VM', async (t) => {
  const { run, res } = await runFault(t, [], { KPH_FAULT: `after-1:warning@${ON_AFTER[2]}` });
  t.is(run.code, 1, run.stderr.slice(-2000));
  const hit = rec(res, 'after', ON_AFTER[2]);
  t.is(hit.outcome, 'FAIL');
  t.is(hit.crash?.kind, 'warning');
  t.regex(hit.crash?.excerpt ?? '', /WARNING: CPU: 0 PID: \d+ at net\/ipv4\/inet_connection_sock\.c/);
  for (const r of res.records.filter((x) => x !== hit)) t.true(fine(r), `${r.kernel} ${r.id}: ${r.outcome} ${r.reason}`);
  // The VM survived a WARNING: one VM, and the cell after the warned one answered on it.
  t.is(vms(res, 'after').length, 1);
  t.is(rec(res, 'after', ON_AFTER[3]).attempt, 1);
});

test.serial('#2 a panic during a cell: that cell FAILs, the cells not yet answered run on a fresh VM', async (t) => {
  const { run, res } = await runFault(t, [], { KPH_FAULT: `after-1:panic@${ON_AFTER[1]}` });
  t.is(run.code, 1, run.stderr.slice(-2000));
  const hit = rec(res, 'after', ON_AFTER[1]);
  t.is(hit.outcome, 'FAIL');
  t.is(hit.attempt, 1);
  t.regex(hit.crash?.excerpt ?? '', /Kernel panic - not syncing: Fatal exception/);
  for (const r of res.records.filter((x) => x !== hit)) t.true(fine(r), `${r.kernel} ${r.id}: ${r.outcome} ${r.reason}`);
  t.deepEqual(vms(res, 'after').map((v) => v.kind), ['ready', 'ready']);
  t.regex(vms(res, 'after')[0].ended ?? '', /kernel (bug|oops|panic)/);
  // The cells after the crashed one were answered on VM 2; the crashed one was not retried.
  for (const id of ON_AFTER.slice(2)) t.is(rec(res, 'after', id).attempt, 2, id);
  t.falsy(hit.attempts);
});

test.serial('#3 a guest that never opens SSH: boot deadline, bounded boots, every cell MISS', async (t) => {
  // PID 1 is a sleep: the kernel boots fine, no SSH ever answers, nothing crashes.
  const { run, res, ms } = await runFault(t, ['--append', 'rdinit=/bin/sleep 100000', '--timeout-scale', '0.2', '--boot-attempts', '2']);
  t.is(run.code, 3, run.stderr.slice(-2000));
  t.true(res.records.length > 0);
  for (const r of res.records) t.is(r.outcome, r.expected?.kind === 'not-applicable' ? 'NA' : 'MISS', `${r.kernel} ${r.id}: ${r.reason}`);
  for (const k of ['after', 'before']) t.deepEqual(vms(res, k).map((v) => v.kind), ['no-ssh', 'no-ssh'], k);
  t.regex(rec(res, 'after', ON_AFTER[0]).reason, /boot no-ssh/);
  t.true(ms < 60_000, `took ${ms} ms`);
});

test.serial('#4 a guest that hangs mid-command (QMP stop): inactivity timeout, ERROR, the rest on a fresh VM, then PASS (flaky)', async (t) => {
  const { run, res } = await runFault(t, ['--timeout-scale', '0.6'], { KPH_FAULT: `after-1:stop@${ON_AFTER[1]}` });
  t.is(run.code, 0, run.stderr.slice(-2000));
  const hung = rec(res, 'after', ON_AFTER[1]);
  t.is(hung.outcome, 'PASS');
  t.true(hung.flaky);
  t.is(hung.attempt, 2);
  t.is(hung.attempts?.length, 2);
  t.like(hung.attempts?.[0], { attempt: 1, outcome: 'ERROR' });
  t.regex(hung.attempts?.[0].reason ?? '', /timed out \(inactivity\)/);
  t.like(hung.attempts?.[1], { attempt: 2, outcome: 'PASS' });
  t.regex(vms(res, 'after')[0].ended ?? '', /the guest hung/);
  t.is(vms(res, 'after').length, 2);
  for (const id of ON_AFTER.slice(2)) t.is(rec(res, 'after', id).attempt, 2, id);
});

test.serial('#5 SSH drops mid-run (dropbear killed in the guest): ERROR, retried on a fresh VM, then PASS with attempt 2 (flaky)', async (t) => {
  // Only VM after-1 gets the fault word (kph.cells_fault=sshd@…): the C guest SIGKILLs the dropbear serving it before that cell.
  const { run, res } = await runFault(t, [], { KPH_FAULT: `after-1:sshd@${ON_AFTER[2]}` });
  t.is(run.code, 0, run.stderr.slice(-2000));
  const dropped = rec(res, 'after', ON_AFTER[2]);
  t.like(dropped, { outcome: 'PASS', attempt: 2, flaky: true });
  t.like(dropped.attempts?.[0], { attempt: 1, outcome: 'ERROR' });
  t.regex(dropped.attempts?.[0].reason ?? '', /connection lost|no exit status|exited with/);
  t.is(rec(res, 'after', ON_AFTER[0]).attempt, 1, 'cells answered before the drop are kept');
  t.falsy(rec(res, 'after', ON_AFTER[0]).flaky);
  t.is(vms(res, 'after').length, 2);
});

test.serial('#6 a cell\'s process killed by a signal: that cell ERROR naming the signal, never PASS', async (t) => {
  // The word (kph.cells_fault=crash@…) reaches both kernels' VMs, but only after is sent the cell (reuse=0 is NA on before): its child dies by SIGSEGV there.
  const { run, res } = await runFault(t, [], { KPH_FAULT: `crash@${ON_AFTER[0]}` });
  t.is(run.code, 3, run.stderr.slice(-2000));
  const hit = rec(res, 'after', ON_AFTER[0]);
  t.is(hit.outcome, 'ERROR');
  t.regex(hit.reason, /signal 11 \(SIGSEGV\)/);
  t.is(rec(res, 'before', ON_AFTER[0]).outcome, 'NA');
  for (const r of res.records.filter((x) => x.id !== ON_AFTER[0])) t.true(fine(r), `${r.kernel} ${r.id}: ${r.outcome} ${r.reason}`);
});

test.serial('#6 the guest command itself killed by a signal: ERROR on every bounded try, never PASS', async (t) => {
  const { run, res } = await runFault(t, [], { KPH_FAULT: `kill@${ON_AFTER[1]}` });
  t.is(run.code, 3, run.stderr.slice(-2000));
  const hit = rec(res, 'after', ON_AFTER[1]);
  t.is(hit.outcome, 'ERROR');
  t.regex(hit.reason, /killed by signal (SIG)?KILL/);
  t.deepEqual(hit.attempts?.map((a) => a.outcome), ['ERROR', 'ERROR']);
  t.is(rec(res, 'after', ON_AFTER[0]).outcome, 'PASS');
  t.false(res.records.some((r) => r.id === ON_AFTER[1] && r.kernel === 'after' && r.outcome === 'PASS'));
});

test.serial('#7 megabytes on stdout and stderr from a real guest: no deadlock, each stream capped at 8 MiB with a marker', async (t) => {
  const MiB = 1024 * 1024;
  const logDir = tempResults();
  const [kernels, image] = await Promise.all([kernelSelection().build({ logDir }), buildGuestImage({ logDir })]);
  const kernel = kernels.find((k) => k.name === 'after')!;
  const key = newClientKey();
  const boot = await bootGuest({
    spec: { name: 'flood-1', runId: 'faults', runDir: logDir, kernel: kernel.bzImage, initramfs: image.initramfs, cmdline: authorizedKeyCmdline(key.publicKey), memoryMiB: 256, accel: chooseAccel('tcg') },
    hostKey: image.hostKey, privateKey: key.privateKey, deadlineMs: 60_000, keepaliveMs: 30_000,
  });
  if (boot.kind !== 'ready') return t.fail(`boot ${boot.kind}`);
  const pid = boot.vm.pid;
  try {
    const started = Date.now();
    // 10 MiB on each stream at once: a reader that neglects one of them stalls the channel.
    const r = await boot.session.exec('yes o | head -c 10485760 & yes e | head -c 10485760 >&2; wait', { deadlineMs: 180_000, inactivityMs: 30_000 });
    t.log(`${r.kind} in ${Date.now() - started} ms`);
    t.is(r.kind, 'exited', describeExec(r).slice(0, 200));
    for (const [name, text, line] of [['stdout', r.stdout, 'o\n'], ['stderr', r.stderr, 'e\n']] as const) {
      t.regex(text, /\n\[kph: output capped, \d+ more bytes dropped\]\n$/, name);
      const kept = text.slice(0, text.indexOf('\n[kph: output capped'));
      t.is(kept.length, 8 * MiB, name);
      t.is(kept.slice(0, 4), line.repeat(2), name);
      t.is(kept.length + Number(/(\d+) more bytes dropped/.exec(text)?.[1]), 10 * MiB, name);
    }
  } finally {
    boot.session.close();
    await boot.vm.stop(1_000);
  }
  t.false(fs.existsSync(`/proc/${pid}`) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-system'), 'the VM is gone');
});

test.serial('rule 8: a channel that closes with neither exit code nor signal is no-status (an infrastructure error), never exit 0', async (t) => {
  const host = ssh2.utils.generateKeyPairSync('ed25519');
  const server = new ssh2.Server({ hostKeys: [host.private] }, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('error', () => undefined);
    client.on('ready', () => client.on('session', (accept) => {
      accept().on('exec', (acceptExec) => {
        const ch = acceptExec();
        ch.write('{"id":"x","status":"done","results":[]}\n');
        ch.stderr.write('half a story');
        setTimeout(() => ch.close(), 100);
      });
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const key = newClientKey();
  const session = await GuestSession.connect({ port: (server.address() as AddressInfo).port, hostKey: host.public, privateKey: key.privateKey, readyTimeoutMs: 10_000, keepaliveMs: 5_000 });
  const r = await session.exec('cells', { deadlineMs: 20_000, inactivityMs: 10_000 });
  session.close();
  server.close();
  t.is(r.kind, 'no-status', describeExec(r));
  t.regex(describeExec(r), /infrastructure error/);
  t.regex(r.stdout, /"status":"done"/);
  t.is(r.stderr, 'half a story');
});

test.serial('#8 KVM present but unusable (--accel kvm): the VM fails, the retry runs on TCG, recorded, timeouts scaled', async (t) => {
  // Injected on any host: the fault QEMU dies as QEMU does where /dev/kvm opens but KVM cannot
  // run guests (MSR error, SIGABRT) whenever it is asked for -accel kvm; TCG VMs run for real.
  const { run, res, ms } = await runFault(t, ['--accel', 'kvm'], { KPH_FAULT: 'kvm-unusable' });
  t.is(run.code, 0, run.stderr.slice(-2000));
  for (const k of ['after', 'before']) {
    const v = vms(res, k);
    t.is(v.length, 2, k);
    t.like(v[0], { accel: 'kvm', kind: 'qemu-died' });
    t.regex(v[0].detail ?? '', /SIGABRT/);
    t.like(v[1], { accel: 'tcg', kind: 'ready', kvm: { enabled: false } });
    t.false(res.kernels.find((x) => x.name === k)?.kvm?.enabled);
  }
  t.regex(run.stderr, /KVM booted nothing \(qemu-died: QEMU exit SIGABRT.*\); fell back to TCG; timeouts ×3/);
  const console1 = fs.readFileSync(path.join(run.runDir!, 'console-after-1.log'), 'utf8');
  t.regex(console1, /fault qemu: kvm-unusable injected/, 'the fault was injected, not left to the host');
  t.regex(console1, /failed to set MSR 0x10a/, 'QEMU\'s own message is kept');
  t.true(res.records.every(fine));
  t.true(ms < 90_000, `took ${ms} ms`);
});

test.serial('#9 QEMU missing: exit 2 within seconds, the message names the binary', async (t) => {
  const { run, ms } = await runFault(t, [], { KPH_QEMU: '/nonexistent/qemu-system-x86_64' });
  t.is(run.code, 2);
  t.regex(run.stderr, /QEMU binary \/nonexistent\/qemu-system-x86_64 \(set by KPH_QEMU\) does not exist/);
  t.false(/booting/.test(run.stderr + run.stdout), 'nothing was booted');
  t.true(ms < 10_000, `took ${ms} ms`);
});

test.serial('#9 QEMU rejecting a flag: exit 2 within seconds, the message names the flag, no boot timeout', async (t) => {
  const { run, ms } = await runFault(t, [], { KPH_FAULT: 'bad-flag' });
  t.is(run.code, 2, run.stderr.slice(-2000));
  t.regex(run.stderr, /QEMU rejected its command line.*-kph-no-such-flag: invalid option/);
  t.true(ms < 10_000, `took ${ms} ms`);
});

test.serial('#11 the oracle throws for one cell: that cell ERROR as a harness bug, not FAIL; the rest PASS', async (t) => {
  const { run, res } = await runFault(t, [], { KPH_FAULT: `oracle@${ON_AFTER[3]}` });
  t.is(run.code, 3, run.stderr.slice(-2000));
  const hit = res.records.filter((r) => r.id === ON_AFTER[3]);
  t.true(hit.length > 0);
  for (const r of hit) {
    t.is(r.outcome, 'ERROR');
    t.regex(r.reason, /harness bug: the oracle threw: .*KPH_FAULT oracle@: injected/);
  }
  for (const r of res.records.filter((x) => x.id !== ON_AFTER[3])) t.true(fine(r), `${r.kernel} ${r.id}: ${r.outcome}`);
});

test.serial('#16 flaky infrastructure (the first QEMU dies while booting): PASS with attempt 2 recorded', async (t) => {
  const { run, res } = await runFault(t, [], { KPH_FAULT: 'after-1:die-at-boot' });
  t.is(run.code, 0, run.stderr.slice(-2000));
  t.deepEqual(vms(res, 'after').map((v) => v.kind), ['qemu-died', 'ready']);
  t.deepEqual(vms(res, 'before').map((v) => v.kind), ['ready']);
  for (const r of res.records.filter((x) => x.kernel === 'after' && x.outcome !== 'NA')) {
    t.true(fine(r), r.id);
    t.is(r.attempt, 2, r.id);
  }
  t.true(fs.existsSync(path.join(run.runDir!, 'console-after-1.log')) && fs.existsSync(path.join(run.runDir!, 'console-after-2.log')));
});
