// The run directory: the results folder is created one level at a time (Node's recursive
// mkdir spins forever on a path like /proc/x, where mkdir answers ENOENT under an existing
// parent), checked to be a writable folder, and each run directory is locked by the process
// that owns it (run/lock.ts). Problems with the folder the user named are RunDirError (exit 2).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.js';
import { describeOwner, lockRunDir } from './lock.js';

/** The results folder or run directory the user named cannot be used (input wrong: exit 2). */
export class RunDirError extends InputError {
  override name = 'RunDirError';
}

const errText = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message.replace(/^\w+: /, '').replace(/, \w+ '.*'$/, '')}` : String(e);
};

/** Creates `dir` and its missing parents one level at a time; throws RunDirError naming the level that failed. */
export function makeDirs(dir: string, what: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try { st = fs.statSync(cur); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a parent is a file; walking up finds it and says so.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new RunDirError(`${what} ${dir}: cannot use ${cur} (${errText(e)})`);
    }
    if (st) {
      if (!st.isDirectory()) throw new RunDirError(`${what} ${dir}: ${cur} exists and is not a folder`);
      break;
    }
    missing.unshift(cur);
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const d of missing) {
    try { fs.mkdirSync(d); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw new RunDirError(`${what} ${dir}: cannot create the folder ${d} (${errText(e)})`);
    }
  }
}

/** Throws RunDirError unless `dir` is a folder this process can create files in. */
function checkWritable(dir: string, what: string): void {
  try { fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK); } catch (e) {
    throw new RunDirError(`${what} ${dir}: the folder is not writable (${errText(e)})`);
  }
}

/** A run directory this process owns until `release` (or its exit). */
export interface OwnedRunDir { runDir: string; release: () => void }

/** Creates the results folder (if needed) and a new, locked run directory `runId` in it. */
export function createRunDir(folder: string, runId: string, what: string): OwnedRunDir {
  makeDirs(folder, what);
  const root = path.resolve(folder);
  checkWritable(root, what);
  const runDir = path.join(root, runId);
  try { fs.mkdirSync(runDir); } catch (e) {
    throw new RunDirError(`${what} ${root}: cannot create the run directory ${runDir} (${errText(e)})`);
  }
  const lock = lockRunDir(runDir);
  if (lock.kind === 'busy') throw new RunDirError(`${runDir} is already owned by ${describeOwner(lock.owner)}`);
  return { runDir, release: lock.release };
}

/** Locks an existing run directory for `--resume`; a live owner is refused (exit 2) with its PID. */
export function claimRunDir(runDir: string): OwnedRunDir & { tookOverFrom?: string } {
  checkWritable(runDir, '--resume');
  const lock = lockRunDir(runDir);
  if (lock.kind === 'busy') {
    throw new RunDirError(`--resume ${runDir}: the run is still going, owned by ${describeOwner(lock.owner)}; wait for it to end or stop it (kill ${lock.owner.pid}) first (lock: ${lock.file})`);
  }
  return { runDir, release: lock.release, ...(lock.staleOwner ? { tookOverFrom: describeOwner(lock.staleOwner) } : {}) };
}

/** A run id that sorts by time and never collides: 20261126-093100-ab12cd. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}
