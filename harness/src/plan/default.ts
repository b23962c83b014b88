// The plan: the cells of every case file in a folder (default: the checkout's cases/).
import path from 'node:path';
import type { PlannedCell } from '../core/planned.js';
import { SourceError, SourceErrors } from '../core/source-error.js';
import { expandCases, type ExpandOptions } from '../cases/expand.js';
import { loadCaseDir } from '../cases/load.js';
import { projectRoot } from '../util/paths.js';

/** The checkout's own case folder. */
export const DEFAULT_CASES_DIR = path.join(projectRoot, 'cases');

/** Every cell of the case files in `dir` (refused beyond opts.maxCells). */
export function loadPlan(dir = DEFAULT_CASES_DIR, opts: ExpandOptions = {}): PlannedCell[] {
  return expandCases(loadCaseDir(dir), opts);
}

/** The kernel selftests the chosen cases name (DIR/NAME), without duplicates. */
export function loadSelftests(dir = DEFAULT_CASES_DIR, caseNames: string[] = []): string[] {
  const cases = loadCaseDir(dir).filter((c) => caseNames.length === 0 || caseNames.includes(c.data.name));
  return [...new Set(cases.flatMap((c) => c.data.selftests ?? []))];
}

/** Up to five known selftests of the same folder, those sharing the longest start with `name` first. */
function nearest(name: string, known: ReadonlySet<string>): string[] {
  const dir = name.split('/')[0];
  const common = (k: string): number => { let i = 0; while (i < k.length && k[i] === name[i]) i++; return i; };
  return [...known].filter((k) => k.startsWith(`${dir}/`)).sort((a, b) => common(b) - common(a) || a.localeCompare(b)).slice(0, 5);
}

/**
 * Checks that every selftest the chosen cases name is among `known` (the source's
 * tools/testing/selftests); throws SourceErrors naming file:line:col of each unknown one.
 */
export function checkSelftests(known: ReadonlySet<string>, dir = DEFAULT_CASES_DIR, caseNames: string[] = []): void {
  const errors: SourceError[] = [];
  for (const c of loadCaseDir(dir)) {
    if (caseNames.length && !caseNames.includes(c.data.name)) continue;
    (c.data.selftests ?? []).forEach((name, i) => {
      if (known.has(name)) return;
      const { line, col } = c.at(['selftests', i]);
      const near = nearest(name, known);
      errors.push(new SourceError(c.file, line, col, `selftests[${i}]`, { expected: 'a selftest of the kernel source (tools/testing/selftests/DIR/NAME.c)', found: `${JSON.stringify(name)}${near.length ? ` (nearest: ${near.join(', ')})` : ''}` }));
    });
  }
  if (errors.length) throw new SourceErrors(errors);
}

/** Every cell of the default plan. */
export function defaultPlan(): PlannedCell[] {
  return loadPlan();
}
