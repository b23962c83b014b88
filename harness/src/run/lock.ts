// The run-directory lock: one process owns a run directory at a time. The owner's PID, host,
// process start time and command line are in RUN_DIR/run.lock, created atomically (a complete
// file is hard-linked into place, so nobody ever reads a half-written lock). A lock whose owner
// is gone (no such PID on this host, or the PID now belongs to another process) is stale and
// is taken over; a live one is refused, naming its owner. The lock is removed when its owner
// releases it or exits.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const LOCK_FILE = 'run.lock';

/** Who owns a run directory. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the process in clock ticks since boot (/proc/PID/stat field 22): tells a reused PID apart. */
  startTicks?: string;
  since: string;
  argv: string[];
}

export type LockAttempt =
  | { kind: 'taken'; release: () => void; staleOwner?: LockOwner }
  | { kind: 'busy'; owner: LockOwner; file: string };

/** The process start time of `pid` (field 22 of /proc/PID/stat) and whether it is a zombie; undefined when there is no such process. */
function procStat(pid: number): { startTicks: string; zombie: boolean } | undefined {
  let stat: string;
  try { stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { startTicks: rest[19], zombie: rest[0] === 'Z' || rest[0] === 'X' };
}

/** This process as a lock owner. */
function me(): LockOwner {
  return { pid: process.pid, host: os.hostname(), startTicks: procStat(process.pid)?.startTicks, since: new Date().toISOString(), argv: process.argv.slice(1) };
}

/** Whether the owner still runs. An owner on another host cannot be checked and counts as alive. */
export function ownerAlive(o: LockOwner): boolean {
  if (o.host !== os.hostname()) return true;
  const st = procStat(o.pid);
  if (!st || st.zombie) return false;
  return o.startTicks === undefined || st.startTicks === o.startTicks;
}

/** Reads a lock file; undefined when it is absent, or not a lock this harness wrote. */
function readOwner(file: string): { text: string; owner?: LockOwner } | undefined {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const o = JSON.parse(text) as Partial<LockOwner> | null;
    if (o && typeof o.pid === 'number' && typeof o.host === 'string') return { text, owner: { since: '?', argv: [], ...o } as LockOwner };
  } catch { /* garbage: a lock nobody can own */ }
  return { text };
}

/** Creates `file` with `text` only if it does not exist, never visible half-written; false when it exists. */
function createExclusive(file: string, text: string): boolean {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`);
  fs.writeFileSync(tmp, text, { flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    // A filesystem without hard links: O_EXCL create (a reader may briefly see it empty).
    try { fs.writeFileSync(file, text, { flag: 'wx' }); return true; } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e2;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Removes a stale lock whose text is `seen`; leaves a lock another process took meanwhile. */
function removeStale(file: string, seen: string): void {
  const aside = `${file}.stale-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try { fs.renameSync(file, aside); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = fs.readFileSync(aside, 'utf8');
  // Someone replaced the stale lock between our read and our rename: give theirs back.
  if (moved !== seen) { try { fs.linkSync(aside, file); } catch { /* a third process holds it now */ } }
  fs.rmSync(aside, { force: true });
}

/** Lock files this process holds → the text it wrote in each. */
const held = new Map<string, string>();
let exitHook = false;

/** Takes the lock of `runDir` for this process, or says who holds it. */
export function lockRunDir(runDir: string): LockAttempt {
  const file = path.join(runDir, LOCK_FILE);
  const mine = me();
  const text = JSON.stringify(mine, null, 2) + '\n';
  let staleOwner: LockOwner | undefined;
  for (let tries = 0; tries < 10; tries++) {
    if (createExclusive(file, text)) {
      held.set(file, text);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => { for (const f of [...held.keys()]) releaseFile(f); });
      }
      return { kind: 'taken', release: () => releaseFile(file), ...(staleOwner ? { staleOwner } : {}) };
    }
    const cur = readOwner(file);
    if (!cur) continue; // released meanwhile
    if (cur.owner && cur.owner.pid === mine.pid && cur.owner.host === mine.host && cur.owner.startTicks === mine.startTicks) {
      throw new Error(`${file}: this process already holds the lock`);
    }
    if (cur.owner && ownerAlive(cur.owner)) return { kind: 'busy', owner: cur.owner, file };
    staleOwner = cur.owner;
    removeStale(file, cur.text);
  }
  throw new Error(`${file}: could not take the lock (it kept changing hands)`);
}

/** Removes the lock if it is still the one this process wrote. */
function releaseFile(file: string): void {
  const text = held.get(file);
  if (text === undefined) return;
  held.delete(file);
  try {
    if (fs.readFileSync(file, 'utf8') === text) fs.rmSync(file, { force: true });
  } catch { /* already gone */ }
}

/** One line naming a lock's owner, for error messages. */
export function describeOwner(o: LockOwner): string {
  const cmd = o.argv.length ? ` (${o.argv.join(' ')})` : '';
  return `PID ${o.pid} on ${o.host}, since ${o.since}${cmd}`;
}
