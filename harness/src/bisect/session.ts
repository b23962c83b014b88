// Which bisect run directory a step belongs to: one per `git bisect start` (named after the
// time it started, read from the BISECT_START file git writes then), else one per invocation.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { contentKey } from '../util/cache.js';

const run = promisify(execFile);

const stamp = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

/** `bisect-<start time>-<hash>`: the same for every step of one git bisect session in this tree. */
export async function bisectDirName(toplevel: string, now = new Date()): Promise<string> {
  const { stdout } = await run('git', ['-C', toplevel, 'rev-parse', '--git-path', 'BISECT_START']);
  const file = path.resolve(toplevel, stdout.trim());
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) return `bisect-${stamp(now)}-${crypto.randomBytes(3).toString('hex')}`;
  return `bisect-${stamp(st.mtime)}-${contentKey([toplevel, String(st.mtimeMs)]).slice(0, 6)}`;
}

/** The next step's number in a bisect run directory. */
export function nextStepNumber(dir: string): number {
  const file = path.join(dir, 'steps.jsonl');
  if (!fs.existsSync(file)) return 1;
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length + 1;
}
