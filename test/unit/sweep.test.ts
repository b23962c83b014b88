// The start-up sweep kills only QEMU processes named by a harness that is gone.
import { spawn } from 'node:child_process';
import test from 'ava';
import { findOrphans, sweepOrphans } from '../../harness/src/vm/sweep.js';

function fakeQemu(harnessPid: number) {
  // A process whose /proc/PID/cmdline looks like the harness's QEMU: argv[0] qemu-system-x86_64, -name kph:<pid>:…
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', '--', '-name', `kph:${harnessPid}:run:vm`], { argv0: 'qemu-system-x86_64', stdio: 'ignore' });
}

function deadPid(): number {
  for (let p = 3_999_999; ; p--) {
    try { process.kill(p, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ESRCH') return p; }
  }
}

test('an orphan (harness gone) is found and killed; a live harness\'s VM is left alone', async (t) => {
  const dead = deadPid();
  const orphan = fakeQemu(dead);
  const kept = fakeQemu(process.ppid);
  await new Promise((r) => setTimeout(r, 300));
  try {
    const found = findOrphans();
    t.true(found.some((o) => o.pid === orphan.pid && o.harnessPid === dead));
    t.false(found.some((o) => o.pid === kept.pid));
    const gone = new Promise((r) => orphan.on('exit', (_c, s) => r(s)));
    t.true(sweepOrphans().some((o) => o.pid === orphan.pid));
    t.is(await gone, 'SIGKILL');
    t.is(kept.exitCode, null);
  } finally {
    orphan.kill('SIGKILL');
    kept.kill('SIGKILL');
  }
});
