// A resumed run (--resume DIR): its directory claimed and read before anything else, and its
// earlier answers added back to each kernel's job after the run.
import fs from 'node:fs';
import path from 'node:path';
import { parseOptions } from './cli.js';
import { StorageError } from './util/write.js';
import type { KernelJobResult } from './run/kernel-job.js';
import { readPriorRun, type PriorRun } from './run/resume.js';
import { claimRunDir, RunDirError, type OwnedRunDir } from './run/run-dir.js';

/** The run directory of `--resume DIR` / `--resume=DIR`, or undefined (argv errors are prepare()'s to report). */
export function resumeTarget(argv: string[]): string | undefined {
  try { return parseOptions(argv).resume; } catch { return undefined; }
}

/** Locks the run directory to resume and reads what it observed; throws RunDirError (exit 2) when it cannot be resumed. */
export function claimPriorRun(argv: string[], dir: string): { prior: PriorRun; owned: OwnedRunDir } {
  const extra = argv.filter((a) => a !== '--resume' && a !== dir && !a.startsWith('--resume='));
  if (extra.length) throw new RunDirError(`--resume takes no other options (the run's own are in ${path.join(dir, 'run.json')}); got ${extra.join(' ')}`);
  const runDir = path.resolve(dir);
  if (!fs.existsSync(path.join(runDir, 'run.json'))) throw new RunDirError(`--resume ${dir}: not a run directory (no run.json in ${runDir})`);
  // The lock comes first: a live run is refused before anything of it is read or touched.
  const owned = claimRunDir(runDir);
  try {
    const prior = readPriorRun(runDir);
    if (owned.tookOverFrom) process.stderr.write(`kph: ${runDir}: took over the lock of ${owned.tookOverFrom}, which is gone\n`);
    for (const w of prior.skipped) process.stderr.write(`kph: warning: ${w}\n`);
    return { prior, owned };
  } catch (e) {
    owned.release();
    throw new RunDirError((e as Error).message);
  }
}

/** Adds a resumed run's earlier answers to a kernel's job (each keeps the VM that gave it; earlier VMs come first). */
export function withPriorAnswers(job: KernelJobResult, prior: PriorRun | undefined, signal: AbortSignal): KernelJobResult {
  const answered = prior?.answered.get(job.kernel.name);
  if (answered) {
    if (job.attempts.length === 0) job.unameR ??= job.kernel.release;
    const answeredOn = prior?.answeredOn.get(job.kernel.name);
    job.answeredOn ??= { c: new Map(), ts: new Map() };
    for (const g of ['c', 'ts'] as const) {
      for (const [id, rep] of answered[g]) {
        if (job.reports[g].has(id)) continue;
        job.reports[g].set(id, rep);
        const on = answeredOn?.[g].get(id);
        if (on !== undefined) job.answeredOn[g].set(id, on);
      }
    }
    job.attempts = [...(prior?.boots.get(job.kernel.name) ?? []), ...job.attempts];
  }
  // Stopped because evidence could not be written: say so rather than "interrupted".
  if (job.infraError && signal.reason instanceof StorageError) job.infraError = `not run: the run stopped because it ${signal.reason.message}`;
  return job;
}
