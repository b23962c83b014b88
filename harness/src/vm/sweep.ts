// Start-up sweep: QEMU processes that a killed harness left behind. A process is ours only
// if /proc/PID/cmdline is a qemu-system command named `kph:<harness pid>:…` and that
// harness process no longer exists; nothing else is ever touched.
import fs from 'node:fs';

export interface Orphan { pid: number; harnessPid: number; name: string }

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** QEMU processes named by a harness process that is gone. */
export function findOrphans(procRoot = '/proc'): Orphan[] {
  const found: Orphan[] = [];
  for (const entry of fs.readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try { argv = fs.readFileSync(`${procRoot}/${entry}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (!argv[0] || !/qemu-system-/.test(argv[0].split('/').pop() ?? '')) continue;
    const name = argv[argv.indexOf('-name') + 1] ?? '';
    const m = /^kph:(\d+):/.exec(name);
    if (!m || argv.indexOf('-name') < 0) continue;
    const harnessPid = Number(m[1]);
    if (harnessPid === process.pid || alive(harnessPid)) continue;
    found.push({ pid: Number(entry), harnessPid, name });
  }
  return found;
}

/** Kills every orphan (SIGKILL, re-checking its identity first); returns what was killed. */
export function sweepOrphans(): Orphan[] {
  const killed: Orphan[] = [];
  for (const o of findOrphans()) {
    try {
      const argv = fs.readFileSync(`/proc/${o.pid}/cmdline`, 'utf8');
      if (!argv.includes(o.name)) continue;
      process.kill(o.pid, 'SIGKILL');
      killed.push(o);
    } catch { /* it went away on its own */ }
  }
  return killed;
}
