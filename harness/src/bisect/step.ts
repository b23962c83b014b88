// One bisect step's state, shared by its parts: the options and cells, the commit under test,
// the bisect directory and the step's folder, the job context, the step record; how a step
// ends (finish) and what aborts the whole bisect (AbortBisect).
import path from 'node:path';
import type { GitSource } from '../kernel/git.js';
import { InputError } from '../core/errors.js';
import type { PlannedCell } from '../core/planned.js';
import type { JobContext } from '../run/kernel-job.js';
import { appendStep, writeSummary, type StepRecord } from './log.js';
import type { BisectOptions } from './options.js';

/** A problem of the setup that would be the same on every commit: abort the bisect (exit 200). */
export class AbortBisect extends InputError {
  override name = 'AbortBisect';
  constructor(message: string) { super(message); }
}

export const say = (s: string): void => { process.stderr.write(`kph bisect: ${s}\n`); };

export interface Step {
  opts: BisectOptions;
  cells: PlannedCell[];
  head: GitSource;
  dir: string;
  stepDir: string;
  ctx: JobContext;
  signal: AbortSignal;
  record: StepRecord;
  t0: number;
}

/** Completes the step record, appends it to steps.jsonl, rewrites summary.md, says the verdict. */
export async function finish(step: Step, end: Pick<StepRecord, 'verdict' | 'why' | 'exitCode'> & Partial<Pick<StepRecord, 'confidence' | 'split'>>): Promise<number> {
  const r = step.record;
  Object.assign(r, end, { seconds: (Date.now() - step.t0) / 1000 });
  appendStep(step.dir, r);
  await writeSummary(step.dir);
  say(`${r.commit.slice(0, 12)} ${r.subject}: ${r.verdict} (exit ${r.exitCode}): ${r.why}${r.confidence !== undefined ? `; confidence ${r.confidence.toFixed(2)}` : ''} → ${path.join(step.dir, 'summary.md')}`);
  return r.exitCode;
}
