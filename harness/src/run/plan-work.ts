// Each kernel's share of the plan: the cells its oracle profile applies to (the rest are NA,
// never sent), less those a resumed run already answered; and whether its VMs may get vCPUs.
import fs from 'node:fs';
import { notApplicable, type ProfileTable } from '../oracle/adapter.js';
import type { PlannedCell } from '../core/planned.js';
import type { RunEvent } from './events.js';
import type { KernelUnderTest } from './kernel-job.js';
import { remainingCells, type PriorRun } from './resume.js';
import type { KernelWork } from './scheduler.js';

/** A kernel's cells to send: those its oracle profile applies to (the rest are NA, never sent), less those a resumed run already answered. */
export function workFor(kernel: KernelUnderTest, cells: PlannedCell[], profiles: ProfileTable, prior: PriorRun | undefined, emit: (e: RunEvent) => void): KernelWork {
  const applicable = cells.filter((c) => notApplicable(c, kernel.profile, profiles) === null);
  const answered = prior?.answered.get(kernel.name);
  const todo = remainingCells(applicable, answered);
  // One line per kernel (the terminal throttles a scope's lines to one every 5 s).
  const said = [
    ...(applicable.length < cells.length ? [`${cells.length - applicable.length} of ${cells.length} cells do not apply to profile ${kernel.profile}: not sent (NA)`] : []),
    ...(answered && todo.length ? [`resuming: ${todo.length} of ${applicable.length} cells still to run`] : []),
    ...(answered && !todo.length ? ['every cell already answered; not booted'] : []),
  ];
  if (said.length) emit({ type: 'progress', scope: kernel.name, message: said.join('; ') });
  return { kernel, cells: todo };
}

/** Whether a kernel's .config (if it has one) says CONFIG_SMP=y. */
export function builtWithSmp(config: string): boolean {
  try { return config !== '' && /^CONFIG_SMP=y$/m.test(fs.readFileSync(config, 'utf8')); } catch { return false; }
}
